"""`--scheduler`: the same checks on a Dask cluster give byte-for-byte the local pool's output.

Most tests share one LocalCluster that the test starts (2 single-threaded worker processes), reached
by its address like a remote cluster; one runs `--scheduler local`, where barcheck starts and closes
its own.  The error paths (no dask, a bad or unreachable address, a worker with other code, a lost
cluster) must each be one line and exit 2.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import distributed
import pytest

from barcheck.cli.main import build_parser, main
from barcheck.run import dask_executor
from barcheck.run.dask_executor import DaskExecutor
from barcheck.run.jobs import PAIR, Job, Workers, run_jobs
from barcheck.run.userpolicy import forget_user_policies, load_policy_file
from barcheck.inputs.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
ANY_OFFSET = ROOT / "examples" / "policies" / "any_offset.py"
PAIR_RUN = ["prove", "--policy", "linux-4.8", "--policy", str(ANY_OFFSET), "--property", "isolation.window",
            "--page-size", "4K,64K", "--verdicts-only", "--format", "json", "--no-timings"]
"""Four batches: proofs and counterexamples, one policy from a file the workers must load."""
TRACE_RUN = ["prove", "--policy", "linux-4.7", "--mode", "trace", "--property", "probe.idempotent",
             "--devices", "2", "--page-size", "4K,64K", "--format", "json", "--no-timings"]
"""Two batches of trace checks (one per page size), with the full engine."""
MISSING = "barcheck: error: --scheduler needs the optional dask extra: pip install 'barcheck[dask]'\n"


@pytest.fixture(autouse=True)
def _fresh_registry():
    yield
    forget_user_policies()


@pytest.fixture(scope="module")
def cluster_address():
    """A cluster the test owns, reached by address: the path a user's own cluster takes."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0", silence_logs=logging.CRITICAL) as cluster:
        yield cluster.scheduler_address


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("argv", [PAIR_RUN, TRACE_RUN], ids=["pair-and-policy-file", "trace"])
def test_a_cluster_gives_the_bytes_of_the_local_pool(cluster_address, argv) -> None:
    serial = run_cli(*argv, "--jobs", "1")
    assert serial[0] in (0, 1, 3) and serial[1].startswith("{") and serial[2] == "", serial[2]
    forget_user_policies()
    assert run_cli(*argv, "--jobs", "2") == serial
    forget_user_policies()
    assert run_cli(*argv, "--scheduler", cluster_address, "--jobs", "2") == serial


def test_scheduler_local_starts_its_own_cluster_and_closes_it() -> None:
    import psutil
    before = {child.pid for child in psutil.Process().children()}
    serial = run_cli(*PAIR_RUN, "--jobs", "1")
    forget_user_policies()
    assert run_cli(*PAIR_RUN, "--scheduler", "local", "--jobs", "2") == serial
    deadline = time.monotonic() + 10
    while _new_workers(before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _new_workers(before) == []


def _new_workers(before: set[int]) -> list[int]:
    import psutil
    left = []
    for child in psutil.Process().children():
        try:
            if child.pid not in before and "resource_tracker" not in " ".join(child.cmdline()):
                left.append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return left


def test_progress_comes_in_job_order(cluster_address) -> None:
    code, _, err = run_cli(*PAIR_RUN, "--progress", "lines", "--scheduler", cluster_address)
    lines = [line.split(": ")[0] for line in err.splitlines()]
    assert code == 1 and lines == ["[1/4] isolation.window linux-4.8 4K", "[2/4] isolation.window linux-4.8 64K",
                                   "[3/4] isolation.window any-offset 4K", "[4/4] isolation.window any-offset 64K"]


@pytest.mark.parametrize("argv", [["--jobs", "3", "--scheduler", "local"], ["--scheduler", "local", "--jobs", "3"]])
def test_the_scheduler_travels_with_the_worker_count(argv) -> None:
    args = build_parser().parse_args(["prove", *argv])
    assert isinstance(args.jobs, Workers) and (args.jobs, args.jobs.executor) == (3, DaskExecutor("local"))
    assert getattr(build_parser().parse_args(["prove", "--jobs", "3"]).jobs, "executor", None) is None


def test_without_dask_the_option_is_one_line_and_the_rest_runs(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.setitem(sys.modules, "dask", None)
    assert run_cli("prove", "--policy", "linux-4.8", "--property", "isolation.window", "--page-size", "4K",
                   "--verdicts-only", "--scheduler", "local") == (2, "", MISSING)
    code, out, err = run_cli("prove", "--policy", "linux-4.8", "--property", "isolation.window", "--page-size", "4K",
                             "--verdicts-only", "--jobs", "1", "--format", "json")
    assert (code, err) == (0, "") and '"proved"' in out


def test_an_unreachable_scheduler_is_one_line_within_the_timeout(monkeypatch) -> None:
    monkeypatch.setattr(dask_executor, "CONNECT_TIMEOUT_SECONDS", 1.0)
    started = time.monotonic()
    code, out, err = run_cli(*PAIR_RUN, "--scheduler", "tcp://127.0.0.1:1")
    assert (code, out) == (2, "") and time.monotonic() - started < 8
    assert err.startswith("barcheck: error: --scheduler tcp://127.0.0.1:1: cannot reach the Dask scheduler within 1 s")
    assert err.count("\n") == 1


@pytest.mark.parametrize("address, says", [
    ("tcp://127.0.0.1:0", "port 0 is out of range"), ("no-port", "missing port number"),
    ("foo://h:1", "unknown address scheme"), ("", "give a Dask scheduler address"),
    ("tcp://h\x1b[31m:1\n", "tcp://h\\x1b[31m:1\\x0a: not a Dask scheduler address"),
])
def test_a_malformed_address_is_one_line_before_any_work(address, says) -> None:
    code, out, err = run_cli(*PAIR_RUN, "--scheduler", address)
    assert (code, out) == (2, "") and err.startswith("barcheck: error: --scheduler") and says in err
    assert err.count("\n") == 1 and "\x1b" not in err


def test_a_policy_file_edited_during_the_run_stops_it_on_the_cluster_too(cluster_address, tmp_path) -> None:
    from barcheck.engine.checker import Settings
    path = tmp_path / "edited.py"
    path.write_text("from model.policies.linux import Linux48\n\nclass P(Linux48):\n    name = 'edited'\n")
    load_policy_file(str(path))
    path.write_text(path.read_text() + "# edited\n")
    jobs = [Job(PAIR, "probe.idempotent", "edited", page, Settings()) for page in (4096, 65536)]
    with pytest.raises(UsageError, match="edited.py: the file changed while barcheck was running"):
        run_jobs(jobs, Workers(2, DaskExecutor(cluster_address)))


def test_a_worker_with_other_code_is_refused() -> None:
    other = ("0.0.0", "4.0.0", "0" * 64)
    with pytest.raises(UsageError, match=r"--scheduler X: a Dask worker runs other barcheck code \(barcheck 0\.0\.0, "
                                         r"z3 4\.0\.0, sources 000000000000; here barcheck "):
        dask_executor._require_same_code(other, dask_executor.code_fingerprint(), "X")
    dask_executor._require_same_code(dask_executor.code_fingerprint(), dask_executor.code_fingerprint(), "X")


class _Future:
    def __init__(self, error: BaseException, status: str) -> None:
        self.error, self.status = error, status

    def result(self):
        raise self.error


@pytest.mark.parametrize("error, status, says", [
    (distributed.KilledWorker("run_batch-1", types.SimpleNamespace(address="tcp://w:1"), 3), "error",
     "a Dask worker died running checks"),
    (distributed.client.FutureCancelledError("run_batch-1", "scheduler-connection-lost"), "cancelled",
     "lost the Dask cluster"),
    (OSError("Timed out trying to connect"), "pending", "lost the Dask cluster"),
])
def test_a_lost_worker_or_scheduler_is_a_usage_error(error, status, says) -> None:
    with pytest.raises(UsageError, match=f"--scheduler X: {says}"):
        dask_executor._result(distributed, _Future(error, status), "X")


def test_an_error_a_task_raised_comes_back_as_it_is() -> None:
    with pytest.raises(OSError, match="the task's own"):
        dask_executor._result(distributed, _Future(OSError("the task's own"), "error"), "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups and /proc")
def test_ctrl_c_exits_130_with_one_line_and_ends_the_cluster() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "barcheck", "prove", "--policy", "linux-4.8", "--property",
                             "isolation.window", "--page-size", "4K,64K", "--scheduler", "local", "--jobs", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True)
    workers = _wait_for_dask_workers(proc, 2)
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out, err) == (130, "", "barcheck: interrupted\n")
    assert time.monotonic() - sent < 5
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in workers if _running(pid)] == []


def _wait_for_dask_workers(proc: subprocess.Popen, count: int) -> list[int]:
    import psutil
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            children = psutil.Process(proc.pid).children()
            workers = [c.pid for c in children if "spawn_main" in " ".join(c.cmdline())]
        except psutil.NoSuchProcess:
            workers = []
        if len(workers) == count:
            time.sleep(1.0)  # into the first checks
            return workers
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no {count} Dask workers appeared: {proc.communicate()}")


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False
