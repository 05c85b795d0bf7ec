"""Reading machine dumps: lspci, FreeBSD pciconf, /proc/iomem, sysfs resource files, dmesg."""

from __future__ import annotations

import os
from typing import Callable

from barcheck.host.dump import dmesg, iomem, lspci, pciconf, sysfs
from barcheck.host.dump.common import display_path, head, read_text
from barcheck.host.dump.model import CPU_PHYSICAL, PCI_BUS, DumpBar, DumpError, DumpOther, DumpWindow, HostDump
from barcheck.inputs.safe_read import DEFAULT_MAX_INPUT_BYTES

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


def load(fmt: str, path: str, max_bytes: int = DEFAULT_MAX_INPUT_BYTES) -> HostDump:
    """Parse one dump; raises DumpError naming the file (and line) when it cannot be read.

    Only a regular file of at most `max_bytes` is read (a sysfs directory: its files together)."""
    if fmt not in PARSERS:
        raise DumpError(display_path(path), None, f"unknown dump format {fmt!r} (known: {', '.join(FORMATS)})")
    if fmt == "sysfs":
        return sysfs.load(path, max_bytes)
    return PARSERS[fmt](read_text(path, max_bytes), display_path(path))


def load_text(fmt: str, text: str, path: str) -> HostDump:
    """Parse a dump already read from `path` (a file, not a sysfs directory)."""
    if fmt not in PARSERS:
        raise DumpError(display_path(path), None, f"unknown dump format {fmt!r} (known: {', '.join(FORMATS)})")
    return PARSERS[fmt](text, display_path(path))


def detect(path: str, max_bytes: int = DEFAULT_MAX_INPUT_BYTES) -> str:
    """The format of a dump, from its content."""
    if os.path.isdir(path):
        return "sysfs"
    return detect_text(read_text(path, max_bytes), display_path(path))


def detect_text(text: str, shown_path: str) -> str:
    """The format of a dump already read; `shown_path` names it in the error."""
    start = head(text)
    for fmt, looks_like in _DETECT_ORDER:
        if looks_like(start):
            return fmt
    raise DumpError(shown_path, None,
                    "not a known dump (lspci -vv, pciconf -lvbc, /proc/iomem, sysfs resource, dmesg)")


__all__ = ["CPU_PHYSICAL", "FORMATS", "PCI_BUS", "DumpBar", "DumpError", "DumpOther", "DumpWindow", "HostDump",
           "detect", "detect_text", "display_path", "load", "load_text", "read_text"]
