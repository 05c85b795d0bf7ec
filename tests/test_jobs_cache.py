"""Worker processes, the result cache, progress, and verdicts-only mode against the full engine."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from pathlib import Path

import pytest

from barcheck.run.cache import Cache, open_cache
from barcheck.engine.sources import inputs_digest
from barcheck.engine.checker import Settings
from barcheck.cli.main import main
from barcheck.run.jobs import PAIR, RECORD, TRACE, Job, run_jobs
from barcheck.engine.recordcheck import RecordSettings
from barcheck.engine.tracecheck import TraceSettings
from barcheck.engine.verdict import Verdict

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "reports" / "report.json"
JOBS = [Job(PAIR, "probe.idempotent", "v3-per-bar", 4096, Settings()),
        Job(PAIR, "isolation.window", "linux-4.7", 4096, Settings(explain=False)),
        Job(RECORD, "msix.non-table-mappable", "linux-4.8", 65536, RecordSettings()),
        Job(PAIR, "mmap.subpage-available", "linux-4.8", 65536, Settings(explain=False))]


SOURCES = inputs_digest()


@pytest.fixture(autouse=True)
def private_key_home(tmp_path_factory, monkeypatch):
    """The per-user MAC key lives in a scratch cache home, not in the real one; and one source digest serves
    the whole module, so that an edit to the tree while the tests run cannot turn an expected hit into a miss."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache-home")))
    monkeypatch.setattr("barcheck.engine.sources.inputs_digest", lambda: SOURCES)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def essentials(result):
    return (result.property, result.policy, result.page_size, result.verdict, result.assumptions,
            result.solver.work, result.counterexample, result.trace)


def test_workers_return_the_results_of_a_serial_run_in_job_order():
    serial = run_jobs(JOBS, 1)
    parallel = run_jobs(JOBS, 2)
    assert [essentials(r) for r in parallel] == [essentials(r) for r in serial]
    assert [r.verdict for r in serial] == [Verdict.COUNTEREXAMPLE, Verdict.PROVED, Verdict.COUNTEREXAMPLE,
                                           Verdict.COUNTEREXAMPLE]


def test_trace_jobs_of_one_policy_and_page_share_a_worker():
    settings = TraceSettings()
    a = Job(TRACE, "isolation.no-shared-page", "linux-4.8", 4096, settings, 3)
    b = Job(TRACE, "probe.idempotent", "linux-4.8", 4096, settings, 3)
    c = Job(TRACE, "probe.idempotent", "linux-4.8", 65536, settings, 3)
    assert a.group() == b.group() != c.group()
    assert JOBS[0].group() != JOBS[3].group()


def test_the_cache_returns_what_was_stored_and_counts_hits(tmp_path):
    cache = open_cache(str(tmp_path))
    progress = []
    first = run_jobs(JOBS, 1, cache, lambda *a: progress.append((a[0], a[1], a[4])))
    assert (cache.hits, cache.misses) == (0, len(JOBS))
    again = open_cache(str(tmp_path))
    second = run_jobs(JOBS, 1, again, lambda *a: progress.append((a[0], a[1], a[4])))
    assert (again.hits, again.misses) == (len(JOBS), 0)
    assert [essentials(r) for r in second] == [essentials(r) for r in first]
    assert progress[:len(JOBS)] == [(n, len(JOBS), False) for n in range(1, len(JOBS) + 1)]
    assert progress[len(JOBS):] == [(n, len(JOBS), True) for n in range(1, len(JOBS) + 1)]


def test_the_key_covers_the_z3_version_the_sources_and_every_setting(tmp_path):
    cache = Cache(tmp_path, "5.4.0", "a" * 64)
    job = JOBS[0]
    keys = {cache.key(job), Cache(tmp_path, "4.13.0", "a" * 64).key(job), Cache(tmp_path, "5.4.0", "b" * 64).key(job),
            cache.key(dataclasses.replace(job, settings=Settings(seed=1))),
            cache.key(dataclasses.replace(job, settings=Settings(rlimit=5))),
            cache.key(dataclasses.replace(job, page_bytes=8192)),
            cache.key(dataclasses.replace(job, policy_name="linux-4.8"))}
    assert len(keys) == 7


def test_a_corrupt_or_tampered_entry_is_a_miss_and_is_solved_again(tmp_path):
    cache = open_cache(str(tmp_path))
    job = JOBS[0]
    (solved,) = run_jobs([job], 1, cache)
    path = cache.entry_path(job)
    genuine = path.read_bytes()
    path.write_bytes(b"not an entry")
    assert cache.get(job) is None
    path.write_bytes(genuine.replace(b'"policy":"v3-per-bar"', b'"policy":"linux-4.8"', 1))
    assert cache.get(job) is None, "an edited entry must fail its MAC"
    cache.put(job, dataclasses.replace(solved, policy="linux-4.8"))  # probe.idempotent holds there
    assert cache.get(job) is None, "a cached counterexample that no longer replays must not be returned"
    assert [reason.rsplit(": ", 1)[1] for reason in cache.rejected] == [
        "not a barcheck cache entry", "bad MAC", "the cached counterexample no longer replays"]
    (again,) = run_jobs([job], 1, cache)
    assert essentials(again) == essentials(solved)
    assert essentials(cache.get(job)) == essentials(solved), "the entry solved again is saved again"


def test_prove_with_a_cache_gives_the_same_report_and_reports_progress(tmp_path):
    argv = ("prove", "--mode", "pair", "--policy", "linux-4.8", "--page-size", "64K", "--property", "probe.idempotent",
            "--property", "msix.non-table-mappable", "--format", "json", "--no-timings",
            "--cache", str(tmp_path / "cache"), "--progress", "lines")
    code, cold, err = run(*argv)
    assert code == 1
    assert re.fullmatch(r"\[1/2\] probe\.idempotent linux-4\.8 64K: proved \d+\.\d\ds\n"
                        r"\[2/2\] msix\.non-table-mappable linux-4\.8 64K: counterexample \d+\.\d\ds\n", err), err
    code, warm, err = run(*argv)
    assert code == 1 and warm == cold
    assert err.splitlines() == ["[1/2] probe.idempotent linux-4.8 64K: proved (cached)",
                                "[2/2] msix.non-table-mappable linux-4.8 64K: counterexample (cached)"]


def test_a_cache_that_cannot_be_a_directory_is_a_usage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, out, err = run("prove", "--policy", "linux-4.8", "--property", "probe.idempotent", "--cache", str(blocker))
    assert code == 2 and err.startswith("barcheck: error: --cache ") and err.count("\n") == 1


@pytest.mark.skipif(not CATALOGUE.is_file(), reason="no committed catalogue")
def test_verdicts_only_agrees_with_the_full_engine_on_every_pair_and_function_check(tmp_path):
    """The fast path decides with a fresh solver and skips cores and minimisation; every verdict must match."""
    code, out, err = run("matrix", "--mode", "pair", "--format", "csv", "--time", "none", "--jobs", "2",
                         "--out", str(tmp_path))
    assert code == 1, err
    fast = json.loads((tmp_path / "matrix.report.json").read_text())
    full = json.loads(CATALOGUE.read_text())
    verdicts = lambda doc: {(r["property"], r["kind"], r["policy"], r["page_size"]): r["verdict"]  # noqa: E731
                            for r in doc["results"] if r["kind"] in ("pair", "function")}
    assert verdicts(fast) == verdicts(full)
    proofs = [r for r in fast["results"] if r["verdict"] == "proved" and r["kind"] == "pair"]
    assert proofs and all(r["notes"] == ["verdicts only: the assumptions listed are every one in force, "
                                         "not a minimal core"] for r in proofs)


def test_the_msix_measure_is_cached_too(tmp_path):
    argv = ("prove", "--policy", "linux-4.8", "--page-size", "4K", "--property", "msix.mappable-fraction",
            "--format", "json", "--no-timings", "--cache", str(tmp_path), "--progress", "lines")
    code, cold, err = run(*argv)
    assert code == 0 and err == "[1/1] msix.mappable-fraction linux-4.8 4K: measured 5 rows\n"
    code, warm, err = run(*argv)
    assert code == 0 and warm == cold and err == "[1/1] msix.mappable-fraction linux-4.8 4K: measured 5 rows (cached)\n"
    assert json.loads(warm)["measures"]


def test_a_cache_that_cannot_be_written_warns_once_and_the_run_goes_on(tmp_path, monkeypatch):
    import barcheck.run.cache as cache_module

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    cache_module.load_user_key(cache_module.user_key_path())
    monkeypatch.setattr(cache_module.tempfile, "mkstemp", full)
    code, out, err = run("prove", "--mode", "pair", "--policy", "linux-4.8", "--page-size", "4K", "--property",
                         "probe.idempotent", "--property", "mmap.subpage-available", "--cache", str(tmp_path),
                         "--format", "json")
    assert code == 1 and json.loads(out)["results"]
    assert err == f"barcheck: warning: --cache {tmp_path}: 2 results not saved (No space left on device)\n"


def test_verdicts_only_falls_back_to_the_full_engine_when_the_fresh_solver_gives_up(monkeypatch):
    from barcheck.engine.checker import check
    from barcheck.engine.query import UNKNOWN, Answer, Query
    from model.policies import get_policy
    from properties import get_property

    monkeypatch.setattr(Query, "decide", lambda self, names, condition: (Answer(UNKNOWN, reason="budget"), None))
    prop, policy = get_property("probe.idempotent"), get_policy("v3-per-bar")
    fast = check(prop, policy, 4096, Settings(explain=False))
    full = check(prop, policy, 4096, Settings())
    assert fast.verdict is full.verdict is Verdict.COUNTEREXAMPLE
    assert fast.counterexample.scenario == full.counterexample.scenario
    assert fast.notes == (), "a result from the full engine is explained, so it carries no verdicts-only note"


def test_heavy_batches_start_first_and_results_keep_their_order():
    from barcheck.run.jobs import PAIR, TRACE, _in_order, heaviest_first
    pair = Job(PAIR, "isolation.window", "linux-4.8", 4096, None)
    trace = Job(TRACE, "dummy.no-leak", "linux-4.8", 4096, None, 2)
    batches = [[pair], [trace, trace], [pair, pair], [trace]]
    order = heaviest_first(batches)
    assert order == [1, 3, 2, 0]
    produced = iter([f"outcome {i}" for i in order])
    assert list(_in_order(produced, order)) == ["outcome 0", "outcome 1", "outcome 2", "outcome 3"]


@pytest.mark.parametrize("job", [Job(PAIR, "probe.idempotent", "linux-4.8", 4096, TraceSettings()),
                                 Job(TRACE, "probe.idempotent", "linux-4.8", 4096, Settings(), 1),
                                 Job(RECORD, "msix.table-protected", "linux-4.8", 4096, Settings())])
def test_a_job_whose_settings_are_another_engines_view_is_refused(job):
    from barcheck.run.jobs import execute
    with pytest.raises(TypeError, match=f"a {job.engine} job carries"):
        execute(job)


def test_trace_jobs_of_one_page_family_share_a_worker():
    settings = TraceSettings(page_family=(4096, 65536))
    a = Job(TRACE, "probe.idempotent", "linux-4.8", 4096, settings, 3)
    b = Job(TRACE, "probe.idempotent", "linux-4.8", 65536, settings, 3)
    outside = Job(TRACE, "probe.idempotent", "linux-4.8", 16384, settings, 3)
    assert a.group() == b.group() != outside.group()
