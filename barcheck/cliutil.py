"""What every barcheck command shares: the usage error, the parser, atomic output files."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit code 2."""


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
    check_out_dir(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{filename}.", dir=directory)
    except OSError as err:
        raise UsageError(f"--out {str(directory)!r}: {err.strerror}") from None
    try:
        if isinstance(text, bytes):
            with os.fdopen(handle, "wb") as out:
                out.write(text)
        else:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, directory / filename)
    except OSError as err:
        Path(temp).unlink(missing_ok=True)
        raise UsageError(f"--out {str(directory / filename)!r}: {err.strerror}") from None
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return directory / filename


def _umask() -> int:
    """The process umask (mkstemp creates files 0600; reports get the usual permissions)."""
    current = os.umask(0o022)
    os.umask(current)
    return current
