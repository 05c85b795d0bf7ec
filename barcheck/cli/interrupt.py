"""Ctrl-C ends barcheck with exit code 130 and one line, at any moment, never with a traceback.

`install()` runs first in the `barcheck` executable, before any heavy import.  The first
SIGINT raises KeyboardInterrupt in the main thread, so `finally` blocks and context
managers clean up and the command reports it.  Two things can defeat that, and a
watcher thread covers both: the main thread may be inside a long call into z3 (ctypes
releases the GIL, so the watcher still runs, but the Python handler waits for the call to
return), or unwinding may take too long.  The watcher then runs the registered
cleanups (see `on_interrupt`), writes the message and ends the process.  A second
SIGINT, or one after the command has finished, ends the process the same way at once.

z3 would catch SIGINT itself during a check and answer UNKNOWN; barcheck.engine.ctrl_c turns that off.
Worker processes are born with SIGINT blocked and ignore it (barcheck/run/jobs.py): Ctrl-C is the parent's.
Only the standard library is imported here, so installing costs nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Callable, Iterator, TextIO

from barcheck.engine.signals import sigint_blocked

EXIT_INTERRUPTED = 130
MESSAGE = "barcheck: interrupted\n"
STUCK_SECONDS = 0.25
"""How long the main thread may take to start handling SIGINT before the watcher ends the process."""
UNWIND_SECONDS = 3.0
"""How long the main thread may take to clean up after it started handling SIGINT."""


class _State:
    installed = False
    finishing = False
    interrupting = False
    reported = False
    handling = threading.Event()
    exit_lock = threading.RLock()
    cleanups: list[Callable[[], None]] = []
    cleanups_lock = threading.RLock()


def install() -> None:
    """Take over SIGINT for this process (main thread only; once)."""
    if _State.installed or threading.current_thread() is not threading.main_thread():
        return
    _State.installed = True
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    with sigint_blocked():
        threading.Thread(target=_watch, args=(read_fd,), name="barcheck-sigint", daemon=True).start()
        signal.signal(signal.SIGINT, _on_sigint)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    previous_hook = sys.unraisablehook

    def unraisable(info) -> None:
        if isinstance(info.exc_value, KeyboardInterrupt):
            _exit_now()
        previous_hook(info)
    sys.unraisablehook = unraisable


def finishing() -> None:
    """The command is done: from now on SIGINT ends the process at once, without unwinding."""
    _State.finishing = True


def report(stream: TextIO) -> int:
    """Say the command was interrupted; returns the exit code."""
    with _State.exit_lock, contextlib.suppress(OSError, ValueError):
        stream.write(MESSAGE)
        stream.flush()
        _State.reported = True
    return EXIT_INTERRUPTED


@contextlib.contextmanager
def on_interrupt(cleanup: Callable[[], None]) -> Iterator[None]:
    """Run `cleanup` if the process is ended by SIGINT while inside this block without unwinding it.

    The cleanup may run in another thread than the block's and must not raise.
    """
    with _State.cleanups_lock:
        _State.cleanups.append(cleanup)
    try:
        yield
    finally:
        with _State.cleanups_lock:
            _State.cleanups.remove(cleanup)



def _on_sigint(signum, frame) -> None:
    if _State.finishing or _State.interrupting:
        _exit_now()
    _State.interrupting = True
    _State.handling.set()
    raise KeyboardInterrupt


def _watch(read_fd: int) -> None:
    while True:
        try:
            data = os.read(read_fd, 64)
        except InterruptedError:
            continue
        except OSError:
            return
        if not data:
            return
        if signal.SIGINT in data:
            break
    if not _State.handling.wait(STUCK_SECONDS):
        _exit_now()
    threading.Event().wait(UNWIND_SECONDS)
    _exit_now()


def _exit_now() -> None:
    """Clean up what was registered, say so, and end the process without unwinding."""
    _State.exit_lock.acquire()
    with _State.cleanups_lock:
        cleanups = list(reversed(_State.cleanups))
    for cleanup in cleanups:
        with contextlib.suppress(BaseException):
            cleanup()
    if not _State.reported:
        with contextlib.suppress(OSError):
            os.write(2, MESSAGE.encode())
    os._exit(EXIT_INTERRUPTED)
