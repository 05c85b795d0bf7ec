"""Reading an input file that may be hostile: regular files only, never more than a size limit.

A FIFO, a socket or a device (`--lspci /dev/zero`, a symlink to one in a survey directory)
would block or never end; it is refused before anything is read.  The file is checked with
stat() before it is opened (opening some devices has effects), opened with O_NONBLOCK (so
that a FIFO swapped in meanwhile cannot block the open) and checked again with fstat() on
the open descriptor.  At most `max_bytes` are read: the st_size of /proc files is 0, so the
limit is enforced on the bytes actually read, not only on st_size.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

from barcheck.inputs.textsafe import escape_control
from model.units import MIB, SizeError, parse_size, size_name

DEFAULT_MAX_INPUT_BYTES = 64 * MIB
"""Twice the largest kernel log buffer (CONFIG_LOG_BUF_SHIFT is at most 25: 32 MiB), and several
times an `lspci -vvv` of a server with thousands of SR-IOV functions (a few KiB each)."""
MAX_LIMIT_BYTES = 1 << 40
_CHUNK_BYTES = 1 * MIB
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


class InputFileError(ValueError):
    """An input file that cannot be read safely; `reason` says why, without the path."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{escape_control(path)}: {reason}")
        self.path, self.reason = path, reason


class InputTooLarge(InputFileError):
    """Over the size limit: the caller may add how to raise it."""


def read_regular_file(path: str, max_bytes: int = DEFAULT_MAX_INPUT_BYTES) -> bytes:
    """The bytes of a regular file of at most `max_bytes`; InputFileError for anything else."""
    _check_kind(path, _stat(path))
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as err:
        raise InputFileError(path, _cannot_read(err)) from None
    try:
        info = os.fstat(fd)
        _check_kind(path, info)
        _check_size(path, info.st_size, max_bytes)
        return _read_at_most(path, fd, max_bytes)
    finally:
        os.close(fd)


def is_regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def parse_max_bytes(text: str) -> int:
    """A size limit from `64M`, `1G` or `1048576`; ValueError with the reason."""
    if len(text) > 40:
        raise ValueError(f"{len(text)} characters is not a size (expected e.g. 64M or 1G)")
    try:
        value = parse_size(text)
    except SizeError as err:
        raise ValueError(str(err)) from None
    if not 1 <= value <= MAX_LIMIT_BYTES:
        raise ValueError(f"{escape_control(text)!r} is not between 1 byte and {size_name(MAX_LIMIT_BYTES)}")
    return value


def _stat(path: str) -> os.stat_result:
    try:
        return os.stat(path)
    except (OSError, ValueError) as err:
        raise InputFileError(path, _cannot_read(err)) from None


def _check_kind(path: str, info: os.stat_result) -> None:
    mode = info.st_mode
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise InputFileError(path, "is a directory, not a file")
    raise InputFileError(path, f"is a {_kind(mode)}, not a regular file: save its contents to a file first")


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISCHR, "character device"),
             (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))
    return next((name for test, name in kinds if test(mode)), "special file")


def _check_size(path: str, size_bytes: int, max_bytes: int) -> None:
    if size_bytes > max_bytes:
        raise InputTooLarge(path, f"is {size_bytes} bytes, over the input size limit of {_limit_name(max_bytes)}")


def _read_at_most(path: str, fd: int, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        try:
            chunk = os.read(fd, min(_CHUNK_BYTES, max_bytes + 1 - total))
        except OSError as err:
            raise InputFileError(path, _cannot_read(err)) from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            raise InputTooLarge(path, f"is over the input size limit of {_limit_name(max_bytes)}")


def _limit_name(max_bytes: int) -> str:
    name = size_name(max_bytes)
    return f"{name} bytes" if name.isdigit() else f"{name} ({max_bytes} bytes)"


def _cannot_read(err: Exception) -> str:
    if isinstance(err, OSError) and err.errno == errno.EAGAIN:
        return "cannot read: it would block (not a regular file's behaviour): save its contents to a file first"
    if isinstance(err, OSError) and err.strerror:
        return f"cannot read: {err.strerror}"
    return f"cannot read: {escape_control(str(err))}"


def nesting_depth(data: Any, limit: int) -> int:
    """How deep the dicts and lists of parsed TOML or JSON nest (without recursion); counting stops just
    past `limit`."""
    deepest, todo = 0, [(data, 1)]
    while todo:
        node, depth = todo.pop()
        if not isinstance(node, (dict, list)):
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        todo += [(child, depth + 1) for child in (node.values() if isinstance(node, dict) else node)]
    return deepest
