"""The `barcheck` executable: host and survey take a light path that never loads the solver.

Ctrl-C handling comes first, before anything heavy is imported (see barcheck/cli/interrupt.py).
"""

from __future__ import annotations

import os
import sys

EXIT_INTERRUPTED = 130


def run() -> None:
    finishing = None
    try:
        from barcheck.cli import interrupt
        interrupt.install()
        finishing = interrupt.finishing
        code = _main(sys.argv[1:])
        finishing()
    except KeyboardInterrupt:
        if finishing is not None:
            finishing()
        code = _report_interrupt()
    if code == EXIT_INTERRUPTED:
        _exit_interrupted()
    _flush()
    _hold_sigint()
    sys.exit(code)


def _hold_sigint() -> None:
    """The command is done and its output flushed: a Ctrl-C from here on is held, not delivered.
    Interpreter shutdown restores SIGINT's default action, which would end the process by the
    signal instead of with the command's exit code."""
    import signal
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def _report_interrupt() -> int:
    interrupt = sys.modules.get("barcheck.cli.interrupt")
    if interrupt is not None:
        return interrupt.report(sys.stderr)
    sys.stderr.write("barcheck: interrupted\n")
    return EXIT_INTERRUPTED


def _exit_interrupted() -> None:
    """End now that the interrupt is handled and reported.  Exiting normally is not enough: after a
    KeyboardInterrupt passed through code that a C extension ran, the interpreter kills itself with SIGINT
    at exit instead of exiting 130."""
    _flush()
    os._exit(EXIT_INTERRUPTED)


def _main(argv: list[str]) -> int:
    if argv and argv[0] in ("host", "survey"):
        from barcheck.cli.host import main as main_host
        return main_host(argv, sys.stdout, sys.stderr)
    from barcheck.engine.ctrl_c import leave_ctrl_c_to_barcheck
    leave_ctrl_c_to_barcheck()
    from barcheck.cli.main import main as main_full
    return main_full(argv, sys.stdout, sys.stderr)
