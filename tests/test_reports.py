"""reports/ is current: every generated file re-renders byte for byte from reports/report.json, that
document was generated from today's sources, its counterexamples still replay, and a sample of its
checks re-solves to the identical result.

Regenerating the whole catalogue takes about 4 minutes of solving on 2 cores, so the
test does not re-solve all of it: `inputs_sha256` ties report.json to the
sources that decide its content, and the sample below re-solves the cheapest
checks to catch drift the digest cannot see (z3 builds, platforms).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from barcheck.cli.catalogue import inputs_digest, render_catalogue, stale_files
from barcheck.engine.checker import Settings, check
from barcheck.render.text import result_doc
from barcheck.engine.pgoffcheck import ROUND_TRIP_ID, RoundTripSettings, check_round_trip
from barcheck.engine.recordcheck import RecordSettings, check_record
from barcheck.engine.witness import STILL_VIOLATES, replay_witness
from model.policies import get_policy
from properties import REGISTRY
from properties.record import RECORD_PROPERTIES

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports"
REGENERATE = "barcheck reports (about 4 minutes on 2 cores)"
RERENDER = "barcheck reports --from reports/report.json"
SAMPLE_CHECKS = 12


@pytest.fixture(scope="module")
def doc():
    return json.loads((REPORTS / "report.json").read_text(encoding="utf-8"))


def test_report_json_comes_from_the_current_sources(doc):
    assert doc["meta"]["inputs_sha256"] == inputs_digest(), (
        f"reports/report.json is stale: model/, properties/ or the engine changed since it was generated; "
        f"run `{REGENERATE}`")


def test_every_generated_file_re_renders_byte_for_byte(doc):
    files = render_catalogue(doc)
    assert "matrix.md" in files and "html/report.html" in files and "report.sarif" in files
    for name, text in files.items():
        path = REPORTS / name
        assert path.is_file(), f"reports/{name} is missing; run `{RERENDER}`"
        assert path.read_text(encoding="utf-8") == text, f"reports/{name} differs; run `{RERENDER}`"
    assert not stale_files(REPORTS, files), f"stale generated files in reports/; run `{RERENDER}`"


def test_one_report_per_counterexample(doc):
    cexes = [r for r in doc["results"] if r["verdict"] == "counterexample"]
    assert cexes
    for result in cexes:
        for suffix in (".json", ".md"):
            assert (REPORTS / "counterexamples" / f"{result['id']}{suffix}").is_file()
        assert len(list((REPORTS / "html").glob(f"{result['id']}-*.svg"))) == len(result["maps"]) >= 1


def test_every_committed_counterexample_still_violates(doc):
    for result in doc["results"]:
        if result["verdict"] == "counterexample":
            outcome = replay_witness(result["replay"])
            assert outcome.status == STILL_VIOLATES, f"{result['id']}: {outcome.status}: {outcome.detail}"


def _resolve(result: dict, meta: dict):
    policy, page = get_policy(result["policy"]), result["page_size"]
    seed, rlimit = meta["seed"], meta["rlimit"]
    if result["kind"] == "pair":
        return check(REGISTRY[result["property"]], policy, page, Settings(seed=seed, rlimit=rlimit))
    if result["property"] == ROUND_TRIP_ID:
        return check_round_trip(policy, page, RoundTripSettings(seed=seed, rlimit=rlimit))
    return check_record(RECORD_PROPERTIES[result["property"]], policy, page, RecordSettings(seed=seed, rlimit=rlimit))


def test_a_sample_of_checks_re_solves_to_the_identical_result(doc):
    candidates = [r for r in doc["results"] if r["kind"] in ("pair", "function")]
    by_verdict = {}
    for result in sorted(candidates, key=lambda r: (r["solver"]["work"], r["id"])):
        by_verdict.setdefault(result["verdict"], []).append(result)
    sample = [r for results in by_verdict.values() for r in results[:SAMPLE_CHECKS // len(by_verdict) + 1]]
    assert {r["verdict"] for r in sample} >= {"proved", "counterexample"}
    for committed in sample:
        fresh = result_doc(_resolve(committed, doc["meta"]), timings=False)
        assert fresh == committed, f"{committed['id']} re-solves differently; run `{REGENERATE}`"


def test_re_rendering_through_the_command_is_deterministic_across_hash_seeds(tmp_path):
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "-m", "barcheck", "reports", "--from", str(REPORTS / "report.json"),
                           "--out", str(tmp_path)], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written
    for name in written:
        assert (tmp_path / name).read_bytes() == (REPORTS / name).read_bytes(), name
