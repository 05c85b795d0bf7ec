"""Which source files are the user's (a policy file or its helper modules), and lines in them."""

from __future__ import annotations

import functools
import importlib.util
import sysconfig
from pathlib import Path


def line_in(err: BaseException, path: str) -> int | None:
    """The last line of `path` in the exception's traceback."""
    line, tb = None, err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    if line is None and isinstance(err, SyntaxError) and err.filename == path:
        line = err.lineno
    return line


def is_users_file(filename: str) -> bool:
    """A file that is neither barcheck's model and engine, nor installed (z3 included), nor the standard
    library's: a policy file or a helper module of one."""
    if filename.startswith("<"):
        return False
    resolved = Path(filename).resolve()
    return not any(resolved.is_relative_to(root) for root in _trusted_roots())


@functools.cache
def _trusted_roots() -> tuple[Path, ...]:
    own = [Path(__file__).resolve().parents[2] / part for part in ("model", "properties", "barcheck")]
    installed = [Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "platstdlib", "purelib", "platlib")]
    z3_spec = importlib.util.find_spec("z3")
    z3_dir = [Path(z3_spec.origin).resolve().parent] if z3_spec and z3_spec.origin else []
    return tuple(own + installed + z3_dir)
