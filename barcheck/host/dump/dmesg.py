"""BAR and window lines of the kernel log (dmesg, journalctl -k, /var/log/kern.log).

Resources are printed with %pR (lib/vsprintf.c resource_string()): `[mem 0xS-0xE 64bit pref]`,
`[io  0xS-0xE]`, `[mem size 0xN]` for an unassigned one.  Older kernels print probe lines as
`pci 0000:00:02.0: reg 0x10: [mem ...]` (the config offset of the BAR register; 0x30 or 0x38 is
the expansion ROM) and assignments as `BAR 0: assigned [mem ...]`; kernels from v6.7 print
`BAR 0 [mem ...]`, `ROM [mem ...]` and `BAR 0 [mem ...]: assigned`.  Windows come from
`pci_bus dddd:bb: root bus resource [mem ...]` (host bridge), `bridge window [mem ...]` and
`pci_bus dddd:bb: resource N [mem ...]`.  The last line about a BAR wins; `no space` or
`failed to assign` leaves it unassigned.
"""

from __future__ import annotations

import itertools
import re

from barcheck.host.dump.common import Warnings, bar_span_bytes, decimal_number, hex_number, text_lines
from barcheck.host.dump.model import DumpBar, DumpError, DumpWindow, HostDump
from model.pci import BarKind

FORMAT = "dmesg"
ADDRESS = r"([0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])"
DEVICE_LINE = re.compile(r"\bpci " + ADDRESS + r": (.*)$")
BUS_LINE = re.compile(r"\bpci_bus ([0-9a-fA-F]{4}):([0-9a-fA-F]{2}): (.*)$")
RESOURCE = r"\[(mem|io)\s+(?:(0x[0-9a-fA-F]+)-(0x[0-9a-fA-F]+)|size (0x[0-9a-fA-F]+))([^\]]*)\]"
OLD_REG = re.compile(r"^reg 0x([0-9a-fA-F]+): " + RESOURCE)
NEW_BAR = re.compile(r"^(?:BAR ([0-9]+)|(ROM)) " + RESOURCE + r"(:.*)?$")
OLD_ASSIGNED = re.compile(r"^BAR ([0-9]+): assigned " + RESOURCE)
OLD_FAILED = re.compile(r"^BAR ([0-9]+): (?:no space|failed to assign)")
BRIDGE_WINDOW = re.compile(r"^\s*bridge window " + RESOURCE + r"(.*)$")
ROOT_RESOURCE = re.compile(r"^root bus resource " + RESOURCE)
BUS_RESOURCE = re.compile(r"^resource [0-9]+ " + RESOURCE)
DEVICE_ID = re.compile(r"^\[[0-9a-fA-F]{4}:[0-9a-fA-F]{4}\] type ([0-9a-fA-F]{2})")
SRIOV_REGISTERS = 0x100
"""`reg 0x184:` lines probe the SR-IOV capability's VF BARs (extended config space), not a BAR."""
FIRST_IOV_BRIDGE_SLOT = 13
"""With CONFIG_PCI_IOV, resource slots 7-12 are VF BARs and 13-16 bridge windows; a `type 00`
endpoint's `BAR 7: assigned` is a VF BAR, which is not one of the device's own BARs."""


def looks_like(text: str) -> bool:
    return any(DEVICE_LINE.search(line) and "[mem" in line for _, line in itertools.islice(text_lines(text), 5000))


def parse(text: str, path: str) -> HostDump:
    state = _State(path)
    for number, line in text_lines(text):
        device_line = DEVICE_LINE.search(line)
        if device_line:
            state.device(device_line.group(1).lower(), device_line.group(2), number)
            continue
        bus_line = BUS_LINE.search(line)
        if bus_line:
            state.bus(bus_line, number)
    if not state.devices and not state.windows:
        raise DumpError(path, None, "no kernel log line about a PCI device (`pci dddd:bb:dd.f: ...`) found")
    return state.dump()


class _State:
    def __init__(self, path: str) -> None:
        self.path = path
        self.warnings = Warnings(path)
        self.bars: dict[tuple[str, int], DumpBar] = {}
        self.windows: dict[tuple[int, int], DumpWindow] = {}
        self.devices: dict[str, None] = {}
        self.types: dict[str, str] = {}

    def device(self, device: str, rest: str, number: int) -> None:
        self.devices.setdefault(device, None)
        try:
            self._device_line(device, rest, number)
        except DumpError:
            raise
        except ValueError as err:
            self.warnings.device(device, number, str(err))

    def _device_line(self, device: str, rest: str, number: int) -> None:
        if "add_size" in rest or " to [bus" in rest:
            return
        identity = DEVICE_ID.match(rest)
        if identity:
            self.types[device] = identity.group(1)
            return
        window = BRIDGE_WINDOW.match(rest)
        if window:
            self._window(device, True, window, number)
            return
        old = OLD_REG.match(rest)
        if old:
            register = hex_number(old.group(1), self.path, number, "register")
            if register >= SRIOV_REGISTERS:
                return
            self._bar(device, _register_index(register), old, 2, number)
            return
        new = NEW_BAR.match(rest)
        if new:
            index = 6 if new.group(2) else self._index(new.group(1), number)
            tail = new.group(8) or ""
            if "can't assign" in tail or "failed" in tail or "no space" in tail:
                self._unassign(device, index)
            elif not tail or "assigned" in tail:
                self._bar(device, index, new, 3, number)
            return
        assigned = OLD_ASSIGNED.match(rest)
        if assigned:
            index = self._index(assigned.group(1), number)
            if index <= 6:
                self._bar(device, index, assigned, 2, number)
            elif self.types.get(device) == "01" or index >= FIRST_IOV_BRIDGE_SLOT:
                self._window(device, True, assigned, number, offset=1)
            return
        failed = OLD_FAILED.match(rest)
        if failed:
            self._unassign(device, self._index(failed.group(1), number))

    def _index(self, text: str, number: int) -> int:
        return decimal_number(text, self.path, number, "BAR index")

    def bus(self, match: re.Match, number: int) -> None:
        domain, bus, rest = match.groups()
        root = ROOT_RESOURCE.match(rest)
        child = BUS_RESOURCE.match(rest)
        found = root or child
        if found and found.group(1) == "mem" and found.group(2):
            name = f"pci_bus {domain.lower()}:{bus.lower()}"
            self._window(name, root is None, found, number)

    def _window(self, name: str, bridge: bool, match: re.Match, number: int, offset: int = 0) -> None:
        space, first_text, last_text = match.group(offset + 1), match.group(offset + 2), match.group(offset + 3)
        if space != "mem" or first_text is None:
            return
        first = hex_number(first_text, self.path, number, "window start")
        last = hex_number(last_text, self.path, number, "window end")
        if first <= last and (first, last) not in self.windows:
            domain = int(name.split()[-1][:4], 16)
            self.windows[(first, last)] = DumpWindow(name, first, last, bridge, domain, number)

    def _bar(self, device: str, index: int, match: re.Match, offset: int, number: int) -> None:
        space, first_text, last_text, size_text, flags = (match.group(offset + i) for i in range(5))
        if index > 6:
            raise ValueError(f"BAR {index} is not BAR0-5 or the ROM")
        if size_text is not None:
            start, size = None, hex_number(size_text, self.path, number, "size")
        else:
            start = hex_number(first_text, self.path, number, "BAR start")
            last = hex_number(last_text, self.path, number, "BAR end")
            if last < start:
                raise ValueError(f"BAR {index} ends below its start")
            size = bar_span_bytes(start, last, self.path, number, f"{device} BAR {index}")
        kind = _kind(space, index, flags)
        decoding = "disabled" not in flags
        start = None if start == 0 and not decoding else start
        self.bars[(device, index)] = DumpBar(device, index, kind, "pref" in flags, start, size, decoding, line=number)

    def _unassign(self, device: str, index: int) -> None:
        old = self.bars.get((device, index))
        if old is not None:
            self.bars[(device, index)] = DumpBar(old.device, old.index, old.kind, old.prefetchable, None,
                                                 old.size_bytes, old.decoding, old.virtual, old.line)

    def dump(self) -> HostDump:
        bars = tuple(sorted(self.bars.values(), key=lambda b: (b.device, b.index)))
        windows = tuple(sorted(self.windows.values(), key=lambda w: (w.first, w.last)))
        notes: tuple[str, ...] = ("the kernel log lists no platform (non-PCI) resources; add --iomem to see them",)
        if not windows:
            notes += ("no root bus resource or bridge window line: host-bridge windows are unknown",)
        return HostDump(self.path, FORMAT, bars=bars, windows=windows, devices=tuple(sorted(self.devices)),
                        warnings=self.warnings.all(), notes=notes)


def _register_index(register: int) -> int:
    if register in (0x30, 0x38):
        return 6
    if not 0x10 <= register <= 0x24 or register % 4:
        raise ValueError(f"reg {register:#x} is not a BAR register")
    return (register - 0x10) // 4


def _kind(space: str, index: int, flags: str) -> BarKind:
    if index == 6:
        return BarKind.ROM
    if space == "io":
        return BarKind.IO
    return BarKind.MEM64 if "64bit" in flags else BarKind.MEM32
