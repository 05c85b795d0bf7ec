"""`lspci -vv`, `-vvv` and `-vvvnn` output (pciutils lspci.c: show_bases(), show_rom(), show_htype1()).

Region lines: `Region N: [virtual] Memory at ADDR (32-bit|64-bit|low-1M|type 3, [non-]prefetchable)
[disabled] [size=S]`, `Region N: I/O ports at ADDR [disabled] [size=S]`, where ADDR may be
`<unassigned>`, `<ignored>` or `<invalid-64bit-slot>` and S is show_size()'s number with a K, M,
G or T suffix.  `Expansion ROM at ADDR [virtual] [disabled] [size=S]`.  Bridges print
`Memory behind bridge: BASE-LIMIT` and `Prefetchable memory behind bridge: BASE-LIMIT`
(pciutils 3.x adds ` [size=S]` and ` [32-bit]`, and prints `None` or `[disabled]` for a
closed window).  Addresses without a domain are in domain 0000.
"""

from __future__ import annotations

import re

from barcheck.host.dump.common import MAX_ADDRESS, Warnings, decimal_number, hex_number, lspci_size, text_lines
from barcheck.host.dump.model import DumpBar, DumpError, DumpWindow, HostDump
from barcheck.inputs.textsafe import excerpt
from model.pci import BarKind

FORMAT = "lspci"
HEADER = re.compile(r"^(?:([0-9a-fA-F]{4,8}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])\s+\S")
REGION = re.compile(r"^\s+(?:Region ([0-9]+): )?(\[virtual\] )?(Memory at|I/O ports at) (\S+)(.*)$")
ROM = re.compile(r"^\s+(\[virtual\] )?Expansion ROM at (\S+)(.*)$")
MEM_TYPE = re.compile(r"^\s*\((32-bit|64-bit|low-1M|type 3), (non-)?prefetchable\)")
SIZE = re.compile(r"\[size=([^\]]*)\]")
WINDOW = re.compile(r"^\s+(Prefetchable memory|Memory) behind bridge:\s*([0-9a-fA-F]+)-([0-9a-fA-F]+)")
CARDBUS_WINDOW = re.compile(r"^\s+Memory window \d: ([0-9a-fA-F]+)-([0-9a-fA-F]+)")
UNPLACED = ("<unassigned>", "<ignored>", "<invalid-64bit-slot>", "<broken-64-bit-slot>")


def looks_like(text: str) -> bool:
    first = next((line for _, line in text_lines(text) if line.strip() and not line.startswith("lspci:")), "")
    return bool(HEADER.match(first)) and "@pci" not in first


def parse(text: str, path: str) -> HostDump:
    warnings = Warnings(path)
    bars: list[DumpBar] = []
    windows: list[DumpWindow] = []
    devices: list[str] = []
    device: str | None = None
    for number, line in text_lines(text):
        header = HEADER.match(line)
        if header:
            device = _address(header)
            devices.append(device)
            continue
        if device is None or not line.strip() or not line[0].isspace():
            if line.strip() and device is None and not line.startswith("lspci:"):
                raise DumpError(path, number, "expected an lspci device line (bb:dd.f or dddd:bb:dd.f) first")
            continue
        try:
            _read_line(line, number, device, path, bars, windows)
        except DumpError:
            raise
        except ValueError as err:
            warnings.device(device, number, str(err))
    if not devices:
        raise DumpError(path, None, "no lspci device line (bb:dd.f ...) found")
    notes: tuple[str, ...] = ()
    kept = [window for window in windows if _holds_a_bar(window, bars)]
    if len(kept) < len(windows):
        notes += (f"{len(windows) - len(kept)} 'memory behind bridge' window(s) hold no BAR and are left out "
                  f"(an empty window is no BAR's parent; on powerpc lspci prints windows as PCI bus addresses)",)
        windows = kept
    notes += ("lspci shows no host-bridge windows: the parent of a root-bus BAR is unknown",)
    notes += ("lspci does not list platform (non-PCI) resources; add --iomem to see them",)
    return HostDump(path, FORMAT, bars=tuple(bars), windows=tuple(windows), devices=tuple(devices),
                    warnings=warnings.all(), notes=notes)


def _holds_a_bar(window: DumpWindow, bars: list[DumpBar]) -> bool:
    return any(window.first <= b.start and b.last <= window.last for b in bars
               if b.start is not None and b.kind != BarKind.IO)


def _address(match: re.Match) -> str:
    domain, bus, dev, fn = match.groups()
    return f"{int(domain or '0', 16):04x}:{int(bus, 16):02x}:{int(dev, 16):02x}.{fn}"


def _read_line(line: str, number: int, device: str, path: str, bars: list, windows: list) -> None:
    region = REGION.match(line)
    if region:
        bars.append(_region(region, number, device, path))
        return
    rom = ROM.match(line)
    if rom:
        bars.append(_rom(rom, number, device, path))
        return
    window = WINDOW.match(line) or CARDBUS_WINDOW.match(line)
    if window:
        first, last = (hex_number(g, path, number, "window address") for g in window.groups()[-2:])
        if first <= last:
            windows.append(DumpWindow(device, first, last, bridge=True, domain=int(device.split(":")[0], 16),
                                      line=number))
        return
    if re.match(r"^\s+Region\s", line):
        raise ValueError(f"unreadable Region line {excerpt(line.strip(), 80)}")


def _size(rest: str, path: str, number: int) -> int:
    match = SIZE.search(rest)
    if not match:
        raise ValueError("a BAR line without [size=...]: run lspci as root, or with -vv")
    return lspci_size(match.group(1), path, number)


def _check_extent(start: int | None, size: int) -> None:
    if size == 0:
        raise ValueError("a BAR of size 0")
    if start is not None and start + size - 1 > MAX_ADDRESS:
        raise ValueError(f"a BAR at {start:#x} of {size:#x} bytes ends beyond 64 bits")


def _start(text: str, number: int, path: str) -> int | None:
    if text in UNPLACED:
        return None
    if text.startswith("<"):
        raise ValueError(f"unknown BAR address {excerpt(text)}")
    return hex_number(text, path, number, "BAR address")


def _region(match: re.Match, number: int, device: str, path: str) -> DumpBar:
    index_text, virtual, space, address, rest = match.groups()
    index = decimal_number(index_text, path, number, "Region index") if index_text is not None else None
    if index is not None and index > 5:
        raise ValueError(f"Region {index} is beyond BAR5")
    size = _size(rest, path, number)
    start = _start(address, number, path)
    _check_extent(start, size)
    decoding = "[disabled]" not in rest
    virtual = bool(virtual) or "[virtual]" in rest
    if space.startswith("I/O"):
        return DumpBar(device, index, BarKind.IO, False, start, size, decoding, virtual, number)
    mem_type = MEM_TYPE.match(rest)
    if not mem_type:
        raise ValueError(f"a Memory line without (NN-bit, prefetchable): {excerpt(rest.strip(), 80)}")
    kind = BarKind.MEM64 if mem_type.group(1) == "64-bit" else BarKind.MEM32
    prefetchable = mem_type.group(2) is None
    return DumpBar(device, index, kind, prefetchable, start, size, decoding, virtual, number)


def _rom(match: re.Match, number: int, device: str, path: str) -> DumpBar:
    virtual, address, rest = match.groups()
    size = _size(rest, path, number)
    start = _start(address, number, path)
    _check_extent(start, size)
    virtual = bool(virtual) or "[virtual]" in rest
    decoding = "[disabled" not in rest
    return DumpBar(device, 6, BarKind.ROM, True, start, size, decoding, virtual, number)
