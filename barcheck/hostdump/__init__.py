"""Reading machine dumps: lspci, FreeBSD pciconf, /proc/iomem, sysfs resource files, dmesg."""

from __future__ import annotations

import os
from typing import Callable

from barcheck.hostdump import dmesg, iomem, lspci, pciconf, sysfs
from barcheck.hostdump.common import read_text
from barcheck.hostdump.model import CPU_PHYSICAL, PCI_BUS, DumpBar, DumpError, DumpOther, DumpWindow, HostDump

PARSERS: dict[str, Callable[[str, str], HostDump]] = {
    "lspci": lspci.parse,
    "pciconf": pciconf.parse,
    "iomem": iomem.parse,
    "sysfs": sysfs.parse,
    "dmesg": dmesg.parse,
}
FORMATS = tuple(PARSERS)
_DETECT_ORDER = (("pciconf", pciconf.looks_like), ("lspci", lspci.looks_like), ("sysfs", sysfs.looks_like),
                 ("iomem", iomem.looks_like), ("dmesg", dmesg.looks_like))


def load(fmt: str, path: str) -> HostDump:
    """Parse one dump; raises DumpError naming the file (and line) when it cannot be read."""
    if fmt not in PARSERS:
        raise DumpError(path, None, f"unknown dump format {fmt!r} (known: {', '.join(FORMATS)})")
    if fmt == "sysfs":
        return sysfs.load(path)
    return PARSERS[fmt](read_text(path), path)


def detect(path: str) -> str:
    """The format of a dump, from its content."""
    if os.path.isdir(path):
        return "sysfs"
    text = read_text(path)
    for fmt, looks_like in _DETECT_ORDER:
        if looks_like(text):
            return fmt
    raise DumpError(path, None, "not a known dump (lspci -vv, pciconf -lvbc, /proc/iomem, sysfs resource, dmesg)")


__all__ = ["CPU_PHYSICAL", "FORMATS", "PCI_BUS", "DumpBar", "DumpError", "DumpOther", "DumpWindow", "HostDump",
           "detect", "load"]
