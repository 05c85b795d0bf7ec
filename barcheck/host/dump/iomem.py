"""/proc/iomem (kernel/resource.c r_show(), torvalds/linux@0092908d16c6: `%*s%0*llx-%0*llx : %s`,
two spaces per level).

The nesting is the kernel's resource tree.  `PCI Bus dddd:bb` entries are bus windows: the
outermost are host-bridge windows, nested ones PCI-to-PCI bridge windows; an entry with a
PCI-address child is a window too (device-tree host bridges show as `pci@800000020000000`).  An entry named by a
PCI address (`0000:00:1f.3`) directly under a bus window is one of that device's BARs (its
index, 32/64-bit type and prefetchability are not shown); entries below a BAR are its driver's
claims and are left out.  Everything else (System RAM, Reserved, IOAPIC, HPET, ACPI tables,
platform devices) is kept as a resource that is not a PCI BAR.

Without CAP_SYS_ADMIN, r_show() prints `start = end = 0` for every entry
(`file_ns_capable(m->file, &init_user_ns, CAP_SYS_ADMIN)`); such a dump is detected and reported,
not analysed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from barcheck.host.dump.common import Warnings, bar_span_bytes, first_line, hex_number, text_lines
from barcheck.host.dump.model import DumpBar, DumpError, DumpOther, DumpWindow, HostDump
from barcheck.inputs.textsafe import escape_control
from model.pci import FOUR_GIB, BarKind

FORMAT = "iomem"
ENTRY = re.compile(r"^( *)([0-9a-fA-F]+)-([0-9a-fA-F]+) : (.*)$")
BUS = re.compile(r"^PCI Bus ([0-9a-fA-F]{4}):([0-9a-fA-F]{2})$")
DEVICE = re.compile(r"^([0-9a-fA-F]{4}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")
MAX_BAD_LINES = 20


@dataclass(slots=True)
class _Entry:
    depth: int
    first: int
    last: int
    name: str
    line: int
    role: str = ""


def looks_like(text: str) -> bool:
    return bool(ENTRY.match(first_line(text)))


def parse(text: str, path: str) -> HostDump:
    warnings = Warnings(path)
    entries = _entries(text, path, warnings)
    if not entries:
        raise DumpError(path, None, "no /proc/iomem entry (START-END : NAME) found")
    if all(entry.first == 0 and entry.last == 0 for entry in entries):
        note = ("every address is zero: /proc/iomem was read without root (CAP_SYS_ADMIN), "
                "which hides the addresses; read it as root")
        return HostDump(path, FORMAT, warnings=warnings.all(), notes=(note,), addresses_hidden=True)
    bars, windows, others = _classify(entries, path)
    notes = ("/proc/iomem does not give BAR indices, 32/64-bit types or prefetchability; "
             "add --lspci, --sysfs or --dmesg for them",)
    devices = tuple(sorted({bar.device for bar in bars}))
    return HostDump(path, FORMAT, bars=tuple(bars), windows=tuple(windows), others=tuple(others),
                    devices=devices, warnings=warnings.all(), notes=notes)


def _entries(text: str, path: str, warnings: Warnings) -> list[_Entry]:
    entries: list[_Entry] = []
    bad = 0
    for number, line in text_lines(text):
        if not line.strip():
            continue
        match = ENTRY.match(line)
        if not match:
            bad += 1
            if bad <= MAX_BAD_LINES:
                warnings.general(number, f"not a /proc/iomem line, skipped: {line.strip()[:60]!r}")
            continue
        spaces, first_text, last_text, name = match.groups()
        first = hex_number(first_text, path, number, "start")
        last = hex_number(last_text, path, number, "end")
        if last < first:
            warnings.general(number, f"end {last:#x} is below start {first:#x}, skipped")
            continue
        entries.append(_Entry(len(spaces) // 2, first, last, escape_control(name.strip()), number))
    if bad > MAX_BAD_LINES:
        warnings.general(0, f"{bad - MAX_BAD_LINES} more lines that are not /proc/iomem lines were skipped")
    return entries


def _classify(entries: list[_Entry], path: str) -> tuple[list[DumpBar], list[DumpWindow], list[DumpOther]]:
    parents = _parents(entries)
    device_children = _device_children(entries, parents)
    bars: list[DumpBar] = []
    windows: list[DumpWindow] = []
    others: list[DumpOther] = []
    for i, entry in enumerate(entries):
        parent_index = parents[i]
        parent = None if parent_index is None else entries[parent_index]
        if parent is not None and parent.role in ("bar", "claim"):
            entry.role = "claim"
        elif BUS.match(entry.name) or (i in device_children and not DEVICE.match(entry.name)):
            entry.role = "window"
            bridged = _has_window_above(entries, parents, i)
            windows.append(DumpWindow(entry.name, entry.first, entry.last, bridged,
                                      _domain(entries, device_children, i), entry.line))
        elif DEVICE.match(entry.name) and parent is not None and parent.role == "window":
            entry.role = "bar"
            kind = BarKind.MEM64 if entry.last >= FOUR_GIB else BarKind.MEM32
            size = bar_span_bytes(entry.first, entry.last, path, entry.line, entry.name)
            bars.append(DumpBar(_device(entry.name), None, kind, False, entry.first, size, line=entry.line))
        else:
            entry.role = "other"
            others.append(DumpOther(entry.name, entry.first, entry.last, entry.line))
    return bars, windows, others


def _parents(entries: list[_Entry]) -> list[int | None]:
    parents: list[int | None] = []
    stack: list[int] = []
    for i, entry in enumerate(entries):
        while stack and entries[stack[-1]].depth >= entry.depth:
            stack.pop()
        parents.append(stack[-1] if stack else None)
        stack.append(i)
    return parents


def _device_children(entries: list[_Entry], parents: list[int | None]) -> dict[int, int]:
    """Entry index -> its first child named by a PCI address."""
    found: dict[int, int] = {}
    for i, (entry, parent) in enumerate(zip(entries, parents)):
        if parent is not None and DEVICE.match(entry.name):
            found.setdefault(parent, i)
    return found


def _has_window_above(entries: list[_Entry], parents: list[int | None], i: int) -> bool:
    current = parents[i]
    while current is not None:
        if entries[current].role == "window":
            return True
        current = parents[current]
    return False


def _domain(entries: list[_Entry], device_children: dict[int, int], i: int) -> int | None:
    bus = BUS.match(entries[i].name)
    if bus:
        return int(bus.group(1), 16)
    if i in device_children:
        return int(entries[device_children[i]].name[:4], 16)
    return None


def _device(name: str) -> str:
    match = DEVICE.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a PCI device address")
    domain, bus, dev, fn = match.groups()
    return f"{domain.lower()}:{bus.lower()}:{dev.lower()}.{fn}"
