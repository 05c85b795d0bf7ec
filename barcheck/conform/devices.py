"""QEMU device models a conformance scenario may use, with their memory BARs.

Sizes are from QEMU's sources (hw/usb/hcd-ohci-pci.c, hw/sd/sdhci-pci.c,
hw/watchdog/wdt_i6300esb.c, hw/usb/hcd-ehci-pci.c, hw/misc/pci-testdev.c,
hw/misc/edu.c) and were seen by the guest kernel in every run.  QEMU 7.2
refuses `device_add` of the USB host controllers ("Parameter 'driver'
expects a pluggable device type"), so they can be present only at boot.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class QemuDevice:
    model: str
    memory_bars: dict[int, int]
    """BAR index -> size in bytes."""
    hotpluggable: bool


QEMU_DEVICES = {d.model: d for d in (
    QemuDevice("pci-ohci", {0: 256}, False),
    QemuDevice("sdhci-pci", {0: 256}, True),
    QemuDevice("i6300esb", {0: 16}, True),
    QemuDevice("ich9-usb-ehci1", {0: 4096}, False),
    QemuDevice("pci-testdev", {0: 4096}, True),
    QemuDevice("edu", {0: 1 << 20}, True),
)}
