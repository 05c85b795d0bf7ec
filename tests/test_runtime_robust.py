"""Runtime robustness: the MSI-X measure under tiny work budgets, Ctrl-C at any moment, workers that die
with their parent, and --out that writes every file or none.

The signal tests run barcheck as a real process.  "After start" means after barcheck's Ctrl-C guard is in
place (its watcher thread exists): before that, the interpreter itself is still starting up.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import z3

from barcheck.cli import main as cli, prove, util as cliutil
from barcheck.cli.main import main
from barcheck.cli.util import UsageError, write_files_atomically
from barcheck.engine.msixmeasure import DEFAULT_BAR_SIZES, MeasureSettings, _Cell
from model.policies import get_policy

ROOT = Path(__file__).resolve().parent.parent
LINUX = sys.platform.startswith("linux")
needs_proc = pytest.mark.skipif(not LINUX, reason="reads /proc")


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


# ----------------------------------------------------------------------------- msix.mappable-fraction under --rlimit

MEASURE_ARGS = ("prove", "--property", "msix.mappable-fraction", "--policy", "linux-4.8", "--page-size", "4K")


@pytest.fixture(scope="module")
def exact_extremes() -> dict[int, tuple[int, int]]:
    """Least and greatest mappable bytes per BAR size at the default budget (linux-4.8 does not split by
    platform); the area certificate, which costs most of a full measure, is not needed for them."""
    policy, exact = get_policy("linux-4.8"), {}
    for bar_bytes in DEFAULT_BAR_SIZES:
        cell = _Cell(policy, 4096, bar_bytes, None, MeasureSettings())
        assert cell.session.check(cell.split) == z3.unsat
        low, high = cell.extreme(bar_bytes, largest=False), cell.extreme(bar_bytes, largest=True)
        assert low.at is not None and high.at is not None
        exact[bar_bytes] = (low.value_bytes, high.value_bytes)
    return exact


@pytest.mark.parametrize("rlimit", [1, 10, 1000, 50_000, 1_000_000])
def test_a_small_rlimit_makes_the_measure_unknown_never_a_crash(rlimit, exact_extremes) -> None:
    code, out, err = run_cli(*MEASURE_ARGS, "--rlimit", str(rlimit), "--format", "json")
    assert code in (0, 3), err
    assert err == ""
    rows = json.loads(out)["measures"]
    if code == 3:
        assert any(row["certified"].startswith("unknown (") for row in rows)
    assert {int(row["bar_size"], 16) for row in rows} == set(DEFAULT_BAR_SIZES)
    for row in rows:
        least, greatest = exact_extremes[int(row["bar_size"], 16)]
        low, high = int(row["min_bytes"], 16), int(row["max_bytes"], 16)
        # Inexact values are bounds that enclose the exact extremes; exact ones are the extremes.
        assert low == least if row["min_at"] is not None else low <= least
        assert high == greatest if row["max_at"] is not None else high >= greatest
        if row["min_at"] is None or row["max_at"] is None:
            assert row["certified"] != "proved"


def test_the_z3_failure_at_rlimit_1000_is_unknown_in_a_real_process() -> None:
    done = subprocess.run([sys.executable, "-m", "barcheck", *MEASURE_ARGS, "--rlimit", "1000"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert "not certified: linux-4.8 at 4K: unknown (" in done.stdout
    assert ">=" in done.stdout or "<=" in done.stdout


# ----------------------------------------------------------------------------- Ctrl-C


def start(argv: list[str], code: str | None = None, **kwargs) -> subprocess.Popen:
    """barcheck as a process (or `code` that patches something and then runs barcheck's entry point)."""
    head = [sys.executable, "-c", code] if code else [sys.executable, "-m", "barcheck"]
    return subprocess.Popen(head + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            **kwargs)


def wait_for_guard(proc: subprocess.Popen, timeout_seconds: float = 60) -> None:
    """Until barcheck's Ctrl-C watcher thread runs."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            if len(os.listdir(f"/proc/{proc.pid}/task")) >= 2:
                return
        except FileNotFoundError:
            break
        time.sleep(0.002)
    pytest.fail(f"barcheck never installed its Ctrl-C guard (exit {proc.poll()})")


def wait_for_file(path: Path, proc: subprocess.Popen, timeout_seconds: float = 120) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.005)


def interrupt(proc: subprocess.Popen, group: bool = False) -> tuple[str, str, float]:
    """SIGINT to barcheck (or to its whole process group, as a terminal's Ctrl-C); its output and exit delay."""
    sent = time.monotonic()
    if group:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return out, err, time.monotonic() - sent


PROVE = ["prove", "--policy", "linux-4.8", "--page-size", "4K,16K,64K"]


@needs_proc
@pytest.mark.parametrize("delay_seconds", [0.0, 0.05, 0.2, 0.5, 1.0])
def test_ctrl_c_during_prove_exits_130_with_one_line(delay_seconds) -> None:
    """From import of z3 and matplotlib through solving in worker processes; odd delays hit the whole group."""
    group = delay_seconds in (0.05, 0.5)
    proc = start(PROVE, start_new_session=group)
    wait_for_guard(proc)
    time.sleep(delay_seconds)
    out, err, seconds = interrupt(proc, group)
    assert (proc.returncode, err) == (130, "barcheck: interrupted\n")
    assert out == "" and seconds < 5


@needs_proc
def test_ctrl_c_during_a_z3_check_in_barcheck_itself_exits_at_once() -> None:
    """With one job z3 runs in barcheck's own thread, where it would catch SIGINT, answer UNKNOWN and go on."""
    proc = start(PROVE + ["--jobs", "1"])
    wait_for_guard(proc)
    time.sleep(1.5)
    out, err, seconds = interrupt(proc)
    assert (proc.returncode, err, out) == (130, "barcheck: interrupted\n", "")
    assert seconds < 5


@needs_proc
def test_ctrl_c_during_survey_exits_130_without_a_traceback(tmp_path) -> None:
    """The light path: host and survey never load the solver, the guard is the same."""
    for delay_seconds in (0.0, 0.1, 0.3):
        proc = start(["survey", "tests/data/hostdumps", "--out", str(tmp_path / "survey")])
        wait_for_guard(proc)
        time.sleep(delay_seconds)
        _, err, _ = interrupt(proc)
        if proc.returncode != 130:  # finished first: then it must have finished cleanly
            assert proc.returncode in (0, 1) and "Traceback" not in err
            continue
        assert "Traceback" not in err and err.endswith("barcheck: interrupted\n")


HTML = ["prove", "--policy", "linux-4.7", "--property", "pgoff.round-trip", "--page-size", "4K,64K",
        "--format", "html", "--jobs", "1"]


@pytest.fixture(scope="module")
def complete_html(tmp_path_factory) -> set[str]:
    out = tmp_path_factory.mktemp("complete") / "out"
    code, _, err = run_cli(*HTML, "--out", str(out))
    assert code == 1, err
    names = {p.name for p in out.iterdir()}
    assert "report.html" in names and any(name.endswith(".svg") for name in names)
    return names


def assert_none_or_all(out: Path, complete: set[str]) -> None:
    names = {p.name for p in out.iterdir()} if out.exists() else set()
    assert names in (set(), complete), names


@needs_proc
@pytest.mark.parametrize("delay_seconds", [0.0, 0.3, 0.6, 0.9])
def test_ctrl_c_during_prove_html_leaves_no_partial_output(delay_seconds, tmp_path, complete_html) -> None:
    out = tmp_path / "out"
    proc = start(HTML + ["--out", str(out)])
    wait_for_guard(proc)
    time.sleep(delay_seconds)
    _, err, _ = interrupt(proc)
    assert "Traceback" not in err
    assert proc.returncode in (130, 1), err  # 1: it finished (a counterexample) before the signal came
    if proc.returncode == 130:
        assert err == "barcheck: interrupted\n"
    assert_none_or_all(out, complete_html)


STALL_IN_RENDERER = """
import sys, time, pathlib
marker = pathlib.Path(sys.argv.pop(1))
stall = sys.argv.pop(1)
import barcheck.render.html as html
real = html.render_map

def stalled(*args, **kwargs):
    marker.write_text("inside the renderer")
    if stall == "python":
        end = time.monotonic() + 60
        while time.monotonic() < end:
            pass
    else:  # a long call into z3, which does not return to Python on a signal
        import z3
        z3.set_param("ctrl_c", False)
        x, y = z3.BitVecs("x y", 64)
        solver = z3.Solver()
        solver.add(x * y == 0xC5B1E5A3F5A8D3B1, z3.UGT(x, 1), z3.UGT(y, 1), z3.ULT(x, 1 << 32), z3.ULT(y, 1 << 32))
        solver.check()
    return real(*args, **kwargs)

html.render_map = stalled
from barcheck.cli.entry import run
run()
"""


@needs_proc
@pytest.mark.parametrize("stall", ["python", "z3"])
def test_ctrl_c_inside_a_renderer_exits_130_and_writes_nothing(stall, tmp_path) -> None:
    marker, out = tmp_path / "marker", tmp_path / "out"
    proc = start([str(marker), stall] + HTML + ["--out", str(out)], code=STALL_IN_RENDERER)
    wait_for_file(marker, proc)
    _, err, seconds = interrupt(proc)
    assert (proc.returncode, err) == (130, "barcheck: interrupted\n")
    assert seconds < 5
    assert not out.exists() or list(out.iterdir()) == []


STALL_IN_COMMIT = """
import os, sys, pathlib
marker = pathlib.Path(sys.argv.pop(1))
import z3
import barcheck.cli.util as cliutil
real = os.replace
renamed = []

def replace(source, target):
    real(source, target)
    renamed.append(target)
    if len(renamed) == 2:  # the second file is in place, the others not yet
        marker.write_text("between renames")
        z3.set_param("ctrl_c", False)
        x, y = z3.BitVecs("x y", 64)
        solver = z3.Solver()
        solver.add(x * y == 0xC5B1E5A3F5A8D3B1, z3.UGT(x, 1), z3.UGT(y, 1), z3.ULT(x, 1 << 32), z3.ULT(y, 1 << 32))
        solver.check()

cliutil.os.replace = replace
from barcheck.cli.entry import run
run()
"""


@needs_proc
def test_ctrl_c_between_renames_puts_the_directory_back(tmp_path, complete_html) -> None:
    """The hard way: the main thread is stuck in C, so the watcher thread undoes the renames and exits."""
    marker, out = tmp_path / "marker", tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("the previous report\n")
    (out / "notes.txt").write_text("mine\n")
    proc = start([str(marker)] + HTML + ["--out", str(out)], code=STALL_IN_COMMIT)
    wait_for_file(marker, proc)
    assert len({p.name for p in out.iterdir()} & (complete_html - {"report.html"})) >= 1
    _, err, seconds = interrupt(proc)
    assert (proc.returncode, err) == (130, "barcheck: interrupted\n")
    assert seconds < 5
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "report.html"]
    assert (out / "report.html").read_text() == "the previous report\n"


# ----------------------------------------------------------------------------- workers die with their parent


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return ""


def has_z3(pid: int) -> bool:
    """The worker initializer imports z3 after it asked to die with the parent."""
    try:
        return "libz3" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@needs_proc
def test_workers_die_at_once_when_the_parent_is_killed() -> None:
    proc = start(PROVE + ["--jobs", "2"])
    deadline = time.monotonic() + 120
    while True:
        workers = [pid for pid in children_of(proc.pid) if "spawn_main" in command_line(pid)]
        if len(workers) == 2 and all(has_z3(pid) for pid in workers):
            break
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    children = children_of(proc.pid)
    proc.kill()
    proc.communicate()
    killed = time.monotonic()
    while any(running(pid) for pid in children) and time.monotonic() - killed < 10:
        time.sleep(0.005)
    left = [pid for pid in children if running(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [] and time.monotonic() - killed < 1.0


def test_a_worker_whose_parent_is_already_gone_exits() -> None:
    """The race: the parent died before the worker asked to be killed with it."""
    def run(parent: str) -> subprocess.CompletedProcess:
        code = f"import os; from barcheck.run.jobs import die_with_parent; die_with_parent({parent}); print('alive')"
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    orphan = run("os.getppid() + 1")
    assert orphan.returncode == 1 and orphan.stdout == ""
    child = run("os.getppid()")
    assert child.returncode == 0 and child.stdout == "alive\n"


# ----------------------------------------------------------------------------- --out: every file or none


def snapshot(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): p.read_text() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture
def out_dir(tmp_path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("old report\n")
    (out / "keep.txt").write_text("keep\n")
    return out


def test_all_files_are_written(out_dir) -> None:
    paths = write_files_atomically(out_dir, {"report.html": "new\n", "a.svg": b"<svg/>"})
    assert paths == [out_dir / "report.html", out_dir / "a.svg"]
    assert snapshot(out_dir) == {"a.svg": "<svg/>", "keep.txt": "keep\n", "report.html": "new\n"}
    umask = os.umask(0o022)
    os.umask(umask)
    assert (out_dir / "a.svg").stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("name", ["x" * 256, "é" * 128, "a/b.svg", "..", "", "a\0b"])
def test_a_bad_name_writes_nothing(out_dir, name) -> None:
    before = snapshot(out_dir)
    with pytest.raises(UsageError) as raised:
        write_files_atomically(out_dir, {"report.html": "new\n", name: "x"})
    message = str(raised.value)
    assert "\n" not in message and "\0" not in message
    assert "too long" in message or "not a plain file name" in message
    assert snapshot(out_dir) == before and sorted(p.name for p in out_dir.iterdir()) == ["keep.txt", "report.html"]


def test_a_name_of_exactly_the_limit_is_fine(out_dir) -> None:
    write_files_atomically(out_dir, {"x" * 255: "x"})
    assert (out_dir / ("x" * 255)).read_text() == "x"


def test_a_missing_out_directory_is_not_left_behind(tmp_path) -> None:
    with pytest.raises(UsageError):
        write_files_atomically(tmp_path / "new" / "out", {"report.html": "x", "y" * 300: "y"})
    real = os.replace
    calls = []

    def failing(source, target):
        calls.append(target)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(source, target)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cliutil.os, "replace", failing)
        with pytest.raises(UsageError, match="b.svg"):
            write_files_atomically(tmp_path / "new" / "out", {"a.svg": "a", "b.svg": "b"})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failing_rename_midway_puts_everything_back(out_dir, monkeypatch, failure) -> None:
    before = snapshot(out_dir)
    real = os.replace
    calls = []

    def failing(source, target):
        calls.append(Path(target).name)
        if len(calls) == 3 and Path(source).suffix == ".tmp":
            raise failure
        real(source, target)
    monkeypatch.setattr(cliutil.os, "replace", failing)
    files = {"a.svg": "a", "report.html": "new\n", "c.svg": "c", "d.svg": "d"}
    expected = UsageError if isinstance(failure, OSError) else KeyboardInterrupt
    with pytest.raises(expected) as raised:
        write_files_atomically(out_dir, files)
    if expected is UsageError:
        assert "c.svg" in str(raised.value) and "No space left on device" in str(raised.value)
    assert calls[:3] == ["a.svg", "report.html", "c.svg"]
    assert snapshot(out_dir) == before
    assert sorted(p.name for p in out_dir.iterdir()) == ["keep.txt", "report.html"]


def test_a_failing_write_leaves_no_temporary(out_dir, monkeypatch) -> None:
    before = snapshot(out_dir)
    real_chmod = os.chmod

    def failing(path, mode, *args, **kwargs):
        if Path(path).name.startswith(".barcheck-") and len(list(out_dir.glob(".barcheck-*"))) == 2:
            raise OSError(122, "Disk quota exceeded")
        real_chmod(path, mode, *args, **kwargs)
    monkeypatch.setattr(cliutil.os, "chmod", failing)
    with pytest.raises(UsageError, match="quota"):
        write_files_atomically(out_dir, {"a.svg": "a", "b.svg": "b", "c.svg": "c"})
    assert snapshot(out_dir) == before


def test_nested_names_for_generated_trees(tmp_path) -> None:
    out = tmp_path / "reports"
    write_files_atomically(out, {"report.json": "{}", "html/report.html": "<html>", "html/a.svg": "<svg/>"},
                           nested=True)
    assert snapshot(out) == {"html/a.svg": "<svg/>", "html/report.html": "<html>", "report.json": "{}"}
    for bad in ("../escape.txt", "html//a.svg", "/abs.txt", "html/" + "x" * 256):
        with pytest.raises(UsageError):
            write_files_atomically(out, {"report.json": "changed", bad: "x"}, nested=True)
    assert snapshot(out)["report.json"] == "{}" and not (tmp_path / "escape.txt").exists()


def test_prove_with_an_over_long_file_name_exits_2_and_changes_nothing(out_dir, monkeypatch) -> None:
    real = prove.render_doc

    def long_names(*args, **kwargs):
        files = real(*args, **kwargs)
        return {**files, "\x1b[2J" + "m" * 300 + ".svg": "<svg/>"}
    monkeypatch.setattr(prove, "render_doc", long_names)
    before = snapshot(out_dir)
    code, out, err = run_cli("prove", "--policy", "linux-4.8", "--property", "pgoff.round-trip", "--page-size", "4K",
                             "--format", "html", "--out", str(out_dir))
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("barcheck: error: --out ") and "too long" in err
    assert "\x1b" not in err
    assert snapshot(out_dir) == before


ORPHAN = """
import os, sys, time
from barcheck.run.jobs import _watch_parent
_watch_parent(os.getppid())
print("watching", flush=True)
time.sleep(60)
"""

MIDDLE = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=subprocess.PIPE, text=True)
child.stdout.readline()
print(child.pid, flush=True)
"""


@needs_proc
def test_without_prctl_a_thread_notices_the_parent_is_gone() -> None:
    """The portable fallback: the worker polls its parent pid."""
    middle = subprocess.run([sys.executable, "-c", MIDDLE, ORPHAN], capture_output=True, text=True, cwd=ROOT,
                            timeout=60)
    orphan = int(middle.stdout)
    gone = time.monotonic()
    while running(orphan) and time.monotonic() - gone < 10:
        time.sleep(0.01)
    if running(orphan):
        os.kill(orphan, signal.SIGKILL)
        pytest.fail("the orphan kept running")
    assert time.monotonic() - gone < 1.0


def test_a_batch_can_replace_hundreds_of_files_in_one_directory(tmp_path: Path) -> None:
    """Every replaced file keeps a backup until the batch commits: each needs a name of its own."""
    names = [f"cex-{i:03}.json" for i in range(300)]
    for name in names:
        (tmp_path / name).write_text("old\n")
    write_files_atomically(tmp_path, {name: "new\n" for name in names})
    assert sorted(os.listdir(tmp_path)) == names
    assert all((tmp_path / name).read_text() == "new\n" for name in names)


@needs_proc
def test_a_ctrl_c_after_the_command_finished_leaves_its_exit_code() -> None:
    """Once the output is flushed, SIGINT is held: shutdown restores its default action, which would
    otherwise end the process by the signal (exit -2) instead of with the command's code."""
    script = ("import os, signal, sys\n"
              "from barcheck.cli import entry, interrupt\n"
              "interrupt.install(); interrupt.finishing()\n"
              "entry._flush(); entry._hold_sigint()\n"
              "os.kill(os.getpid(), signal.SIGINT)\n"
              "sys.exit(3)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and done.stderr == "", (done.returncode, done.stderr)
