"""What every barcheck command shares: the usage error, the parser, atomic output files."""

from __future__ import annotations

import argparse
import contextlib
import errno
import itertools
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Mapping

from barcheck.cli.interrupt import on_interrupt
from barcheck.inputs.errors import UsageError


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def check_out_dir(directory: Path) -> None:
    """Reject an unusable --out before any work starts."""
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise UsageError(f"--out {str(directory)!r}: {str(candidate)!r} exists and is not a directory")
            if not os.access(candidate, os.W_OK):
                raise UsageError(f"--out {str(directory)!r}: {str(candidate)!r} is not writable")
            return


def write_atomically(directory: Path, filename: str, text: str | bytes) -> Path:
    """Write via a temporary file and rename, so no half-written report is ever left."""
    (path,) = write_files_atomically(directory, {filename: text})
    return path


def write_files_atomically(directory: Path, files: Mapping[str, str | bytes], nested: bool = False) -> list[Path]:
    """Write every file into `directory`, or none of them.

    Every name is checked first (no path separator, unless `nested` allows relative paths of plain
    names; not longer than the file system allows); every file is written to a temporary beside its
    target; only then are they all renamed into place.  On any failure, or an interrupt, the temporaries
    are removed and the files this call already replaced are put back as they were.  Errors are a
    `UsageError` naming the file.
    """
    check_out_dir(directory)
    targets = [(_checked_target(directory, name, nested), text) for name, text in files.items()]
    batch = _Batch(directory)
    with on_interrupt(batch.undo):
        try:
            for target, text in targets:
                batch.stage(target, text)
            batch.commit()
        except OSError as err:
            batch.undo()
            raise UsageError(f"--out {_shown(batch.failed_at or directory)}: {err.strerror or err}") from None
        except BaseException:
            batch.undo()
            raise
    return [target for target, _ in targets]


MAX_NAME_BYTES = 255
"""NAME_MAX where the file system does not say."""
UNDO_WAIT_SECONDS = 1.0


def _checked_target(directory: Path, name: str, nested: bool) -> Path:
    parts = name.split("/") if nested else [name]
    for part in parts:
        separators = {"/", os.sep, os.altsep or "/", "\0"} & set(part)
        if not part or part in (".", "..") or separators:
            raise UsageError(f"--out {_shown(directory)}: {_shown(name)} is not a plain file name"
                             + (" (it contains a path separator)" if separators - {"\0"} else ""))
        size_bytes, limit_bytes = len(os.fsencode(part)), _name_max(directory)
        if size_bytes > limit_bytes:
            raise UsageError(f"--out {_shown(directory)}: file name {_shown(part, 60)} is too long "
                             f"({size_bytes} bytes; the file system allows {limit_bytes})")
    return directory.joinpath(*parts)


def _name_max(directory: Path) -> int:
    existing = next((p for p in (directory, *directory.parents) if p.exists()), Path("."))
    try:
        return os.pathconf(existing, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):
        return MAX_NAME_BYTES


def _shown(path: Path | str, max_chars: int = 120) -> str:
    from barcheck.inputs.textsafe import excerpt
    return excerpt(str(path), max_chars)


_BACKUP_NUMBERS = itertools.count()
"""Backups of one batch stay until it commits, so each takes a new number (a batch may replace hundreds)."""


def _same_file(a: Path, b: Path) -> bool:
    """Both names are links to one file: the rename that would have replaced `b` never happened."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


class _Batch:
    """Temporaries written, targets replaced (with what they replaced), and how to undo them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.lock = threading.RLock()
        self.made_dirs: list[Path] = []
        self.staged: list[tuple[Path, Path]] = []
        self.replaced: list[tuple[Path, Path | None]] = []
        self.failed_at: Path | None = None

    def stage(self, target: Path, text: str | bytes) -> None:
        with self.lock:
            self.failed_at = target
            self._make_dirs(target.parent)
            handle, temp = tempfile.mkstemp(prefix=".barcheck-", suffix=".tmp", dir=target.parent)
            self.staged.append((target, Path(temp)))
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temp, 0o666 & ~_umask())

    def commit(self) -> None:
        for target, temp in self.staged:
            with self.lock:
                self.failed_at = target
                backup = self._backup(target)
                self.replaced.append((target, backup))
                os.replace(temp, target)
        with self.lock:
            for _, backup in self.replaced:
                if backup is not None:
                    _remove(backup)
            self.staged, self.replaced = [], []

    def undo(self) -> None:
        """Put the directory back as it was (best effort; safe to call twice and from another thread).

        From another thread, it waits a moment for the step in progress; a step stuck longer is not waited for.
        """
        locked = self.lock.acquire(timeout=UNDO_WAIT_SECONDS)
        try:
            for target, backup in reversed(self.replaced):
                with contextlib.suppress(OSError):
                    if backup is not None and _same_file(backup, target):
                        _remove(backup)
                    elif backup is not None:
                        os.replace(backup, target)
                    elif not target.is_dir() or target.is_symlink():
                        target.unlink(missing_ok=True)
            for _, temp in self.staged:
                _remove(temp)
            for made in reversed(self.made_dirs):
                with contextlib.suppress(OSError):
                    made.rmdir()
            self.staged, self.replaced, self.made_dirs = [], [], []
        finally:
            if locked:
                self.lock.release()

    def _make_dirs(self, directory: Path) -> None:
        missing = [d for d in (directory, *directory.parents) if not d.exists()]
        for made in reversed(missing):
            try:
                made.mkdir()
            except FileExistsError:
                continue
            self.made_dirs.append(made)

    @staticmethod
    def _backup(target: Path) -> Path | None:
        """A hard link to the file the rename will replace, so undo can put it back."""
        if not target.is_symlink() and not target.is_file():
            return None
        for _ in range(100):
            backup = target.parent / f".barcheck-{os.getpid()}-{next(_BACKUP_NUMBERS)}.old"
            try:
                os.link(target, backup, follow_symlinks=False)
                return backup
            except FileExistsError:
                continue
            except OSError:
                return _copy_aside(target, backup)
        raise FileExistsError(errno.EEXIST, "no free name for a backup", str(target))


def _copy_aside(target: Path, backup: Path) -> Path:
    """Where the file system has no hard links: a copy, created exclusively."""
    with open(target, "rb") as source, open(backup, "xb") as copy:
        shutil.copyfileobj(source, copy)
    shutil.copystat(target, backup)
    return backup


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _umask() -> int:
    """The process umask (mkstemp creates files 0600; reports get the usual permissions)."""
    current = os.umask(0o022)
    os.umask(current)
    return current
