"""What a machine dump says: devices' BARs, bridge and host-bridge windows, other resources.

Every parser (lspci, pciconf, /proc/iomem, sysfs, dmesg) produces a `HostDump`.
Addresses are plain ints.  A dump whose format prints PCI *bus* addresses
(FreeBSD pciconf) says so in `address_space`; those BARs are compared only
within one PCI domain, since every domain has a bus-address space of its own.
CPU physical addresses (lspci, /proc/iomem, sysfs, dmesg) are one space for all
domains.  Every BAR and window records its domain either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from barcheck.inputs.textsafe import escape_control
from model.pci import BarKind

CPU_PHYSICAL = "cpu-physical"
PCI_BUS = "pci-bus"


class DumpError(ValueError):
    """A dump that cannot be read: the message names the file and line, on one line."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(escape_control(f"{where}: {message}"))
        self.path, self.line = path, line


@dataclass(frozen=True, slots=True)
class DumpBar:
    device: str
    """domain:bus:device.function, e.g. 0000:00:1f.3."""
    index: int | None
    """0-5 for BAR0-5, 6 for the expansion ROM, None when the format does not say (/proc/iomem)."""
    kind: BarKind
    prefetchable: bool
    start: int | None
    """None: not assigned."""
    size_bytes: int
    decoding: bool = True
    """The device decodes it (lspci's [disabled], pciconf's "disabled", a disabled ROM: False)."""
    virtual: bool = False
    """Reported by the OS but not by the device's config space (lspci [virtual])."""
    line: int = 0
    domain: int | None = None
    """The PCI domain (segment); None (the default) takes it from `device`."""

    def __post_init__(self) -> None:
        if self.domain is None:
            object.__setattr__(self, "domain", device_domain(self.device))

    @property
    def last(self) -> int:
        assert self.start is not None
        return self.start + self.size_bytes - 1

    @property
    def is_memory(self) -> bool:
        return self.kind in (BarKind.MEM32, BarKind.MEM64)

    @property
    def label(self) -> str:
        if self.index is None:
            return "BAR ?"
        return "ROM" if self.kind == BarKind.ROM else f"BAR {self.index}"


@dataclass(frozen=True, slots=True)
class DumpWindow:
    """A memory range a bridge forwards: a host-bridge (root bus) window or a PCI-to-PCI bridge window."""

    name: str
    first: int
    last: int
    bridge: bool
    """A PCI-to-PCI bridge window (named by the bridge's address), else a host-bridge window."""
    domain: int | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class DumpOther:
    """Anything else that decodes memory addresses: platform devices, firmware reservations."""

    name: str
    first: int
    last: int
    line: int = 0


@dataclass(frozen=True)
class HostDump:
    path: str
    format: str
    address_space: str = CPU_PHYSICAL
    bars: tuple[DumpBar, ...] = ()
    windows: tuple[DumpWindow, ...] = ()
    others: tuple[DumpOther, ...] = ()
    devices: tuple[str, ...] = ()
    """Every device address the dump names, with or without BARs."""
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    """What the format cannot tell (no windows, bus addresses, hidden addresses)."""
    addresses_hidden: bool = False
    """Every address reads as zero (/proc/iomem read without CAP_SYS_ADMIN)."""

    def memory_bars(self) -> list[DumpBar]:
        return [bar for bar in self.bars if bar.is_memory and bar.start is not None]


def device_name(domain: int, bus: int, device: int, function: int) -> str:
    return f"{domain:04x}:{bus:02x}:{device:02x}.{function}"


def device_domain(device: str) -> int:
    """The domain of a `domain:bus:device.function` name; 0 when the name has no domain part."""
    parts = device.split(":")
    if len(parts) == 3 and parts[0] and all(c in "0123456789abcdefABCDEF" for c in parts[0]):
        return int(parts[0], 16)
    return 0
