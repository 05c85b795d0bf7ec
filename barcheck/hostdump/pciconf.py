"""FreeBSD `pciconf -lvbc` output (usr.sbin/pciconf/pciconf.c list_bars()).

Device lines: `NAME@pciD:B:S:F:<tab>class=...` (domain, bus, slot and function in decimal).
BAR lines: `    bar   [RR] = type T, range W, base B, size S, enabled|disabled` where RR is the
config-space offset of the BAR register (0x10-0x24; 0x30 or 0x38 for an expansion ROM), T is
`Memory`, `Prefetchable Memory` or `I/O Port`, and W is 32 or 64.  pciconf prints PCI *bus*
addresses, so two BARs are comparable only within one PCI domain.
"""

from __future__ import annotations

import re

from barcheck.hostdump.common import Warnings, text_lines
from barcheck.hostdump.model import PCI_BUS, DumpBar, DumpError, HostDump, device_name
from model.pci import BarKind

FORMAT = "pciconf"
HEADER = re.compile(r"^(\S+?)@pci(\d+):(\d+):(\d+):(\d+):")
BAR = re.compile(r"^\s+bar\s+\[([0-9a-fA-F]+)\]\s*=\s*(.*)$")
BAR_FIELDS = re.compile(
    r"^type (Memory|Prefetchable Memory|I/O Port), range (\d+), base (0x[0-9a-fA-F]+|\d+), "
    r"size (\d+), (enabled|disabled)\s*$")
ROM_REGISTERS = (0x30, 0x38)


def looks_like(text: str) -> bool:
    first = next((line for line in text.splitlines() if line.strip()), "")
    return bool(HEADER.match(first))


def parse(text: str, path: str) -> HostDump:
    warnings = Warnings(path)
    bars: list[DumpBar] = []
    devices: list[str] = []
    device: str | None = None
    for number, line in text_lines(text):
        header = HEADER.match(line)
        if header:
            device = _address(header, path, number)
            devices.append(device)
            continue
        bar = BAR.match(line)
        if not bar:
            if device is None and line.strip():
                raise DumpError(path, number, "expected a pciconf device line (name@pciD:B:S:F:) first")
            continue
        if device is None:
            raise DumpError(path, number, "a bar line before any device line")
        try:
            bars.append(_bar(bar, number, device))
        except ValueError as err:
            warnings.device(device, number, str(err))
    if not devices:
        raise DumpError(path, None, "no pciconf device line (name@pciD:B:S:F:) found")
    notes = ("pciconf prints PCI bus addresses: BARs are compared only within one PCI domain",
             "pciconf shows no bridge windows and no platform (non-PCI) resources")
    return HostDump(path, FORMAT, PCI_BUS, bars=tuple(bars), devices=tuple(devices),
                    warnings=warnings.all(), notes=notes)


def _address(match: re.Match, path: str, number: int) -> str:
    _, domain, bus, slot, function = (match.group(1), *map(int, match.groups()[1:]))
    if domain > 0xFFFF or bus > 0xFF or slot > 0x1F or function > 7:
        raise DumpError(path, number, f"pci{domain}:{bus}:{slot}:{function} is not a PCI address")
    return device_name(domain, bus, slot, function)


def _bar(match: re.Match, number: int, device: str) -> DumpBar:
    register = int(match.group(1), 16)
    fields = BAR_FIELDS.match(match.group(2))
    if not fields:
        raise ValueError(f"unreadable bar line {match.group(2).strip()!r}")
    type_name, width, base_text, size_text, state = fields.groups()
    base = int(base_text, 0)
    size = int(size_text)
    if size == 0 or base + size - 1 > (1 << 64) - 1:
        raise ValueError(f"bar [{register:02x}] has size {size} at {base:#x}")
    index, kind = _slot(register, type_name, width)
    decoding = state == "enabled"
    start = None if base == 0 and not decoding else base
    return DumpBar(device, index, kind, type_name == "Prefetchable Memory", start, size, decoding, line=number)


def _slot(register: int, type_name: str, width: str) -> tuple[int, BarKind]:
    if register in ROM_REGISTERS:
        return 6, BarKind.ROM
    if not 0x10 <= register <= 0x24 or register % 4:
        raise ValueError(f"bar [{register:02x}] is not a BAR register (0x10-0x24)")
    index = (register - 0x10) // 4
    if type_name == "I/O Port":
        return index, BarKind.IO
    if width not in ("32", "64"):
        raise ValueError(f"bar [{register:02x}] has range {width}, not 32 or 64")
    return index, BarKind.MEM64 if width == "64" else BarKind.MEM32
