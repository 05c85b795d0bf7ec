"""Robustness of the dump parsers and of the host check, by mutating real dumps (hypothesis).

A mutated dump must either parse into a HostDump or raise DumpError naming the file; any
other exception is a bug.  Whatever parses must go through check_host() and the renderers.
Runs are derandomized (the same examples every run) and keep no example database.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from barcheck.hostcheck.render import render_json, render_text
from barcheck.hostcheck.report import check_host
from barcheck.hostdump import FORMATS, DumpError, HostDump, load
from barcheck.hostdump import PARSERS
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
