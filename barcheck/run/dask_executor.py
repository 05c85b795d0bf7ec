"""Run batches of jobs on a Dask cluster: `--scheduler ADDRESS`, or `--scheduler local` for a LocalCluster.

Each batch (jobs that must share a worker, in order) is one task, and results are taken back in batch
order, so the caller sees exactly what the local process pool gives.  Dask is an optional extra:
nothing here imports it until a run asks for a scheduler.

A task also returns its worker's fingerprint (barcheck's version, z3's, and the digest of the sources
that decide a verdict); a worker that differs from this process is refused rather than trusted.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import threading
from concurrent.futures import CancelledError
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from barcheck.run.jobs import Job, Outcome, execute_group
from barcheck.inputs.errors import UsageError
from barcheck.inputs.textsafe import escape_control

LOCAL = "local"
CONNECT_TIMEOUT_SECONDS = 10.0
"""How long to wait for the scheduler to answer, and for a remote cluster to have a worker."""
MISSING_DASK = "--scheduler needs the optional dask extra: pip install 'barcheck[dask]'"
MISSING_TLS = "--scheduler local needs the cryptography package (from the dask extra): pip install 'barcheck[dask]'"


def require_dask() -> Any:
    """The `distributed` module, or a one-line usage error saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise UsageError(MISSING_DASK) from None
    except Exception as err:  # noqa: BLE001 -- a broken install must still be one line
        raise UsageError(f"--scheduler: importing dask failed: {type(err).__name__}: {err}") from None
    return distributed


def check_scheduler(address: str) -> None:
    """What can be checked of `--scheduler ADDRESS` before connecting: dask is installed, the address is well formed."""
    require_dask()
    if address != LOCAL:
        _check_address(address, escape_control(address))


@dataclass(frozen=True)
class DaskExecutor:
    """The `jobs.Executor` of `--scheduler ADDRESS`."""

    address: str

    def __call__(self, batches: Sequence[Sequence[Job]], workers: int) -> Iterator[list[Outcome]]:
        return solve_on_dask(batches, workers, self.address)


def solve_on_dask(batches: Sequence[Sequence[Job]], workers: int, address: str) -> Iterator[list[Outcome]]:
    """Each batch's outcomes, in batch order; `workers` is the size of a `local` cluster."""
    if not batches:
        return
    distributed = require_dask()
    shown = escape_control(address)
    with _connected(distributed, address, min(workers, len(batches)), shown) as client:
        outcomes = _outcomes_in_order(distributed, client, batches, shown)
        for _ in range(len(batches) - 1):
            yield next(outcomes)
        last = next(outcomes)
    yield last  # after closing the cluster: leaving the `with` before this point means the run was cut short


def _outcomes_in_order(distributed: Any, client: Any, batches: Sequence[Sequence[Job]],
                       shown: str) -> Iterator[list[Outcome]]:
    from barcheck.run.userpolicy import loaded_files
    expected = code_fingerprint()
    _check_workers(client, expected, shown)
    futures = [client.submit(run_batch, list(batch), loaded_files(), pure=False) for batch in batches]
    for index, future in enumerate(futures):
        fingerprint, outcomes = _result(distributed, future, shown)
        futures[index] = None
        _require_same_code(fingerprint, expected, shown)
        yield outcomes


def _check_workers(client: Any, expected: tuple[str, ...], shown: str) -> None:
    """Ask the workers there now for their fingerprint, so that a wrong install fails before any work
    (a worker that joins later is checked by its first result)."""
    try:
        fingerprints = client.run(worker_fingerprint)
    except Exception as err:  # noqa: BLE001 -- e.g. a worker without barcheck cannot load the function
        raise UsageError(f"--scheduler {shown}: a Dask worker cannot run barcheck: {_reason(err)}") from None
    for fingerprint in fingerprints.values():
        _require_same_code(fingerprint, expected, shown)


def _require_same_code(fingerprint: tuple[str, ...], expected: tuple[str, ...], shown: str) -> None:
    if tuple(fingerprint) != expected:
        raise UsageError(f"--scheduler {shown}: a Dask worker runs other barcheck code ({_describe(fingerprint)}; "
                         f"here {_describe(expected)}): install the same barcheck and z3 on every worker")


@contextlib.contextmanager
def _connected(distributed: Any, address: str, local_workers: int, shown: str) -> Iterator[Any]:
    with _dask_logs_off():
        if address == LOCAL:
            with _local_cluster(distributed, local_workers) as client:
                yield client
            return
        client = _connect(distributed, address, shown)
        try:
            _wait_for_a_worker(client, shown)
            yield client
        finally:
            client.close()


@contextlib.contextmanager
def _dask_logs_off() -> Iterator[None]:
    """Dask logs what goes wrong (a lost scheduler, a killed worker) as tracebacks on stderr; barcheck
    reports it as one line instead.  barcheck itself does not log."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(previous)


@contextlib.contextmanager
def _local_cluster(distributed: Any, workers: int) -> Iterator[Any]:
    """A LocalCluster for the duration of the run.  Cut short (Ctrl-C, an error), its worker processes
    are killed first: closing it politely waits seconds for busy workers."""
    try:
        security = distributed.Security.temporary()
    except ImportError:
        raise UsageError(MISSING_TLS) from None
    with contextlib.ExitStack() as stack:
        client, worker_pids = _start_local(distributed, workers, security, stack)
        try:
            yield client
        except BaseException:
            _kill_children(worker_pids)
            raise


def _start_local(distributed: Any, workers: int, security: Any, stack: contextlib.ExitStack) -> tuple[Any, list[int]]:
    """`workers` single-threaded processes talking TLS on loopback with throwaway keys, so that no other
    user of the machine can submit work to them.  Its threads and processes are born with SIGINT blocked:
    Ctrl-C is the parent's (barcheck/cli/interrupt.py), as with the local pool."""
    from barcheck.run.jobs import start_resource_tracker
    from barcheck.engine.signals import sigint_blocked
    try:
        start_resource_tracker()
        with sigint_blocked():
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address="127.0.0.1:0", memory_limit=0, silence_logs=logging.CRITICAL, security=security))
            client = stack.enter_context(distributed.Client(cluster, set_as_default=False))
        return client, sorted(client.run(os.getpid).values())
    except (OSError, TimeoutError, RuntimeError) as err:
        raise UsageError(f"--scheduler local: could not start a local Dask cluster: {_reason(err)}") from None


def _kill_children(pids: list[int]) -> None:
    """SIGKILL each of `pids` that is still a child of this process."""
    import psutil
    for pid in pids:
        with contextlib.suppress(psutil.Error, OSError):
            if psutil.Process(pid).ppid() == os.getpid():
                os.kill(pid, signal.SIGKILL)


def _connect(distributed: Any, address: str, shown: str) -> Any:
    _check_address(address, shown)
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT_SECONDS, set_as_default=False)
    except Exception as err:  # noqa: BLE001 -- a bad address or a dead scheduler is the user's to fix
        raise UsageError(f"--scheduler {shown}: cannot reach the Dask scheduler within "
                         f"{CONNECT_TIMEOUT_SECONDS:g} s: {_reason(err)}") from None


def _check_address(address: str, shown: str) -> None:
    """Refuse a malformed address before Dask sees it (a client that fails that early cannot be closed)."""
    from distributed.comm.addressing import get_address_host_port
    if not address.isprintable() or any(char.isspace() for char in address):
        raise UsageError(f"--scheduler {shown}: not a Dask scheduler address (it holds spaces or control characters)")
    try:
        _, port = get_address_host_port(address)
    except ValueError as err:
        raise UsageError(f"--scheduler {shown}: not a Dask scheduler address ({err}): give SCHEME://HOST:PORT "
                         f"with tcp, tls, ws or wss, or local") from None
    if not 0 < port < 65536:
        raise UsageError(f"--scheduler {shown}: port {port} is out of range (1 to 65535)")


def _wait_for_a_worker(client: Any, shown: str) -> None:
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_SECONDS)
    except Exception as err:  # noqa: BLE001
        raise UsageError(f"--scheduler {shown}: no Dask worker joined within "
                         f"{CONNECT_TIMEOUT_SECONDS:g} s: {_reason(err)}") from None


def _result(distributed: Any, future: Any, shown: str) -> tuple[tuple[str, ...], list[Outcome]]:
    """A task's result; an exception the task raised is raised again as it is, as with the local pool."""
    try:
        return future.result()
    except distributed.KilledWorker as err:
        raise UsageError(f"--scheduler {shown}: a Dask worker died running checks: {_reason(err)}") from None
    except (CancelledError, OSError, TimeoutError) as err:
        if future.status == "error":
            raise
        raise UsageError(f"--scheduler {shown}: lost the Dask cluster: {_reason(err)}") from None


def _reason(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _describe(fingerprint: tuple[str, ...]) -> str:
    version, z3_version, sources_sha256 = fingerprint
    return f"barcheck {version}, z3 {z3_version}, sources {sources_sha256[:12]}"


class _Worker:
    lock = threading.Lock()
    """A worker with several threads runs one batch at a time: z3's default context is not thread-safe."""
    policy_files: tuple | None = None


def run_batch(batch: list[Job], policy_files: tuple) -> tuple[tuple[str, ...], list[Outcome]]:
    """The task: this worker's fingerprint and the batch's outcomes, with the parent's policy files loaded."""
    with _Worker.lock:
        from barcheck.engine.ctrl_c import leave_ctrl_c_to_barcheck
        leave_ctrl_c_to_barcheck()
        _load_policy_files(policy_files)
        return worker_fingerprint(), execute_group(batch)


def _load_policy_files(policy_files: tuple) -> None:
    """Register exactly the parent's policy files, once per worker process and set of files (a
    long-lived worker may serve runs with other files, or other revisions of the same one).  A file
    that failed to load is tried again by the next task: the jobs report why (jobs.execute)."""
    if _Worker.policy_files == policy_files:
        return
    from barcheck.run.userpolicy import WORKER_ERRORS, forget_user_policies, load_in_worker
    forget_user_policies()
    WORKER_ERRORS.clear()
    load_in_worker(policy_files)
    _Worker.policy_files = None if WORKER_ERRORS else policy_files


def code_fingerprint() -> tuple[str, str, str]:
    """What decides a verdict besides the job itself: barcheck's version, z3's, and the digest of the
    sources (the `inputs_sha256` a report carries)."""
    import barcheck
    from barcheck.engine.session import z3_version
    from barcheck.engine.sources import inputs_digest
    return barcheck.__version__, z3_version(), inputs_digest()


@functools.cache
def worker_fingerprint() -> tuple[str, str, str]:
    """The code this worker process loaded: taken once, at its first task, so a worker that outlives
    an edit of the sources no longer matches them."""
    return code_fingerprint()
