"""FreeBSD `pciconf -lvbc` output (usr.sbin/pciconf/pciconf.c list_bars()).

Device lines: `NAME@pciD:B:S:F:<tab>class=...` (domain, bus, slot and function in decimal).
BAR lines: `    bar   [RR] = type T, range W, base B, size S, enabled|disabled` where RR is the
config-space offset of the BAR register (0x10-0x24; 0x30 or 0x38 for an expansion ROM), T is
`Memory`, `Prefetchable Memory` or `I/O Port`, and W is 32 or 64.  pciconf prints PCI *bus*
addresses, so two BARs are comparable only within one PCI domain.

A number no pciconf prints (a domain over 65535, a bus over 255, a base or size of 2**64 or
more, thousands of digits) is an input error naming the line; a bar line that is garbled in
another way costs a warning and the device's other lines are still read.
"""

from __future__ import annotations

import re

from barcheck.host.dump.common import MAX_ADDRESS, Warnings, decimal_number, hex_number, text_lines
from barcheck.host.dump.model import PCI_BUS, DumpBar, DumpError, HostDump, device_name
from barcheck.inputs.textsafe import excerpt
from model.pci import BarKind

FORMAT = "pciconf"
HEADER = re.compile(r"^(\S+?)@pci(\d+):(\d+):(\d+):(\d+):")
BAR = re.compile(r"^\s+bar\s+\[([0-9a-fA-F]+)\]\s*=\s*(.*)$")
BAR_FIELDS = re.compile(
    r"^type (Memory|Prefetchable Memory|I/O Port), range (\d+), base (0x[0-9a-fA-F]+|\d+), "
    r"size (\d+), (enabled|disabled)\s*$")
ROM_REGISTERS = (0x30, 0x38)


def looks_like(text: str) -> bool:
    first = next((line for _, line in text_lines(text) if line.strip()), "")
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
            bars.append(_bar(bar, path, number, device))
        except DumpError:
            raise
        except ValueError as err:
            warnings.device(device, number, str(err))
    if not devices:
        raise DumpError(path, None, "no pciconf device line (name@pciD:B:S:F:) found")
    notes = ("pciconf prints PCI bus addresses: BARs are compared only within one PCI domain",
             "pciconf shows no bridge windows and no platform (non-PCI) resources")
    return HostDump(path, FORMAT, PCI_BUS, bars=tuple(bars), devices=tuple(devices),
                    warnings=warnings.all(), notes=notes)


def _address(match: re.Match, path: str, number: int) -> str:
    fields = zip(("domain", "bus", "slot", "function"), match.groups()[1:], (0xFFFF, 0xFF, 0x1F, 7))
    try:
        domain, bus, slot, function = (_decimal(text, path, number, f"PCI {what}", limit)
                                       for what, text, limit in fields)
    except DumpError:
        raise
    except ValueError as err:
        raise DumpError(path, number, str(err)) from None
    return device_name(domain, bus, slot, function)


def _decimal(text: str, path: str, number: int, what: str, limit: int = MAX_ADDRESS) -> int:
    """decimal_number() without the leading zeros, which int() would count against its 4,300-digit limit."""
    plain = text.lstrip("0") or "0" if text.isascii() and text.isdigit() else text
    return decimal_number(plain, path, number, what, limit)


def _bar(match: re.Match, path: str, number: int, device: str) -> DumpBar:
    register = _register(match.group(1))
    fields = BAR_FIELDS.match(match.group(2))
    if not fields:
        raise ValueError(f"unreadable bar line {excerpt(match.group(2).strip(), 80)}")
    type_name, width, base_text, size_text, state = fields.groups()
    base = _base(base_text, path, number)
    size = _decimal(size_text, path, number, f"bar [{register:02x}] size")
    if size == 0 or base + size - 1 > MAX_ADDRESS:
        raise ValueError(f"bar [{register:02x}] has size {size} at {base:#x}")
    index, kind = _slot(register, type_name, width)
    decoding = state == "enabled"
    start = None if base == 0 and not decoding else base
    return DumpBar(device, index, kind, type_name == "Prefetchable Memory", start, size, decoding, line=number)


def _register(text: str) -> int:
    if len(text.lstrip("0")) > 2:
        raise ValueError(f"bar [{excerpt(text, 8)}] is not a BAR register (0x10-0x24)")
    return int(text, 16)


def _base(text: str, path: str, number: int) -> int:
    if text.startswith("0x"):
        return hex_number(text, path, number, "bar base")
    return _decimal(text, path, number, "bar base")


def _slot(register: int, type_name: str, width: str) -> tuple[int, BarKind]:
    if register in ROM_REGISTERS:
        return 6, BarKind.ROM
    if not 0x10 <= register <= 0x24 or register % 4:
        raise ValueError(f"bar [{register:02x}] is not a BAR register (0x10-0x24)")
    index = (register - 0x10) // 4
    if type_name == "I/O Port":
        return index, BarKind.IO
    if width not in ("32", "64"):
        raise ValueError(f"bar [{register:02x}] has range {excerpt(width)}, not 32 or 64")
    return index, BarKind.MEM64 if width == "64" else BarKind.MEM32
