"""FreeBSD pciconf dumps with hostile numbers, characters and shapes: a HostDump or a DumpError, nothing else.

Integers over Python's 4,300-digit limit in the device line and sizes of 2**64 or more used to end
`barcheck host` with exit 70; they are one-line input errors naming the file and line.  The fuzz
test builds each input from one 64-bit recipe (few draws, so 10,000 inputs run in seconds): device
lines and bar lines put together field by field from pools of valid, boundary and hostile values,
then cut, re-lined or sprinkled with control characters.
"""

from __future__ import annotations

import io
import random
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from barcheck.cli.host import main
from barcheck.host.render import render_json, render_text
from barcheck.host.report import check_host
from barcheck.host.dump import DumpError, HostDump, pciconf
from model.policies import get_policy

PATH = "/var/tmp/pciconf dumps/hostile.txt"
UNSAFE_CHAR = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
MAX_MESSAGE_CHARS = 600
HUGE = "9" * 5000
POLICIES = [get_policy("linux-4.7"), get_policy("linux-4.8")]

HOSTILE_SHARE = 0.08
"""How often a field takes a hostile value: enough that a third of the dumps still parse."""
NAMES = (("none0", "ehci0", "pcib6", "x", "vgapci0"), ("a b", "\x1b[2J\x1b[Hevil", "dev\r", "n\u202eame", "\x9b31m"))
ADDRESS_NUMBERS = ("0", "1", "7", "8", "31", "32", "255", "256", "65530", "65535", "65536", "4294967296",
                   "18446744073709551616", HUGE, "9" * 4301, "0" * 5000 + "1", "\u0663", "", "-1", "1e3", "0x10")
REGISTERS = (("10", "14", "18", "1c", "20", "24", "30", "38"), ("0", "11", "ff", "1" * 5000, "f" * 17, ""))
TYPES = (("Memory", "Prefetchable Memory", "I/O Port"), ("memory", "Mem\x1bory", ""))
WIDTHS = (("32", "64"), ("16", "0", HUGE, ""))
BASES = (("0", "0x0", "0xfbcfb800", "0xfbcfb000", "0x4000000000", "0x8000000000000000", "0xfffffffffffff000",
          "0xffffffffffffffff", "4096", "18446744073709551615", "0x" + "0" * 5000 + "1"),
         ("0x10000000000000000", "0x" + "f" * 5000, "18446744073709551616", HUGE, "0x", "-0x1"))
SIZES = (("0", "1", "16", "1024", "2048", "4096", "65536", "9223372036854775808", "18446744073709551615",
          "0" * 5000 + "4096"),
         ("18446744073709551616", "36893488147419103232", HUGE, "9" * 4301, "-1", ""))
STATES = (("enabled", "disabled"), ("enabled\r", "on", ""))
OTHER_LINES = ("    vendor     = 'Intel Corporation'", "    class      = serial bus",
               "    cap 01[50] = powerspec 2  supports D0 D3  current D0", "    device     = '\x1b]0;owned\x07'",
               "", "\t", "garbage before anything")
CONTROL = ("\x1b[2J", "\r", "\n", "\x00", "\x7f", "\x85", "\u2028", "\u202e", "\x08" * 4, "\t", "\ufeff", "\udcff")


def pick(rng: random.Random, pools: tuple[tuple[str, ...], tuple[str, ...]]) -> str:
    return rng.choice(pools[1] if rng.random() < HOSTILE_SHARE else pools[0])


def header(rng: random.Random) -> str:
    numbers = [rng.choice(ADDRESS_NUMBERS) if rng.random() < HOSTILE_SHARE / 2 else str(rng.randrange(limit))
               for limit in (4, 256, 32, 8)]
    tail = rng.choice(("\tclass=0x0c0320 card=0x83e61043 chip=0x27cc8086 rev=0x02 hdr=0x00", "", "\t", ":"))
    return f"{pick(rng, NAMES)}@pci{':'.join(numbers)}:{tail}"


def bar_line(rng: random.Random) -> str:
    fields = [pick(rng, pools) for pools in (REGISTERS, TYPES, WIDTHS, BASES, SIZES, STATES)]
    line = "    bar   [{}] = type {}, range {}, base {}, size {}, {}".format(*fields)
    if rng.random() < HOSTILE_SHARE:
        line = line.replace(", ", ",", rng.randrange(1, 5))
    return line


def document(recipe: int) -> str:
    """One pciconf dump from one number: devices with bar lines, then a few structural edits."""
    rng = random.Random(recipe)
    lines: list[str] = []
    for _ in range(rng.randrange(1, 5)):
        lines.append(header(rng))
        for _ in range(rng.randrange(0, 5)):
            lines.append(bar_line(rng) if rng.random() < 0.9 else rng.choice(OTHER_LINES))
        lines.append("")
    for _ in range(rng.choice((0, 0, 1, 2))):
        lines = edit(rng, lines)
    return "\r\n".join(lines) if rng.random() < 0.1 else "\n".join(lines)


def edit(rng: random.Random, lines: list[str]) -> list[str]:
    at = rng.randrange(len(lines)) if lines else 0
    op = rng.randrange(6)
    if op == 0:
        return lines[:at]
    if op == 1 and lines:
        cut = rng.randrange(len(lines[at]) + 1)
        lines[at] = lines[at][:cut] + rng.choice(CONTROL) + lines[at][cut:]
    elif op == 2 and lines:
        lines[at] = lines[at][:rng.randrange(len(lines[at]) + 1)]
    elif op == 3:
        lines[at:at] = lines[at:at + rng.randrange(1, 4)] * rng.choice((1, 30))
    elif op == 4:
        lines.insert(at, rng.choice(OTHER_LINES))
    elif lines:
        del lines[at]
    return lines


def parse_or_error(text: str) -> HostDump | None:
    try:
        dump = pciconf.parse(text, PATH)
    except DumpError as err:
        message = str(err)
        assert message.startswith(f"{PATH}:"), message[:200]
        assert not UNSAFE_CHAR.search(message), repr(message[:200])
        assert len(message) <= MAX_MESSAGE_CHARS, f"{len(message)} characters: {message[:200]!r}"
        return None
    assert isinstance(dump, HostDump)
    for warning in dump.warnings:
        assert not UNSAFE_CHAR.search(warning) and len(warning) <= MAX_MESSAGE_CHARS, repr(warning[:200])
    return dump


FUZZ = settings(max_examples=10_000, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
RECIPE = st.integers(0, (1 << 64) - 1)


def test_ten_thousand_hostile_dumps_parse_or_raise_dump_error():
    outcomes = {"parsed": 0, "refused": 0}

    @FUZZ
    @given(recipe=RECIPE)
    def run(recipe: int) -> None:
        outcomes["parsed" if parse_or_error(document(recipe)) is not None else "refused"] += 1

    run()
    assert sum(outcomes.values()) >= 10_000
    assert min(outcomes.values()) >= 1_000, outcomes


@settings(FUZZ, max_examples=300)
@given(recipe=RECIPE)
def test_what_a_hostile_dump_parses_into_survives_the_host_check(recipe):
    dump = parse_or_error(document(recipe))
    if dump is None:
        return
    report = check_host(dump, [4096, 65536], POLICIES, "linux-4.8")
    assert len(report.bars) == len(dump.memory_bars())
    render_json(report)
    for line in render_text(report).splitlines():
        assert not UNSAFE_CHAR.search(line), repr(line[:200])


def test_the_recipes_reach_every_kind_of_line():
    """The generator is not trivially refused: valid devices and BARs come out, as well as hostile ones."""
    dumps = [parse_or_error(document(recipe)) for recipe in range(400)]
    parsed = [dump for dump in dumps if dump is not None]
    assert len(parsed) >= 100
    assert sum(len(dump.memory_bars()) for dump in parsed) >= 100
    assert any(dump.warnings for dump in parsed)


def run_host(tmp_path, text: str) -> tuple[int, str, str]:
    path = tmp_path / "hostile.pciconf.txt"
    path.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    return main(["host", "--pciconf", str(path)], out, err), out.getvalue(), err.getvalue()


def device(domain: str = "0", bus: str = "0", slot: str = "29", function: str = "7") -> str:
    return f"ehci0@pci{domain}:{bus}:{slot}:{function}:\tclass=0x0c0320 rev=0x02 hdr=0x00\n"


BAR = "    bar   [10] = type Memory, range {width}, base {base}, size {size}, enabled\n"


def test_integers_over_the_digit_limit_in_a_device_line_are_an_input_error(tmp_path):
    for fields, what in (((HUGE,), "PCI domain"), (("0", "9" * 4301), "PCI bus"), (("0", "0", HUGE), "PCI slot"),
                         (("0", "0", "0", "1" + "0" * 4400), "PCI function")):
        text = "none0@pci0:0:0:0:\n" + device(*fields) + BAR.format(width=32, base="0x1000", size=4096)
        code, out, err = run_host(tmp_path, text)
        assert code == 2 and out == "", err
        assert err.count("\n") == 1 and err.startswith("barcheck: error: ") and ":2: " + what in err, err
        assert len(err) < 300 and "characters)" in err


def test_sizes_of_2_to_the_64_or_more_are_an_input_error_naming_the_line(tmp_path):
    for size in ("18446744073709551616", "36893488147419103232", HUGE):
        code, out, err = run_host(tmp_path, device() + BAR.format(width=64, base="0", size=size))
        assert code == 2 and out == "", err
        assert err.count("\n") == 1 and "hostile.pciconf.txt:2: bar [10] size" in err, err
    code, _, err = run_host(tmp_path, device() + BAR.format(width=64, base="0x10000000000000000", size=4096))
    assert code == 2 and ":2: bar base" in err and "64 bits" in err, err


def test_the_largest_sizes_and_addresses_that_fit_are_still_read(tmp_path):
    text = (device() + BAR.format(width=64, base="0x8000000000000000", size="9223372036854775808")
            + device(domain="1") + BAR.format(width=64, base="0xfffffffffffff000", size="0" * 5000 + "4096"))
    code, out, err = run_host(tmp_path, text)
    assert code == 0 and err == "", err
    assert "0000:00:1d.7 BAR 0  [0x8000000000000000-0xffffffffffffffff]" in out
    assert "0001:00:1d.7 BAR 0  [0xfffffffffffff000-0xffffffffffffffff] 4K" in out
