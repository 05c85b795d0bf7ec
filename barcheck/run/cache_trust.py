"""Who may write where: the cache's files belong to this user alone, its parents are safe as ssh's StrictModes asks."""

from __future__ import annotations

import os
import stat
from pathlib import Path


class UntrustedCache(Exception):
    """The cache directory, something in it, or the key file is not safe to trust: one line, naming the path."""


def printable(text: str) -> str:
    """`text` with control characters (C0, DEL, C1) escaped, fit for one line on a terminal."""
    return "".join(f"\\x{ord(c):02x}" if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 else c for c in text)


def not_private(info: os.stat_result) -> tuple[str, str] | None:
    """(what is wrong, what to do) unless the file or directory belongs to this user alone."""
    if stat.S_ISLNK(info.st_mode):
        return "a symbolic link", "remove it"
    if info.st_uid != os.geteuid():
        return f"owned by uid {info.st_uid}, not by you (uid {os.geteuid()})", "remove it or use another directory"
    writers = _writers(info.st_mode)
    if writers:
        return f"writable by {writers} (mode {octal_mode(info)})", "chmod go-w it"
    return None


def require_private(info: os.stat_result, path: Path) -> None:
    problem = not_private(info)
    if problem:
        raise UntrustedCache(f"{printable(str(path))} is {problem[0]}; {problem[1]}")


def _require_safe_parent(path: Path) -> None:
    """ssh's StrictModes: owned by root or this user, and writable by nobody else unless sticky."""
    info = os.stat(path)
    if info.st_uid not in (0, os.geteuid()):
        raise UntrustedCache(f"{printable(str(path))} is owned by uid {info.st_uid}, neither you "
                             f"(uid {os.geteuid()}) nor root; use another directory")
    writers = _writers(info.st_mode)
    if writers and not info.st_mode & stat.S_ISVTX:
        raise UntrustedCache(f"{printable(str(path))} is writable by {writers} and not sticky "
                             f"(mode {octal_mode(info)}); chmod go-w it or use another directory")


def _writers(mode: int) -> str:
    return " and ".join(who for who, bit in (("group", stat.S_IWGRP), ("others", stat.S_IWOTH)) if mode & bit)


def octal_mode(info: os.stat_result) -> str:
    """The permission bits in octal, as chmod takes them (e.g. 0700)."""
    return f"{stat.S_IMODE(info.st_mode):04o}"


def private_directory(directory: Path) -> Path:
    """`directory`, resolved and created (0700) as needed, after checking it and its parents."""
    path = Path(os.path.realpath(directory))
    for missing in reversed([p for p in (path, *path.parents) if not os.path.lexists(p)]):
        _require_safe_parent(missing.parent)
        try:
            os.mkdir(missing, 0o700)
        except FileExistsError:
            pass
    for parent in path.parents:
        _require_safe_parent(parent)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise UntrustedCache(f"{printable(str(path))} is not a directory")
    require_private(info, path)
    return path


def check_contents(directory: Path) -> None:
    """Every shard directory and entry file in the cache belongs to this user alone."""
    with os.scandir(directory) as entries:
        for entry in entries:
            info = entry.stat(follow_symlinks=False)
            require_private(info, Path(entry.path))
            if stat.S_ISDIR(info.st_mode):
                check_contents(Path(entry.path))
