"""sysfs `resource` files (drivers/pci/pci-sysfs.c resource_show(), read at torvalds/linux and
later mainline mirrors): one line `0x%016llx 0x%016llx 0x%016llx` (start, end, flags) per
pci_dev->resource[] slot.

A non-bridge prints PCI_BRIDGE_RESOURCES lines (7, or 13 with CONFIG_PCI_IOV: BAR0-5, the ROM,
then six SR-IOV VF BAR regions); a bridge prints DEVICE_COUNT_RESOURCE (11 or 17), the last
four being its windows (newer kernels print an unassigned or disabled window as zeros).
Addresses are pci_resource_to_user() values, CPU physical on most architectures.

Accepted inputs: a directory holding `<address>/resource` files (a copy of
/sys/bus/pci/devices), the output of `grep -H . /sys/bus/pci/devices/*/resource`, the output
of `head /sys/bus/pci/devices/*/resource` (`==> PATH <==` headers), or one resource file whose
parent directory is named by the device's address.
"""

from __future__ import annotations

import os
import re
from typing import Sequence

from barcheck.host.dump.common import (LIMIT_HINT, Warnings, bar_span_bytes, display_path, first_line, read_text,
                                      text_lines)
from barcheck.host.dump.model import DumpBar, DumpError, DumpOther, DumpWindow, HostDump
from barcheck.inputs.safe_read import DEFAULT_MAX_INPUT_BYTES
from model.pci import BarKind

FORMAT = "sysfs"
IORESOURCE_IO = 0x100
IORESOURCE_MEM = 0x200
IORESOURCE_PREFETCH = 0x2000
IORESOURCE_MEM_64 = 0x100000
IORESOURCE_DISABLED = 0x10000000
IORESOURCE_UNSET = 0x20000000
IORESOURCE_ROM_ENABLE = 0x1
ROM_SLOT = 6
VF_SLOTS = 6
WINDOW_SLOTS = 4
FULL_COUNTS = (7, 11, 13, 17)
HEAD_LINES = 10
"""`head` prints 10 lines of each file: the first slots, so BAR0-5 and the ROM are all there."""
MAX_STRAY_WARNINGS = 20
ADDRESS = r"([0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])"
GREP_LINE = re.compile(r"^(.*?/)?" + ADDRESS + r"/resource:(.*)$")
HEAD_LINE = re.compile(r"^==> (.*?/)?" + ADDRESS + r"/resource <==$")
TRIPLE = re.compile(r"^\s*0x([0-9a-fA-F]{1,16})\s+0x([0-9a-fA-F]{1,16})\s+0x([0-9a-fA-F]{1,16})\s*$")


def looks_like(text: str) -> bool:
    first = first_line(text)
    return bool(GREP_LINE.match(first) or HEAD_LINE.match(first) or TRIPLE.match(first))


def load(path: str, max_bytes: int = DEFAULT_MAX_INPUT_BYTES) -> HostDump:
    """A sysfs dump file, or a directory of <address>/resource files of at most `max_bytes` together."""
    if os.path.isdir(path):
        return _from_directory(path, max_bytes)
    return parse(read_text(path, max_bytes), display_path(path))


def parse(text: str, path: str) -> HostDump:
    per_device: dict[str, list[tuple[int, str]]] = {}
    single = _device_of_path(path)
    device = None
    stray: list[tuple[int, str]] = []
    last_number = text.count("\n") + 1
    cut_mid_line = bool(text) and not text.endswith("\n")
    head_form = False
    for number, line in text_lines(text):
        if not line.strip():
            continue
        grep, head = GREP_LINE.match(line), HEAD_LINE.match(line)
        if head:
            head_form = True
            device = head.group(2).lower()
            per_device.setdefault(device, [])
        elif grep:
            per_device.setdefault(grep.group(2).lower(), []).append((number, grep.group(3)))
        elif (owner := device or single) is not None and TRIPLE.match(line):
            per_device.setdefault(owner, []).append((number, line))
        else:
            if line.startswith("==>"):
                device = None
            if not (cut_mid_line and number == last_number):
                stray.append((number, line))
    if not per_device:
        raise DumpError(path, stray[0][0] if stray else None,
                        "no sysfs resource line (0xSTART 0xEND 0xFLAGS) with a device: use `grep -H . "
                        "/sys/bus/pci/devices/*/resource`, or name the file <address>/resource")
    cut_device = next(reversed(per_device)) if cut_mid_line else None
    return _dump(path, per_device, stray, cut_device, head_form)


def _device_of_path(path: str) -> str | None:
    match = re.search(ADDRESS + r"/resource$", path.replace(os.sep, "/"))
    return match.group(1).lower() if match else None


def _from_directory(path: str, max_bytes: int) -> HostDump:
    shown = display_path(path)
    try:
        names = sorted(os.listdir(path))
    except OSError as err:
        raise DumpError(shown, None, f"cannot read the directory: {err.strerror}") from None
    per_device: dict[str, list[tuple[int, str]]] = {}
    total_chars = 0
    for name in names:
        resource = os.path.join(path, name, "resource")
        if re.fullmatch(ADDRESS, name) and os.path.isfile(resource):
            text = read_text(resource, max_bytes)
            total_chars += len(text)
            if total_chars > max_bytes:
                raise DumpError(shown, None, f"its resource files together are over the input size limit "
                                             f"({LIMIT_HINT})")
            per_device[name.lower()] = list(text_lines(text))
    if not per_device:
        raise DumpError(shown, None, "no <address>/resource file in this directory")
    return _dump(shown, per_device)


def _dump(path: str, per_device: dict[str, list[tuple[int, str]]],
          stray: Sequence[tuple[int, str]] = (), cut_device: str | None = None, head_form: bool = False) -> HostDump:
    warnings = Warnings(path)
    for number, line in stray[:MAX_STRAY_WARNINGS]:
        warnings.general(number, f"not a resource line of any device, skipped: {line.strip()[:60]!r}")
    if len(stray) > MAX_STRAY_WARNINGS:
        warnings.general(0, f"{len(stray) - MAX_STRAY_WARNINGS} more such lines skipped")
    bars: list[DumpBar] = []
    windows: list[DumpWindow] = []
    others: list[DumpOther] = []
    for device in sorted(per_device):
        rows = [(n, line) for n, line in per_device[device] if line.strip()]
        rows_are_prefix = device == cut_device or (head_form and len(rows) == HEAD_LINES)
        _device(device, rows, warnings, bars, windows, others, prefix_ok=rows_are_prefix)
    notes = ("sysfs resource files list no platform (non-PCI) resources; add --iomem to see them",)
    return HostDump(path, FORMAT, bars=tuple(bars), windows=tuple(windows), others=tuple(others),
                    devices=tuple(sorted(per_device)), warnings=warnings.all(), notes=notes)


def _device(device: str, rows: list[tuple[int, str]], warnings: Warnings, bars: list, windows: list,
            others: list, prefix_ok: bool = False) -> None:
    """`prefix_ok`: the device's lines are the end of a file cut short, so they are its first slots."""
    triples: list[tuple[int, int, int, int] | None] = []
    for number, line in rows:
        match = TRIPLE.match(line)
        if not match:
            warnings.device(device, number, f"unreadable resource line {line.strip()[:60]!r}, its slot is skipped")
            triples.append(None)
            continue
        start, end, flags = (int(group, 16) for group in match.groups())
        triples.append((number, start, end, flags))
    count = len(triples)
    if count not in FULL_COUNTS:
        if not prefix_ok:
            warnings.device(device, rows[0][0] if rows else 0,
                            f"{count} resource lines, not the 7, 11, 13 or 17 resource_show() prints: the device "
                            f"is skipped (a missing line would shift every BAR index after it)")
            return
        warnings.device(device, rows[0][0] if rows else 0,
                        f"{count} resource lines, not the 7, 11, 13 or 17 resource_show() prints (a file cut short, "
                        f"or `head`): only BAR0-5 and the ROM are read")
        triples = triples[:ROM_SLOT + 1]
    has_vfs = count in (13, 17)
    window_base = count - WINDOW_SLOTS if count in (11, 17) else count
    for slot, triple in enumerate(triples):
        if triple is None:
            continue
        number, start, end, flags = triple
        if flags == 0 and start == 0 and end == 0:
            continue
        if slot >= window_base:
            if flags & IORESOURCE_MEM and not flags & (IORESOURCE_UNSET | IORESOURCE_DISABLED) and start <= end:
                windows.append(DumpWindow(device, start, end, bridge=True, domain=int(device.split(":")[0], 16),
                                          line=number))
        elif has_vfs and ROM_SLOT < slot <= ROM_SLOT + VF_SLOTS:
            if flags & IORESOURCE_MEM and not flags & IORESOURCE_UNSET and start <= end:
                others.append(DumpOther(f"{device} VF BAR {slot - ROM_SLOT - 1}", start, end, number))
        else:
            try:
                bar = _bar(device, slot, number, start, end, flags, warnings.path)
            except DumpError:
                raise
            except ValueError as err:
                warnings.device(device, number, str(err))
                continue
            if bar is not None:
                bars.append(bar)


def _bar(device: str, slot: int, number: int, start: int, end: int, flags: int, path: str) -> DumpBar | None:
    if not flags & (IORESOURCE_IO | IORESOURCE_MEM):
        return None
    if end < start:
        raise ValueError(f"resource {slot} ends at {end:#x} below its start {start:#x}")
    size = bar_span_bytes(start, end, path, number, f"{device} resource {slot}")
    unset = bool(flags & IORESOURCE_UNSET)
    if slot == ROM_SLOT:
        return DumpBar(device, ROM_SLOT, BarKind.ROM, True, None if unset else start, size,
                       bool(flags & IORESOURCE_ROM_ENABLE), line=number)
    if flags & IORESOURCE_IO:
        kind = BarKind.IO
    else:
        kind = BarKind.MEM64 if flags & IORESOURCE_MEM_64 else BarKind.MEM32
    return DumpBar(device, slot, kind, bool(flags & IORESOURCE_PREFETCH), None if unset else start, size,
                   not flags & IORESOURCE_DISABLED, line=number)
