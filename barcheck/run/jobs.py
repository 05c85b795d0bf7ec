"""Independent checks as picklable jobs, run in worker processes, with results in a fixed order.

A job names its property and policy instead of holding them, so a worker can
rebuild both and the cache can key on plain values.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence, TypeVar

if TYPE_CHECKING:
    from barcheck.engine.settings import EngineSettings


PAIR, RECORD, TRACE, VMA, ROUND_TRIP, MEASURE = "pair", "record", "trace", "vma", "round-trip", "measure"
ENGINES = (PAIR, RECORD, TRACE, VMA, ROUND_TRIP, MEASURE)


@dataclass(frozen=True, slots=True)
class Job:
    engine: str
    prop_id: str
    policy_name: str
    page_bytes: int
    settings: EngineSettings
    """The view of the run's `RunSettings` this job's engine reads."""
    devices: int = 0
    """Device slots of the structure, for trace and vma jobs."""

    def group(self) -> tuple:
        """Jobs of one group run in one worker, in order: trace and vma checks of one policy,
        structure and page share their (memoised) inductive step across properties, and trace
        checks across the page sizes of their page family too."""
        if self.engine in (TRACE, VMA):
            family = getattr(self.settings, "page_family", ())
            pages = family if self.page_bytes in family else self.page_bytes
            return (self.engine, self.policy_name, pages, self.devices, self.settings)
        return (self,)


Outcome = Any
"""A `Result`, or for a measure job the tuple of its `Measure` rows."""


def execute(job: Job) -> Outcome:
    """Run one job in this process (with user policy files watched for operator misuse)."""
    from barcheck.run.userpolicy import WORKER_ERRORS, watching_policy_files
    if WORKER_ERRORS:
        from barcheck.inputs.errors import UsageError
        raise UsageError(f"--policy: {WORKER_ERRORS[0]}")
    with watching_policy_files():
        return _dispatch(job)


def _dispatch(job: Job) -> Outcome:
    from model.policies import get_policy
    return run_with_policy(job, get_policy(job.policy_name))


def run_with_policy(job: Job, policy: Any) -> Outcome:
    """Run one job's engine on a policy object (the one `job.policy_name` names, or a stand-in for it)."""
    runner = _RUNNERS.get(job.engine)
    if runner is None:
        raise ValueError(f"unknown engine {job.engine!r}")
    return runner(job, policy)


_View = TypeVar("_View")


def _view(job: Job, kind: type[_View]) -> _View:
    """The job's settings, which must be the view its engine reads."""
    if not isinstance(job.settings, kind):
        raise TypeError(f"a {job.engine} job carries {type(job.settings).__name__}, not {kind.__name__}")
    return job.settings


def _pair(job: Job, policy: Any) -> Outcome:
    from barcheck.engine.checker import Settings, check
    from properties import get_property
    return check(get_property(job.prop_id), policy, job.page_bytes, _view(job, Settings))


def _record(job: Job, policy: Any) -> Outcome:
    from barcheck.engine.recordcheck import RecordSettings, check_record
    from properties import RECORD_PROPERTIES
    return check_record(RECORD_PROPERTIES[job.prop_id], policy, job.page_bytes, _view(job, RecordSettings))


def _trace(job: Job, policy: Any) -> Outcome:
    from barcheck.engine.tracecheck import TraceSettings, check_trace
    from model.system import standard_structure
    from properties.trace import TRACE_PROPERTIES
    return check_trace(TRACE_PROPERTIES[job.prop_id], policy, standard_structure(job.devices), job.page_bytes,
                       _view(job, TraceSettings))


def _mapping(job: Job, policy: Any) -> Outcome:
    from barcheck.engine.vmacheck import VmaSettings, check_vma
    from model.vma import vma_structure
    from properties.revoke import VMA_PROPERTIES
    return check_vma(VMA_PROPERTIES[job.prop_id], policy, vma_structure(job.devices), job.page_bytes,
                     _view(job, VmaSettings))


def _round_trip(job: Job, policy: Any) -> Outcome:
    from barcheck.engine.pgoffcheck import RoundTripSettings, check_round_trip
    return check_round_trip(policy, job.page_bytes, _view(job, RoundTripSettings))


def _measure(job: Job, policy: Any) -> Outcome:
    from barcheck.engine.msixmeasure import MeasureSettings, measure
    return tuple(measure(policy, job.page_bytes, _view(job, MeasureSettings)))


_RUNNERS: dict[str, Callable[[Job, Any], Outcome]] = {
    PAIR: _pair, RECORD: _record, TRACE: _trace, VMA: _mapping, ROUND_TRIP: _round_trip, MEASURE: _measure}


Progress = Callable[[int, int, Job, Outcome, bool], None]
"""Called as (done, total, job, outcome, cached) after each job, in job order."""


def execute_group(jobs: Sequence[Job]) -> list[Outcome]:
    return [execute(job) for job in jobs]


Executor = Callable[[list[list[Job]], int], Iterator[list[Outcome]]]
"""Runs batches (given a worker count) and yields each batch's outcomes, in batch order."""


class Workers(int):
    """`--jobs N`, with the executor to run the batches on when it is not the local process pool
    (barcheck/run/dask_executor.py for `--scheduler`)."""

    executor: Executor | None

    def __new__(cls, count: int, executor: Executor | None = None) -> Workers:
        workers = super().__new__(cls, count)
        workers.executor = executor
        return workers


def run_jobs(jobs: Sequence[Job], workers: int, cache=None, progress: Progress | None = None) -> list[Outcome]:
    """Every job's outcome, in the order of `jobs`, whatever order the workers finish in.

    `workers` is a count, or a `Workers` whose executor runs the batches instead of the local pool."""
    results: list[Outcome | None] = [cache.get(job) if cache else None for job in jobs]
    done = 0
    for index, result in enumerate(results):
        if result is not None:
            done += 1
            if progress:
                progress(done, len(jobs), jobs[index], result, True)
    groups: dict[tuple, list[int]] = {}
    for index, result in enumerate(results):
        if result is None:
            groups.setdefault(jobs[index].group(), []).append(index)
    batches = list(groups.values())
    for batch, solved in zip(batches, _solve([[jobs[i] for i in batch] for batch in batches], workers)):
        for index, result in zip(batch, solved):
            results[index] = result
            if cache:
                cache.put(jobs[index], result)
            done += 1
            if progress:
                progress(done, len(jobs), jobs[index], result, False)
    return results


def _solve(batches: list[list[Job]], workers: int) -> Iterator[list[Outcome]]:
    executor = getattr(workers, "executor", None)
    if executor is not None:
        yield from executor(batches, int(workers))
        return
    if workers <= 1 or len(batches) <= 1:
        yield from map(execute_group, batches)
        return
    from barcheck.engine.signals import sigint_blocked
    from barcheck.run.userpolicy import loaded_files
    order = heaviest_first(batches)
    pool = None
    try:
        start_resource_tracker()
        with sigint_blocked():  # workers are born with SIGINT blocked: Ctrl-C is the parent's to handle
            pool = multiprocessing.get_context("spawn").Pool(min(workers, len(batches)), start_worker,
                                                             (os.getpid(), loaded_files()))
        yield from _in_order(pool.imap(execute_group, [batches[i] for i in order]), order)
    finally:
        if pool is not None:
            pool.terminate()


HEAVY_ENGINES = (TRACE, VMA, MEASURE)
"""Engines whose checks take seconds each: their batches start first, so no worker is left
with a long batch while the others idle at the end."""


def heaviest_first(batches: list[list[Job]]) -> list[int]:
    """Batch indices in the order to start them: heavy engines first, longer batches first, else as given."""
    return sorted(range(len(batches)),
                  key=lambda i: (batches[i][0].engine not in HEAVY_ENGINES, -len(batches[i]), i))


def _in_order(solved: Iterator[list[Outcome]], order: list[int]) -> Iterator[list[Outcome]]:
    """Outcomes produced in `order`, yielded in the batches' own order as soon as each is next."""
    waiting: dict[int, list[Outcome]] = {}
    next_index = 0
    for index, outcome in zip(order, solved):
        waiting[index] = outcome
        while next_index in waiting:
            yield waiting.pop(next_index)
            next_index += 1


def start_resource_tracker() -> None:
    """Start multiprocessing's helper process now, as starting it later would unblock SIGINT in this thread;
    and without stderr, where it would warn about the semaphores of a pool that an interrupt ended."""
    if os.name != "posix":
        return
    from multiprocessing import resource_tracker
    saved_fd, null_fd = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null_fd, 2)
        resource_tracker.ensure_running()
    finally:
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        os.close(null_fd)


def start_worker(parent_pid: int, policy_files: tuple) -> None:
    """Pool initializer: ignore Ctrl-C, die with the parent, load the parent's user policies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent_pid)
    from barcheck.engine.ctrl_c import leave_ctrl_c_to_barcheck
    leave_ctrl_c_to_barcheck()
    from barcheck.run.userpolicy import load_in_worker
    load_in_worker(policy_files)


PR_SET_PDEATHSIG = 1
PARENT_POLL_SECONDS = 0.2


def die_with_parent(parent_pid: int) -> None:
    """End this process as soon as `parent_pid` is gone, even if it was killed with SIGKILL."""
    if not _kill_me_when_parent_dies():
        _watch_parent(parent_pid)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _kill_me_when_parent_dies() -> bool:
    """Linux: the kernel sends SIGKILL to this process when its parent exits."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (AttributeError, OSError):
        return False


def _watch_parent(parent_pid: int) -> None:
    """Elsewhere: a thread that notices the parent is gone (this process is then re-parented)."""
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)
    threading.Thread(target=watch, name="barcheck-parent-watch", daemon=True).start()
