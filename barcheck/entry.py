"""The `barcheck` executable: host and survey take a light path that never loads the solver."""

from __future__ import annotations

import sys


def run() -> None:
    argv = sys.argv[1:]
    if argv and argv[0] in ("host", "survey"):
        from barcheck.cli_host import run as run_host
        run_host()
    from barcheck.cli import run as run_full
    run_full()
