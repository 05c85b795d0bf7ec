"""`--cache DIR` trusts nothing it finds: entries are JSON under a per-user HMAC, the directory and all it
holds must be the user's alone, and a forged, edited, moved or foreign entry is solved again, never believed."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pickle
import re
import stat
import threading
from pathlib import Path

import pytest

from barcheck.run import cache as cache_module
from barcheck.run.cache import Cache, UntrustedCache, load_user_key, open_cache, user_key_path
from barcheck.engine.sources import inputs_digest
from barcheck.engine.checker import Settings
from barcheck.cli.main import main
from barcheck.run.jobs import MEASURE, PAIR, RECORD, ROUND_TRIP, TRACE, VMA, Job, execute, run_jobs
from barcheck.engine.msixmeasure import MeasureSettings
from barcheck.engine.pgoffcheck import RoundTripSettings
from barcheck.engine.recordcheck import RecordSettings
from barcheck.engine.session import z3_version
from barcheck.engine.vmacheck import VmaSettings
from barcheck.engine.tracecheck import TraceSettings
from barcheck.engine.verdict import Verdict

STRANGER = 12345
"""A uid that is neither root nor the user running the tests."""

PROVE = ("prove", "--mode", "pair", "--property", "probe.idempotent", "--page-size", "4K", "--format", "json",
         "--no-timings", "--progress", "lines")
CEX_JOB = Job(PAIR, "probe.idempotent", "v3-per-bar", 4096, Settings())
"""The job `prove --policy v3-per-bar` above runs: a counterexample."""
PROVED_JOB = Job(PAIR, "probe.idempotent", "linux-4.8", 4096, Settings())

ME = os.geteuid()
needs_root = pytest.mark.skipif(ME != 0, reason="planting a file owned by another uid needs root")


SOURCES = inputs_digest()


@pytest.fixture(autouse=True)
def key_home(tmp_path_factory, monkeypatch) -> Path:
    """A scratch cache home for the MAC key, and one source digest for the whole module (so that an edit
    to the tree while the tests run cannot turn an expected hit into a miss)."""
    home = tmp_path_factory.mktemp("cache-home")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.setattr("barcheck.engine.sources.inputs_digest", lambda: SOURCES)
    return home


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def prove(policy: str, directory: Path) -> tuple[int, str, str]:
    return run(*PROVE, "--policy", policy, "--cache", str(directory))


def entries(directory: Path) -> list[Path]:
    return sorted(directory.glob("*/*.json"))


def warning(directory: Path, count: int, first: Path, reason: str) -> str:
    what = "1 entry failed verification and was" if count == 1 else f"{count} entries failed verification and were"
    return f"barcheck: warning: --cache {directory}: {what} solved again (first: {first}: {reason})\n"


def progress(policy: str, cached: bool) -> str:
    verdict = "counterexample" if policy == "v3-per-bar" else "proved"
    return f"[1/1] probe.idempotent {policy} 4K: {verdict}" + (" (cached)\n" if cached else "")


# ----------------------------------------------------------------------------- the attack of issue 25


def forged_proof(directory: Path) -> Path:
    """What the attacker plants: a well-formed PROVED entry at the deterministic key of a check that has a
    counterexample, with a MAC under a key of the attacker's own (the user's key is secret)."""
    real = open_cache(str(directory))
    (proof,) = run_jobs([PROVED_JOB], 1)
    forged = dataclasses.replace(proof, policy=CEX_JOB.policy_name)
    attacker = Cache(real.directory, z3_version(), SOURCES, mac_key=os.urandom(32))
    attacker.put(CEX_JOB, forged)
    assert attacker.write_errors == [] and attacker.get(CEX_JOB) == forged, "the forgery is a well-formed entry"
    return real.entry_path(CEX_JOB)


@needs_root
def test_a_forged_proof_planted_in_a_directory_another_user_made_is_refused(tmp_path):
    planted = forged_proof(tmp_path / "shared")
    for path in (tmp_path / "shared", planted.parent, planted):
        os.chown(path, STRANGER, STRANGER)
    code, out, err = prove("v3-per-bar", tmp_path / "shared")
    assert (code, out) == (2, "")
    assert err == (f"barcheck: error: --cache {tmp_path / 'shared'}: {tmp_path / 'shared'} is owned by uid "
                   f"{STRANGER}, not by you (uid {ME}); remove it or use another directory\n")


def test_a_forged_proof_without_the_users_mac_is_solved_again_and_the_counterexample_stands(tmp_path):
    planted = forged_proof(tmp_path)
    code, out, err = prove("v3-per-bar", tmp_path)
    assert code == 1, err
    assert [r["verdict"] for r in json.loads(out)["results"]] == ["counterexample"]
    assert err.startswith(progress("v3-per-bar", False))
    assert err.endswith(warning(tmp_path, 1, planted, "bad MAC"))
    assert entries(tmp_path) == [planted], "the CLI ran exactly the job whose key the attacker guessed"


def test_a_planted_pickle_is_never_loaded(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    bomb = pickle.dumps(Payload())
    directory = tmp_path / "cache"
    cache = open_cache(str(directory))
    old_salt = cache._salt.replace(f"barcheck-cache/{cache_module.CACHE_FORMAT}\0", "barcheck-cache/1\0")
    old_key = hashlib.sha256((old_salt + repr(CEX_JOB)).encode()).hexdigest()
    new = cache.entry_path(CEX_JOB)
    for path in (directory / old_key[:2] / f"{old_key}.pickle", new.with_suffix(".pickle"), new):
        path.parent.mkdir(mode=0o700, exist_ok=True)
        path.write_bytes(bomb)
        path.chmod(0o600)
    code, out, err = prove("v3-per-bar", directory)
    assert code == 1 and json.loads(out)["results"][0]["verdict"] == "counterexample"
    assert err.endswith(warning(directory, 1, new, "not a barcheck cache entry"))
    assert not marker.exists(), "unpickling the planted file ran the attacker's code"


# ----------------------------------------------------------------------------- edited and moved entries


@pytest.mark.parametrize("policy, edit", [
    ("v3-per-bar", (b'"verdict":"counterexample"', b'"verdict":"proved"')),
    ("linux-4.8", (b'"assumptions":[]', b'"assumptions":["pci.bar-size-pow2"]')),
], ids=["counterexample-to-proved", "proof-assumptions"])
def test_a_hand_edited_verdict_is_rejected_solved_again_and_reported(tmp_path, policy, edit):
    code, cold, err = prove(policy, tmp_path)
    assert err.startswith(progress(policy, False))
    (entry,) = entries(tmp_path)
    genuine = entry.read_bytes()
    assert genuine.count(edit[0]) == 1
    entry.write_bytes(genuine.replace(*edit))
    again, warm, err = prove(policy, tmp_path)
    assert (again, warm) == (code, cold)
    assert err.startswith(progress(policy, False)) and err.endswith(warning(tmp_path, 1, entry, "bad MAC"))
    hit, hot, err = prove(policy, tmp_path)
    assert (hit, hot, err) == (code, cold, progress(policy, True)), "the entry solved again is trusted again"


def filled(directory: Path, outcomes: list) -> Cache:
    cache = open_cache(str(directory))
    for job, outcome in zip(CHEAP_JOBS[:2], outcomes):
        cache.put(job, outcome)
    return cache


def test_an_entry_moved_to_another_key_fails_its_mac(tmp_path, outcomes):
    cache = filled(tmp_path, outcomes)
    proof = cache.entry_path(PROVED_JOB).read_bytes()
    cache.entry_path(CEX_JOB).write_bytes(proof)
    again = open_cache(str(tmp_path))
    assert again.get(PROVED_JOB) is not None and again.get(CEX_JOB) is None
    assert again.rejected == [f"{cache.entry_path(CEX_JOB)}: bad MAC"]


def test_a_new_key_rejects_every_old_entry_and_the_warning_counts_them(tmp_path, outcomes):
    filled(tmp_path, outcomes)
    assert prove("linux-4.8", tmp_path)[2] == progress("linux-4.8", True), "the CLI runs the jobs filled in"
    user_key_path().unlink()
    code, out, err = run(*PROVE, "--policy", "v3-per-bar", "--policy", "linux-4.8", "--cache", str(tmp_path))
    assert code == 1
    assert err.count("barcheck: warning:") == 1
    assert f"--cache {tmp_path}: 2 entries failed verification and were solved again (first: {tmp_path}/" in err
    assert err.endswith(".json: bad MAC)\n")


# ----------------------------------------------------------------------------- who owns the directory


def test_a_group_writable_cache_directory_is_refused_in_one_line(tmp_path):
    directory = tmp_path / "cache"
    directory.mkdir()
    directory.chmod(0o775)
    code, out, err = prove("v3-per-bar", directory)
    assert (code, out) == (2, "")
    assert err == f"barcheck: error: --cache {directory}: {directory} is writable by group (mode 0775); chmod go-w it\n"


@needs_root
@pytest.mark.parametrize("what", ["shard", "entry"])
def test_a_shard_or_entry_of_another_uid_is_refused(tmp_path, what, outcomes):
    cache = filled(tmp_path, outcomes)
    path = cache.entry_path(PROVED_JOB) if what == "entry" else cache.entry_path(PROVED_JOB).parent
    os.chown(path, STRANGER, 0)
    with pytest.raises(UntrustedCache, match=f"^{path} is owned by uid {STRANGER}, not by you"):
        open_cache(str(tmp_path))


def test_an_other_writable_entry_and_a_symbolic_link_inside_are_refused(tmp_path, outcomes):
    cache = filled(tmp_path, outcomes)
    entry = cache.entry_path(PROVED_JOB)
    entry.chmod(0o602)
    with pytest.raises(UntrustedCache, match=r"is writable by others \(mode 0602\); chmod go-w it$"):
        open_cache(str(tmp_path))
    entry.chmod(0o600)
    (tmp_path / "zz").symlink_to(entry.parent)
    with pytest.raises(UntrustedCache, match=f"^{tmp_path / 'zz'} is a symbolic link; remove it$"):
        open_cache(str(tmp_path))


@needs_root
def test_an_entry_that_turns_foreign_or_into_a_link_after_opening_is_rejected_not_followed(tmp_path, outcomes):
    cache = filled(tmp_path, outcomes)
    cex, proof = cache.entry_path(CEX_JOB), cache.entry_path(PROVED_JOB)
    again = open_cache(str(tmp_path))
    os.chown(cex, STRANGER, 0)
    target = tmp_path / "elsewhere.json"
    proof.rename(target)
    proof.symlink_to(target)
    assert again.get(CEX_JOB) is None and again.get(PROVED_JOB) is None
    assert again.rejected == [f"{cex}: owned by uid {STRANGER}, not by you (uid {ME})", f"{proof}: a symbolic link"]
    proof.unlink()
    proof.parent.rename(tmp_path / "real-shard")
    proof.parent.symlink_to(tmp_path / "real-shard")
    target.rename(tmp_path / "real-shard" / proof.name)
    assert again.get(PROVED_JOB) is None and again.rejected[-1] == f"{proof}: its directory is a symbolic link"


@pytest.mark.parametrize("mode, owner, refused", [
    (0o775, ME, "is writable by group and not sticky (mode 0775)"),
    (0o1777, ME, None),
    pytest.param(0o755, STRANGER, f"is owned by uid {STRANGER}, neither you (uid {ME}) nor root", marks=needs_root),
])
def test_parents_must_be_safe_as_ssh_strict_modes_asks(tmp_path, mode, owner, refused):
    parent = tmp_path / "parent"
    parent.mkdir()
    parent.chmod(mode)
    if owner != ME:
        os.chown(parent, owner, 0)
    if refused is None:
        assert open_cache(str(parent / "a" / "cache")).directory == parent / "a" / "cache"
        return
    with pytest.raises(UntrustedCache, match=re.escape(f"{parent} {refused}")):
        open_cache(str(parent / "cache"))
    assert not (parent / "cache").exists(), "nothing is created inside an unsafe parent"


def test_directories_are_made_private_and_the_key_file_0600(tmp_path, key_home, outcomes):
    cache = filled(tmp_path / "a" / "b", outcomes)
    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in
             (tmp_path / "a", tmp_path / "a" / "b", cache.entry_path(PROVED_JOB).parent, key_home / "barcheck")}
    assert set(modes.values()) == {0o700}, modes
    assert stat.S_IMODE(user_key_path().stat().st_mode) == 0o600 and len(user_key_path().read_bytes()) == 32
    assert stat.S_IMODE(cache.entry_path(PROVED_JOB).stat().st_mode) == 0o600


# ----------------------------------------------------------------------------- the key file


@pytest.mark.parametrize("spoil, refusal", [
    (lambda key: key.chmod(0o640), "is open to group or others (mode 0640); chmod 600 it"),
    pytest.param(lambda key: os.chown(key, STRANGER, 0),
                 f"is owned by uid {STRANGER}, not by you (uid {ME}); remove it", marks=needs_root),
    (lambda key: key.write_bytes(b"short"), "does not hold 32 bytes; remove it"),
    (lambda key: (key.rename(key.with_name("real")), key.symlink_to(key.with_name("real"))),
     "is a symbolic link; remove it"),
    (lambda key: (key.unlink(), key.mkdir(mode=0o700)), "is not a regular file; remove it"),
], ids=["mode", "owner", "length", "symlink", "directory"])
def test_an_unsafe_key_file_is_refused_in_one_line(tmp_path, spoil, refusal):
    load_user_key(user_key_path())
    spoil(user_key_path())
    code, out, err = prove("v3-per-bar", tmp_path)
    assert (code, out) == (2, "")
    assert err.startswith(f"barcheck: error: --cache {tmp_path}: key file {user_key_path()} {refusal}")
    assert err.count("\n") == 1


def test_concurrent_first_runs_agree_on_one_key(key_home):
    keys, start = [], threading.Barrier(8)

    def first_run():
        start.wait()
        keys.append(load_user_key(user_key_path()))

    threads = [threading.Thread(target=first_run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    cache_module._create_key(user_key_path())
    assert load_user_key(user_key_path()) == keys[0], "losing the race keeps the winner's key"
    assert sorted(p.name for p in user_key_path().parent.iterdir()) == ["cache-key"]


# ----------------------------------------------------------------------------- every engine's outcome as JSON


CHEAP_JOBS = [
    CEX_JOB,
    PROVED_JOB,
    Job(RECORD, "msix.table-protected", "linux-4.16", 4096, RecordSettings()),
    Job(ROUND_TRIP, "pgoff.round-trip", "linux-6.10", 4096, RoundTripSettings()),
    Job(TRACE, "probe.idempotent", "v3-per-bar", 4096, TraceSettings(method="bmc", depth=2), 1),
    Job(VMA, "revoke.complete", "rfc-2021", 4096, VmaSettings(method="bmc", depth=4), 1),
    Job(MEASURE, "msix.mappable-fraction", "linux-4.8", 65536, MeasureSettings(bar_sizes=(0x4000,))),
]


@pytest.fixture(scope="module")
def outcomes():
    return [execute(job) for job in CHEAP_JOBS]


def test_the_cheap_jobs_cover_every_engine_and_trace_kind(outcomes):
    from barcheck.run.jobs import ENGINES
    assert {job.engine for job in CHEAP_JOBS} == set(ENGINES)
    traces = {type(r.trace).__name__ for r in outcomes if getattr(r, "verdict", None) is Verdict.COUNTEREXAMPLE}
    assert traces == {"NoneType", "RecordCounterexample", "RoundTripCounterexample", "TraceCounterexample",
                      "VmaCounterexample"}
    assert any(r.verdict is Verdict.PROVED for r in outcomes if not isinstance(r, tuple))


def test_every_engines_outcome_round_trips_through_a_json_entry_exactly(tmp_path, outcomes):
    cache = open_cache(str(tmp_path))
    for job, outcome in zip(CHEAP_JOBS, outcomes):
        cache.put(job, outcome)
    assert cache.write_errors == []
    again = open_cache(str(tmp_path))
    for job, outcome in zip(CHEAP_JOBS, outcomes):
        document = json.loads(again.entry_path(job).read_text())
        assert sorted(document) == ["entry", "mac"] and document["entry"]["engine"] == job.engine
        assert repr(again.get(job)) == repr(outcome), job
    assert (again.hits, again.misses, again.rejected) == (len(CHEAP_JOBS), 0, [])


def test_an_outcome_json_cannot_carry_exactly_is_not_stored(tmp_path, outcomes):
    cache = open_cache(str(tmp_path))
    cex = outcomes[0]
    ambiguous = dataclasses.replace(cex, counterexample=dataclasses.replace(
        cex.counterexample, facts={**cex.counterexample.facts, "note": "0x10"}))
    for outcome in (dataclasses.replace(cex, scope={**cex.scope, "pins": ("a", "b")}), ambiguous):
        cache.put(CEX_JOB, outcome)
        assert not cache.entry_path(CEX_JOB).exists()
    assert cache.write_errors == ["a pair result does not survive JSON unchanged"] * 2
