"""Robustness of the dump parsers and of the host check, by mutating real dumps (hypothesis).

A mutated dump must either parse into a HostDump or raise DumpError naming the file; any
other exception is a bug.  Whatever parses must go through check_host() and the renderers.
The hostile section tries 10,000 inputs per parser family (lspci, iomem, sysfs, dmesg; pciconf
has its own hostile tests): numbers beyond 64 bits, sizes of 2**64, control characters, cut and
overlong lines, deep indentation, empty and binary input.  What parses must be sound (every
range within 64 bits, every name and warning free of control characters) and every refusal one
short clean line.  Runs are derandomized (the same examples every run) and keep no example
database.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from barcheck.host.render import render_json, render_text
from barcheck.host.report import check_host
from barcheck.host.dump import FORMATS, DumpError, HostDump, load
from barcheck.host.dump import PARSERS
from barcheck.host.dump.common import MAX_ADDRESS
from model.policies import get_policy

DATA = Path(__file__).resolve().parent / "data" / "hostdumps"
X86 = DATA / "qemu" / "6.1.0-56-amd64"
PPC = DATA / "qemu" / "6.12.107+deb13-powerpc64le-64k"
SMALL = DATA / "small"
DEV_SET = Path(__file__).resolve().parents[2] / "shared" / "data" / "pciconf-dev"
DEV_FILES = ("04_Desktop_AT5NM10T-I_7C26A8B81E.pciconf.txt", "16_Server_Precision_7820_Tower_C8DDB7DAE6.pciconf.txt")

SOURCES = {
    "lspci": [X86 / "lspci-vvv.txt", PPC / "lspci-vvD.txt", X86 / "lspci-vvvnn.txt", SMALL / "lspci-features.txt",
              SMALL / "lspci-domains.txt"],
    "pciconf": [SMALL / "pciconf-mixed.txt"] + [DEV_SET / name for name in DEV_FILES if (DEV_SET / name).is_file()],
    "iomem": [X86 / "iomem-root.txt", PPC / "iomem-root.txt", SMALL / "iomem-nested.txt", X86 / "iomem-user.txt"],
    "sysfs": [X86 / "sysfs-resource.txt", PPC / "sysfs-resource.txt", SMALL / "sysfs-head.txt",
              SMALL / "sysfs-grep.txt"],
    "dmesg": [X86 / "dmesg.txt", PPC / "dmesg.txt", SMALL / "dmesg-old.txt", SMALL / "dmesg-journal.txt"],
}
TEXTS = {fmt: [path.read_text() for path in paths] for fmt, paths in SOURCES.items()}
ALL_TEXTS = [text for texts in TEXTS.values() for text in texts]
PATH = "/var/tmp/host dumps/fuzzed.txt"
PAGES = [4096, 65536]
POLICIES = [get_policy("linux-4.7"), get_policy("linux-4.8")]
HINT = "linux-4.8"

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])
TRUNCATE = settings(FUZZ, max_examples=150)

JUNK_CHARS = st.sampled_from("0123456789abcdefABCDEFxXg-:.[]() \t=@/")
GARBAGE = st.one_of(st.text(max_size=24),
                    st.binary(min_size=1, max_size=24).map(lambda b: b.decode("utf-8", errors="replace")),
                    st.text(JUNK_CHARS, min_size=1, max_size=24))


def parse_or_error(fmt: str, text: str, path: str = PATH) -> HostDump | None:
    """Parse; None when the parser refused the dump with a DumpError naming the file."""
    try:
        dump = PARSERS[fmt](text, path)
    except DumpError as err:
        assert str(err).startswith(f"{path}:"), f"DumpError without the file name: {err}"
        return None
    assert isinstance(dump, HostDump)
    return dump


def check_survives(dump: HostDump) -> None:
    report = check_host(dump, PAGES, POLICIES, HINT)
    assert len(report.bars) == len(dump.memory_bars())
    assert all(len(view.pages) == len(PAGES) for view in report.bars)
    render_json(report)
    render_text(report)


@st.composite
def mutation(draw, text: str) -> str:
    lines = text.split("\n")
    count = len(lines)
    op = draw(st.sampled_from(["truncate", "delete", "duplicate", "shuffle", "garbage", "hexdigits", "mix",
                               "huge"]))
    if op == "truncate":
        return text[:draw(st.integers(0, len(text)))]
    if op == "garbage":
        at = draw(st.integers(0, len(text)))
        return text[:at] + draw(GARBAGE) + text[at:]
    if op == "hexdigits":
        chars = list(text)
        for _ in range(draw(st.integers(1, 12))):
            at = draw(st.integers(0, max(0, len(chars) - 1)))
            if chars and chars[at] in "0123456789abcdefABCDEF":
                chars[at] = draw(JUNK_CHARS)
        return "".join(chars)
    if op == "huge":
        runs = list(re.finditer(r"[0-9a-fA-F]{4,}", text))
        if not runs:
            return text
        run = runs[draw(st.integers(0, len(runs) - 1))]
        return text[:run.start()] + draw(st.sampled_from(["f" * 17, "f" * 40, "0", "1" * 16])) + text[run.end():]
    first = draw(st.integers(0, count - 1))
    size = draw(st.integers(1, 8))
    if op == "delete":
        del lines[first:first + size]
    elif op == "duplicate":
        lines[first:first] = lines[first:first + size]
    elif op == "shuffle":
        lines[first:first + size] = draw(st.permutations(lines[first:first + size]))
    else:  # mix: a slice of another dump, of any format, lands in this one
        other = draw(st.sampled_from(ALL_TEXTS)).split("\n")
        start = draw(st.integers(0, len(other) - 1))
        lines[first:first] = other[start:start + draw(st.integers(1, 20))]
    return "\n".join(lines)


@st.composite
def mutated(draw, fmt: str) -> str:
    text = draw(st.sampled_from(TEXTS[fmt]))
    for _ in range(draw(st.integers(1, 3))):
        text = draw(mutation(text))
    return text


@pytest.mark.parametrize("fmt", FORMATS)
@FUZZ
@given(data=st.data())
def test_mutated_dump_parses_or_raises_dump_error(fmt, data):
    dump = parse_or_error(fmt, data.draw(mutated(fmt), label="text"))
    if dump is not None:
        check_survives(dump)


@pytest.mark.parametrize("fmt", FORMATS)
@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_another_format_read_as_this_one(fmt, data):
    """Feeding a dump to the wrong parser (`--lspci iomem.txt`) is refused or read, never a crash."""
    text = data.draw(st.sampled_from([t for other, texts in TEXTS.items() if other != fmt for t in texts]))
    if data.draw(st.booleans(), label="mutate"):
        text = data.draw(mutation(text))
    dump = parse_or_error(fmt, text)
    if dump is not None:
        check_survives(dump)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzzed-files")


@pytest.mark.parametrize("fmt", FORMATS)
@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_mutated_bytes_on_disk_load_or_raise(scratch, fmt, data):
    """Through load(): invalid UTF-8, NUL bytes and CRLF line ends as well."""
    text = data.draw(mutated(fmt))
    raw = text.encode("utf-8", errors="surrogatepass")
    extra = data.draw(st.sampled_from([b"", b"\x00", b"\xff\xfe", b"\r\n"]), label="bytes")
    at = data.draw(st.integers(0, len(raw)), label="at")
    path = scratch / f"{fmt} dump.txt"
    path.write_bytes(raw[:at] + extra + raw[at:])
    try:
        dump = load(fmt, str(path))
    except DumpError as err:
        assert str(err).startswith(f"{path}:"), str(err)
        if extra == b"\x00":
            assert "NUL byte" in str(err)
        return
    assert extra != b"\x00"
    check_survives(dump)


# --- truncation: a dump cut short keeps what it completely shows -------------------------------------------------

HEADERS = {
    "lspci": re.compile(r"^(?:([0-9a-f]{4,8}):)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7]) "),
    "pciconf": re.compile(r"^\S+@pci(\d+):(\d+):(\d+):(\d+):"),
    "sysfs": re.compile(r"^/sys/bus/pci/devices/([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])/resource:"),
}


def device_blocks(fmt: str, text: str) -> list[tuple[str, int, int]]:
    """(device, first line, last line) of each device's lines, numbered from 1."""
    starts: list[tuple[str, int]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        match = HEADERS[fmt].match(line)
        if not match:
            continue
        if fmt == "pciconf":
            domain, bus, slot, function = map(int, match.groups())
        else:
            domain, bus, slot, function = (int(g or "0", 16) for g in match.groups())
        device = f"{domain:04x}:{bus:02x}:{slot:02x}.{function}"
        if not starts or starts[-1][0] != device:
            starts.append((device, number))
    total = text.count("\n") + 1
    return [(device, first, (starts[i + 1][1] - 1) if i + 1 < len(starts) else total)
            for i, (device, first) in enumerate(starts)]


def assert_truncation_keeps_complete_devices(fmt: str, text: str, cut: int) -> None:
    full = PARSERS[fmt](text, PATH)
    cut_line = text[:cut].count("\n") + 1
    blocks = device_blocks(fmt, text)
    complete = {device for device, _, last in blocks if last < cut_line or cut == len(text)}
    partial = {device for device, first, last in blocks if first <= cut_line <= last} - complete
    try:
        short = PARSERS[fmt](text[:cut], PATH)
    except DumpError as err:
        assert str(err).startswith(f"{PATH}:")
        assert not complete, f"{err} although {len(complete)} device(s) are complete"
        return
    for device in complete:
        assert [b for b in short.bars if b.device == device] == [b for b in full.bars if b.device == device], device
    assert {b.device for b in short.bars} <= complete | partial
    assert len(short.warnings) <= 1, short.warnings
    for warning in short.warnings:
        assert any(f" {device}: " in warning for device in partial), (warning, partial)


@pytest.mark.parametrize("source", [X86 / "lspci-vvv.txt", PPC / "lspci-vvD.txt", SMALL / "lspci-features.txt"],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
@TRUNCATE
@given(data=st.data())
def test_lspci_truncated_keeps_complete_devices(source, data):
    text = source.read_text()
    assert_truncation_keeps_complete_devices("lspci", text, data.draw(st.integers(0, len(text)), label="cut"))


@pytest.mark.parametrize("name", ["pciconf-mixed.txt"] + list(DEV_FILES))
@TRUNCATE
@given(data=st.data())
def test_pciconf_truncated_keeps_complete_devices(name, data):
    source = SMALL / name if name == "pciconf-mixed.txt" else DEV_SET / name
    if not source.is_file():
        pytest.skip(f"the pciconf development set {DEV_SET} is absent")
    text = source.read_text()
    assert_truncation_keeps_complete_devices("pciconf", text, data.draw(st.integers(0, len(text)), label="cut"))


@TRUNCATE
@given(data=st.data())
def test_sysfs_grep_truncated_keeps_complete_devices(data):
    text = (X86 / "sysfs-resource.txt").read_text()
    assert_truncation_keeps_complete_devices("sysfs", text, data.draw(st.integers(0, len(text)), label="cut"))


@TRUNCATE
@given(data=st.data())
def test_sysfs_grep_truncated_at_a_line_end_keeps_complete_devices(data):
    """Cut after whole lines only (a partial line is the xfail above): never an error, at most one warning."""
    text = (X86 / "sysfs-resource.txt").read_text()
    ends = [m.end() for m in re.finditer("\n", text)]
    cut = ends[data.draw(st.integers(13, len(ends) - 1), label="line")]
    assert_truncation_keeps_complete_devices("sysfs", text, cut)


@pytest.mark.parametrize("source", [X86 / "iomem-root.txt", PPC / "iomem-root.txt", SMALL / "iomem-nested.txt"],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
@TRUNCATE
@given(data=st.data())
def test_iomem_truncated_keeps_what_it_shows(source, data):
    text = source.read_text()
    full = PARSERS["iomem"](text, PATH)
    cut = data.draw(st.integers(0, len(text)), label="cut")
    short = parse_or_error("iomem", text[:cut])
    if short is None:
        assert "\n" not in text[:cut].rstrip("\n"), "an error although the first entry is complete"
        return
    assert set(short.bars) <= set(full.bars)
    assert set(short.windows) <= set(full.windows)
    assert len(short.warnings) <= 1, short.warnings


DMESG_DEVICE = re.compile(r"\bpci [0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]: ")
DMESG_WINDOW = re.compile(r"\bpci_bus [0-9a-f]{4}:[0-9a-f]{2}: (root bus )?resource (\d+ )?"
                          r"\[mem 0x[0-9a-f]+-0x[0-9a-f]+")


@TRUNCATE
@given(data=st.data())
def test_dmesg_truncated_keeps_what_it_shows(data):
    """The x86 log names every BAR once, so a cut log shows a subset of the BARs and windows."""
    text = (X86 / "dmesg.txt").read_text()
    full = PARSERS["dmesg"](text, PATH)
    cut = data.draw(st.integers(0, len(text)), label="cut")
    short = parse_or_error("dmesg", text[:cut])
    if short is None:
        assert not DMESG_DEVICE.search(text[:cut]), "an error although a `pci dddd:bb:dd.f: ` line is there"
        assert not DMESG_WINDOW.search(text[:cut]), "an error although a memory window line is there"
        return
    assert set(short.bars) <= set(full.bars)
    assert set(short.windows) <= set(full.windows)
    assert short.warnings == ()
    check_survives(short)


# --- hostile inputs: every class of bad number, character, shape and size, 10,000 per parser family -------------

HOSTILE_FORMATS = ("lspci", "iomem", "sysfs", "dmesg")
HOSTILE = settings(FUZZ, max_examples=10_000)
HUGE_NUMBERS = ("9" * 5000, "f" * 5000, "1" + "0" * 4400, "0" * 5000 + "1", "18446744073709551616",
                "18446744073709551615", "10000000000000000", "ffffffffffffffff", "0x10000000000000000",
                "00000000000000000000000001", "\u0663\u0664", "-1", "1e3", "")
SIZES_2_64 = {"lspci": ("[size=16777216T]", "[size=17179869184G]", "[size=18446744073709551616]", "[size=0]",
                        "[size=" + "9" * 5000 + "K]"),
              "dmesg": ("size 0x10000000000000000", "size 0xffffffffffffffff", "size 0x0", "0x0-0xffffffffffffffff"),
              "sysfs": ("0x0000000000000000 0xffffffffffffffff 0x0000000000040200",
                        "0xffffffffffffffff 0x0000000000000000 0x0000000000140204",
                        "0x10000000000000000 0x10000000000000fff 0x200"),
              "iomem": ("0000000000000000-ffffffffffffffff", "fffffffffffff000-10000000000000fff",
                        "ffffffffffffffff-0000000000000000")}
CONTROL = ("\x1b[2J\x1b[H", "\x1b]0;owned\x07", "\r", "\n", "\x00", "\x7f", "\x85", "\x9b31m", "\u2028", "\u202e",
           "\x08" * 8, "\x0b\x0c", "\t", "\r\n", "\ufeff", "\udcff")
UNSAFE_CHAR = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
MAX_MESSAGE_CHARS = 600
NUMBER_RUN = re.compile(r"[0-9a-fA-F]+")
SIZE_SPOT = {"lspci": re.compile(r"\[size=[^\]]*\]"),
             "dmesg": re.compile(r"size 0x[0-9a-fA-F]+|0x[0-9a-fA-F]+-0x[0-9a-fA-F]+"),
             "sysfs": re.compile(r"0x[0-9a-fA-F]+\s+0x[0-9a-fA-F]+\s+0x[0-9a-fA-F]+"),
             "iomem": re.compile(r"[0-9a-fA-F]+-[0-9a-fA-F]+")}
OPS = ("number", "size", "control", "cut-line", "truncate", "nest", "empty", "binary", "overlong", "delete",
       "duplicate", "shuffle", "mix")
EMPTY = ("", "\n", " ", "\n" * 1000, "\r\n\r\n", "\t\n")
FILLERS = ("f", "9", " ", "  ", "x", "\t", "0")
EDIT = st.integers(0, (1 << 64) - 1)
"""One edit, as a single draw (few draws keep 10,000 inputs per family fast): its low byte picks the operation,
the next bits the position, the count and the payload, and its bytes are the binary junk."""


def _pick(options: tuple, number: int):
    return options[number % len(options)]


def _spot(pattern: re.Pattern, text: str, at: int) -> re.Match | None:
    """The first match at or after `at` (or the first of all)."""
    return pattern.search(text, at) or pattern.search(text)


def _replace(text: str, match: re.Match | None, new: str) -> str:
    return text if match is None else text[:match.start()] + new + text[match.end():]


def hostile_edit(fmt: str, text: str, edit: int) -> str:
    """`text` with one hostile change: a number too big, a size of 2**64, control characters, a cut, deep
    indentation, nothing at all, binary junk, an overlong line, or lines deleted, repeated, reordered or mixed in."""
    op, a, b, raw = _pick(OPS, edit & 0xFF), (edit >> 8) & 0xFFFFFF, edit >> 32, edit.to_bytes(8, "little")
    at = a % (len(text) + 1)
    if op == "number":
        return _replace(text, _spot(NUMBER_RUN, text, at), _pick(HUGE_NUMBERS, b))
    if op == "size":
        return _replace(text, _spot(SIZE_SPOT[fmt], text, at), _pick(SIZES_2_64[fmt], b))
    if op == "control":
        return text[:at] + _pick(CONTROL, b) + text[at:]
    if op == "truncate":
        return text[:at]
    if op == "empty":
        return _pick(EMPTY, b)
    if op == "binary":
        return text[:at] + raw.decode(_pick(("latin-1", "utf-8"), b), errors="replace") + text[at:]
    if op == "overlong":
        return text[:at] + _pick(FILLERS, b) * _pick((1_000, 100_000), b >> 4) + text[at:]
    lines = text.split("\n")
    first, count = a % len(lines), 1 + b % 8
    if op == "cut-line":
        lines[first] = lines[first][:b % (len(lines[first]) + 1)]
    elif op == "nest":
        depth = _pick((1, 4, 40), b >> 4)
        lines[first:first + count * 6] = ["  " * depth * (i + 1) + line
                                          for i, line in enumerate(lines[first:first + count * 6])]
    elif op == "delete":
        del lines[first:first + count]
    elif op == "duplicate":
        lines[first:first] = lines[first:first + count] * _pick((1, 50), b >> 4)
    elif op == "shuffle":
        lines[first:first + count] = lines[first:first + count][::-1]
    else:
        other = _pick(ALL_TEXTS, b).split("\n")
        start = (b >> 8) % len(other)
        lines[first:first] = other[start:start + count * 3]
    return "\n".join(lines)


def _chunks(fmt: str, text: str, lines_per_chunk: int = 40) -> list[str]:
    """A real dump cut into small pieces that each parse on their own: fast to mutate and to parse.

    An lspci piece starts at a device line; a dmesg piece keeps only the PCI lines."""
    lines = text.split("\n")
    if fmt == "dmesg":
        lines = [line for line in lines if re.search(r"\bpci(_bus)? ", line)]
    starts = [i for i, line in enumerate(lines) if fmt != "lspci" or HEADERS["lspci"].match(line)]
    pieces, begin = [], starts[0] if starts else 0
    for cut in starts[1:] + [len(lines)]:
        if cut - begin >= lines_per_chunk or cut == len(lines):
            pieces.append("\n".join(lines[begin:cut]) + "\n")
            begin = cut
    return pieces


HOSTILE_SEEDS = {fmt: [piece for text in TEXTS[fmt] for piece in _chunks(fmt, text)] for fmt in HOSTILE_FORMATS}


@pytest.mark.parametrize("fmt", HOSTILE_FORMATS)
def test_hostile_fuzz_starts_from_valid_dumps(fmt):
    seeds = HOSTILE_SEEDS[fmt]
    assert len(seeds) >= 4
    for seed in seeds:
        dump = PARSERS[fmt](seed, PATH)
        assert dump.devices or dump.others or dump.addresses_hidden, seed[:200]


@pytest.mark.parametrize("op", OPS)
def test_every_hostile_edit_changes_a_dump(op):
    """The generator is not vacuous: each operation, at its first payload, alters every format's first seed."""
    for fmt in HOSTILE_FORMATS:
        seed = HOSTILE_SEEDS[fmt][0]
        edits = [OPS.index(op) | a << 8 | b << 32 for a in (0, 7, 300) for b in (0, 1, 2, 1 << 8)]
        assert any(hostile_edit(fmt, seed, edit) != seed for edit in edits), (fmt, op)


HOSTILE_CASE = st.tuples(st.integers(0, 1 << 16), EDIT, EDIT, EDIT)
"""A seed (its low bits pick one of the format's valid pieces, its high bits how many edits) and up to three
hostile edits."""


def hostile_text(fmt: str, case: tuple[int, int, int, int]) -> str:
    seed, *edits = case
    text = _pick(HOSTILE_SEEDS[fmt], seed)
    for edit in edits[:1 + (seed >> 8) % 3]:
        text = hostile_edit(fmt, text, edit)
    return text


def assert_clean(text: str) -> None:
    assert not UNSAFE_CHAR.search(text), f"a control character reaches the output: {text[:200]!r}"
    assert len(text) <= MAX_MESSAGE_CHARS, f"{len(text)} characters: {text[:200]!r}"


def assert_parses_or_refuses(fmt: str, text: str) -> str:
    """The parser returns a sound HostDump or raises DumpError (one clean line naming the file); nothing else."""
    try:
        dump = PARSERS[fmt](text, PATH)
    except DumpError as err:
        assert str(err).startswith(f"{PATH}"), str(err)
        assert_clean(str(err))
        return "refused"
    assert isinstance(dump, HostDump)
    for line in dump.warnings + dump.notes:
        assert_clean(line)
    for name in [w.name for w in dump.windows] + [o.name for o in dump.others] + list(dump.devices):
        assert not UNSAFE_CHAR.search(name), repr(name)
    for bar in dump.bars:
        assert bar.index is None or 0 <= bar.index <= 6
        assert 0 <= bar.size_bytes <= MAX_ADDRESS
        if bar.start is not None:
            assert bar.size_bytes >= 1 and 0 <= bar.start <= bar.last <= MAX_ADDRESS, bar
    for first, last in [(w.first, w.last) for w in dump.windows] + [(o.first, o.last) for o in dump.others]:
        assert 0 <= first <= last <= MAX_ADDRESS
    return "parsed"


@pytest.mark.parametrize("fmt", HOSTILE_FORMATS)
@HOSTILE
@given(case=HOSTILE_CASE)
def test_hostile_dump_parses_or_raises_dump_error(fmt, case):
    assert_parses_or_refuses(fmt, hostile_text(fmt, case))


@pytest.mark.parametrize("fmt", HOSTILE_FORMATS)
@settings(HOSTILE, max_examples=300)
@given(case=HOSTILE_CASE)
def test_hostile_dump_that_parses_survives_the_host_check(fmt, case):
    """What a parser accepts goes through check_host() and the renderers; the text report stays control-free."""
    try:
        dump = PARSERS[fmt](hostile_text(fmt, case), PATH)
    except DumpError:
        return
    check_survives(dump)
    report = check_host(dump, PAGES, POLICIES, HINT)
    assert not UNSAFE_CHAR.search(render_text(report).replace("\n", "")), "a control character in the text report"
