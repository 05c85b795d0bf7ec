"""Options shared by every command that runs many checks: worker processes, the cache, progress."""

from __future__ import annotations

import argparse
import os
from typing import Any, Callable, TextIO

from barcheck.cli.util import UsageError
from barcheck.run.jobs import Job, Workers
from barcheck.engine.verdict import Result

PROGRESS_MODES = ("auto", "lines", "none")


def default_jobs() -> int:
    return os.cpu_count() or 1


def add_run_arguments(parser: argparse.ArgumentParser, positive: Callable[[str], int]) -> None:
    parser.add_argument("--jobs", type=positive, default=default_jobs(), metavar="N", action=_JobsAction,
                        help="worker processes for independent checks (default: one per core); "
                             "the output does not depend on it")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS", action=_SchedulerAction,
                        help="run the checks on a Dask cluster: a scheduler address such as tcp://10.0.0.5:8786, "
                             "or local for a cluster of --jobs processes on this machine (needs the dask extra); "
                             "the output does not depend on it")
    parser.add_argument("--cache", metavar="DIR",
                        help="reuse results from DIR, keyed by the z3 version, the model sources and every "
                             "setting; cached counterexamples are replayed again")
    parser.add_argument("--verdicts-only", action="store_true",
                        help="decide each check and skip the explanation work: a proof lists every assumption "
                             "in force instead of a minimal core, and a counterexample is the solver's first "
                             "model (still replayed) instead of the canonical one")
    parser.add_argument("--progress", choices=PROGRESS_MODES, default="auto",
                        help="report each finished check on stderr: auto (one updating line on a terminal), "
                             "lines (one line per check) or none")


class _JobsAction(argparse.Action):
    """`--jobs N` keeps the executor of a `--scheduler` given before it."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, Workers(values, getattr(namespace.jobs, "executor", None)))


class _SchedulerAction(argparse.Action):
    """`--scheduler ADDRESS` travels with the worker count, which is what reaches `run_jobs`."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        address = str(values)
        if not address.strip():
            raise UsageError("--scheduler: give a Dask scheduler address (tcp://HOST:PORT) or local")
        from barcheck.run.dask_executor import DaskExecutor, check_scheduler
        check_scheduler(address)
        setattr(namespace, self.dest, address)
        namespace.jobs = Workers(namespace.jobs, DaskExecutor(address))


def open_cache_option(directory: str | None):
    """The `--cache DIR` cache; a directory or key file that is unsafe to trust is a usage error."""
    if directory is None:
        return None
    from barcheck.run.cache import UntrustedCache, open_cache, printable
    try:
        return open_cache(directory)
    except UntrustedCache as err:
        raise UsageError(f"--cache {printable(directory)}: {err}") from None
    except OSError as err:
        shown = f": {printable(err.filename)}" if isinstance(err.filename, str) and err.filename != directory else ""
        raise UsageError(f"--cache {printable(directory)}{shown}: {err.strerror or err}") from None


def progress_printer(args: argparse.Namespace, stderr: TextIO):
    """The progress callback `args.progress` asks for, or None."""
    mode = args.progress
    if mode == "auto":
        mode = "tty" if _isatty(stderr) else "none"
    if mode == "none":
        return None

    def report(done: int, total: int, job: Job, outcome: Any, cached: bool) -> None:
        if isinstance(outcome, Result):
            what = outcome.verdict.value + (" (cached)" if cached else f" {outcome.seconds:.2f}s")
        else:
            what = f"measured {len(outcome)} rows" + (" (cached)" if cached else "")
        line = (f"[{done:>{len(str(total))}}/{total}] {job.prop_id} {job.policy_name} "
                f"{_page(job.page_bytes)}: {what}")
        if mode == "tty":
            stderr.write("\r\x1b[K" + line + ("\n" if done == total else ""))
        else:
            stderr.write(line + "\n")
        stderr.flush()

    return report


def _page(page_bytes: int) -> str:
    from model.units import size_name
    return size_name(page_bytes)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
