"""A gzip-compressed newc cpio archive, the format of a Linux initramfs.

Written here so that building the initramfs needs neither the cpio tool nor
root (the /dev/console node is an archive entry, not a file on the host).
"""

from __future__ import annotations

import gzip
import stat

TRAILER = "TRAILER!!!"


def _entry(ino: int, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> bytes:
    name_bytes = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_bytes), 0)
    header = b"070701" + b"".join(f"{value:08x}".encode() for value in fields)
    out = header + name_bytes
    out += b"\0" * (-len(out) % 4)
    out += data
    out += b"\0" * (-len(out) % 4)
    return out


def initramfs(files: dict[str, tuple[bytes, int]], dirs: list[str], char_devices: dict[str, tuple[int, int]]) -> bytes:
    """files: path -> (content, permission bits); dirs are created first, parents before children."""
    parts, ino = [], 1
    for d in sorted(dirs, key=lambda p: (p.count("/"), p)):
        parts.append(_entry(ino, d, stat.S_IFDIR | 0o755))
        ino += 1
    for path, (major, minor) in sorted(char_devices.items()):
        parts.append(_entry(ino, path, stat.S_IFCHR | 0o600, rdev=(major, minor)))
        ino += 1
    for path, (data, perm) in sorted(files.items()):
        parts.append(_entry(ino, path, stat.S_IFREG | perm, data))
        ino += 1
    parts.append(_entry(0, TRAILER, 0))
    return gzip.compress(b"".join(parts), compresslevel=1, mtime=0)
