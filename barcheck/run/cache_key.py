"""The per-user secret key that signs cache entries (~/.cache/barcheck/cache-key): made once, checked on every read."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from barcheck.run.cache_trust import UntrustedCache, not_private, octal_mode, printable, private_directory

KEY_BYTES = 32


def user_key_path() -> Path:
    """`$XDG_CACHE_HOME/barcheck/cache-key` (an absolute XDG_CACHE_HOME only), else `~/.cache/barcheck/cache-key`."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "barcheck" / "cache-key"


def load_user_key(path: Path) -> bytes:
    """The user's secret MAC key, made (32 random bytes, mode 0600) if there is none yet."""
    path = private_directory(path.parent) / path.name
    try:
        return _read_key(path)
    except FileNotFoundError:
        _create_key(path)
    return _read_key(path)


def _create_key(path: Path) -> None:
    """Publish a complete key under `path` atomically: the loser of a race keeps the winner's key."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".cache-key-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(os.urandom(KEY_BYTES))
            out.flush()
            os.fsync(out.fileno())
        os.link(temporary, path)
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: create in place, exclusively
        _create_key_in_place(path)
    finally:
        os.unlink(temporary)


def _create_key_in_place(path: Path) -> None:
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    with os.fdopen(handle, "wb") as out:
        out.write(os.urandom(KEY_BYTES))


def _read_key(path: Path) -> bytes:
    shown = f"key file {printable(str(path))}"
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UntrustedCache(f"{shown} is a symbolic link; remove it") from None
        raise UntrustedCache(f"{shown}: {err.strerror}") from None
    info = os.fstat(handle)
    if not stat.S_ISREG(info.st_mode):
        os.close(handle)
        raise UntrustedCache(f"{shown} is not a regular file; remove it")
    with os.fdopen(handle, "rb") as key_file:
        problem = not_private(info)
        if problem:
            raise UntrustedCache(f"{shown} is {problem[0]}; {problem[1]}")
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise UntrustedCache(f"{shown} is open to group or others (mode {octal_mode(info)}); chmod 600 it")
        key = key_file.read(KEY_BYTES + 1)
    if len(key) != KEY_BYTES:
        raise UntrustedCache(f"{shown} does not hold {KEY_BYTES} bytes; remove it "
                             "(entries made with it will be solved again)")
    return key
