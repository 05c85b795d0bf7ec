"""Saved counterexamples: witnesses round-trip through JSON, replay on the concrete semantics, and the
`replay`, `explain` and `export-test` commands give the exit codes and one-line errors they promise."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from barcheck.cli.main import main
from barcheck.render.explain import id_of
from barcheck.render.maps import maps_of
from barcheck.render.text import document
from barcheck.engine.pgoffcheck import RoundTripSettings, check_round_trip
from barcheck.engine.recordcheck import RecordSettings, check_record
from barcheck.engine.verdict import Verdict
from barcheck.engine.wire import WireError, decode, encode
from barcheck.engine.witness import NO_LONGER_VIOLATES, NOT_A_VALID_INPUT, STILL_VIOLATES, replay_witness, witness_of
from model.policies import get_policy
from model.scenario import PairScenario
from model.system import State, Structure
from properties.record import RECORD_PROPERTIES

ROOT = Path(__file__).resolve().parents[1]
SAVED = ROOT / "tests" / "data" / "saved-cex"
ROLES = {"window", "bar", "device", "foreign", "dummy", "mapping", "request", "table"}
META = {"barcheck_version": "0", "z3_version": "0", "seed": 0, "rlimit": 1, "width_bits": 64,
        "policies": ["linux-4.16", "linux-6.10"], "properties": ["msix.table-protected", "pgoff.round-trip"],
        "page_sizes": [4096]}


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def live_results():
    """Counterexamples of the function engines, found by the solver now (each well under a second)."""
    record = check_record(RECORD_PROPERTIES["msix.table-protected"], get_policy("linux-4.16"), 4096, RecordSettings())
    round_trip = check_round_trip(get_policy("linux-6.10"), 4096, RoundTripSettings())
    assert record.verdict is round_trip.verdict is Verdict.COUNTEREXAMPLE
    return [record, round_trip]


@pytest.fixture(scope="module")
def live_report(tmp_path_factory, live_results):
    path = tmp_path_factory.mktemp("live") / "report.json"
    path.write_text(json.dumps(document(live_results, META, timings=False), indent=2) + "\n")
    return path


def saved_files() -> list[Path]:
    files = sorted(SAVED.glob("*.json"))
    assert files, f"no saved counterexamples in {SAVED}"
    return files


def test_saved_witnesses_cover_every_engine():
    engines = {json.loads(p.read_text())["result"]["replay"]["engine"] for p in saved_files()}
    assert engines == {"pair", "trace", "vma", "record", "round-trip"}


@pytest.mark.parametrize("path", saved_files(), ids=lambda p: p.stem)
def test_saved_witness_still_violates_and_re_encodes_identically(path):
    result = json.loads(path.read_text())["result"]
    outcome = replay_witness(result["replay"])
    assert outcome.status == STILL_VIOLATES, outcome.detail
    engine = result["replay"]["engine"]
    if engine in ("trace", "vma"):
        tcx = outcome.counterexample
        assert encode(tcx.structure) == result["replay"]["structure"]
        assert encode(tcx.initial) == result["replay"]["initial"]
        assert [encode(s.event) for s in tcx.steps] == [m["event"] for m in result["replay"]["moves"]]
    if engine == "pair":
        assert encode(outcome.counterexample.scenario) == result["replay"]["scenario"]


def test_live_witnesses_replay_and_maps_use_known_roles(live_results):
    for result in live_results:
        witness = json.loads(json.dumps(witness_of(result)))
        outcome = replay_witness(witness)
        assert outcome.status == STILL_VIOLATES, outcome.detail
        maps = maps_of(result)
        assert maps and all(b["role"] in ROLES for m in maps for b in m["blocks"])
        assert any(b["role"] == "foreign" for b in maps[-1]["blocks"])


def test_wire_round_trips_a_state_and_names_the_bad_path():
    saved = next(json.loads(p.read_text())["result"]["replay"] for p in saved_files()
                 if "trace" == json.loads(p.read_text())["result"]["replay"]["engine"])
    state = decode(State, saved["initial"])
    assert encode(state) == saved["initial"]
    assert decode(Structure, saved["structure"]).devices
    broken = copy.deepcopy(saved["initial"])
    broken["window"][0]["first"] = "fe000000"
    with pytest.raises(WireError, match=r"\$\.window\[0\]\.first: expected a hex string"):
        decode(State, broken)
    with pytest.raises(WireError, match="not a field of PairScenario"):
        decode(PairScenario, {"nonsense": "0x1"})


def test_a_fixed_policy_no_longer_violates(live_results):
    witness = witness_of(live_results[0])
    witness["policy"] = "linux-4.8"
    assert replay_witness(witness).status == NO_LONGER_VIOLATES


def test_an_input_that_breaks_an_assumption_is_invalid(live_results):
    witness = witness_of(live_results[0])
    witness["fields"]["bar_size"] = "0x18"
    assert replay_witness(witness).status == NOT_A_VALID_INPUT


def relabel(doc: dict, result: dict, policy: str) -> None:
    """Ask about the same inputs under another policy: every label names it, consistently."""
    result["policy"] = result["replay"]["policy"] = policy
    result["id"] = id_of(result["property"], result["kind"], policy, result["page_size"])
    doc["meta"]["policies"].append(policy)


def test_replay_command_exit_codes(tmp_path, live_report):
    code, out, err = run("replay", str(live_report))
    assert code == 1 and err == ""
    assert out.count("STILL VIOLATES") == 2
    doc = json.loads(live_report.read_text())
    doc["results"] = [r for r in doc["results"] if r["property"] == "msix.table-protected"]
    relabel(doc, doc["results"][0], "linux-4.8")
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps(doc))
    code, out, _ = run("replay", str(fixed))
    assert code == 0 and out.startswith("NO LONGER VIOLATES")
    for fields in (doc["results"][0]["replay"]["fields"], doc["results"][0]["trace"]["fields"]):
        fields["table_offset"] = "0x4"
    fixed.write_text(json.dumps(doc))
    code, out, _ = run("replay", str(fixed))
    assert code == 3 and out.startswith("INVALID INPUT")


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: d.update(schema="nope"), "schema: expected"),
    (lambda d: relabel(d, d["results"][0], "linux-9.9"), "replay.policy: unknown policy"),
    (lambda d: d["results"][0]["replay"].update(engine="quantum"), "replay.engine: unknown engine"),
    (lambda d: d["results"][0]["replay"]["fields"].update(bar_size=16), "replay.fields.bar_size: expected a hex"),
    (lambda d: d["results"][0]["replay"].update(page_size="0x3000"), "replay.page_size: 0x3000 is not a power"),
    (lambda d: d["results"][0].pop("replay"), "results[0].replay: missing"),
    (lambda d: d.update(results=[]), "no counterexample in the file"),
])
def test_malformed_saved_files_are_one_line_errors(tmp_path, live_report, mutate, needle):
    doc = json.loads(live_report.read_text())
    mutate(doc)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    for command in ("replay", "explain", "export-test"):
        extra = ("--out", str(tmp_path / "tests")) if command == "export-test" else ()
        code, out, err = run(command, str(bad), *extra)
        assert code == 2 and out == "", err
        assert needle in err and str(bad) in err and err.count("\n") == 1


def test_not_json_names_the_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "schema": \n}')
    code, _, err = run("replay", str(bad))
    assert code == 2 and "line 3 column 1: not JSON" in err


def test_explain_prints_the_sentence_the_rule_and_how_to_replay(live_report):
    code, out, err = run("explain", str(live_report))
    assert code == 0 and err == ""
    assert "COUNTEREXAMPLE msix.table-protected [function] · linux-4.16 · 4K" in out
    assert "vfio_pci_mmap() accepts an mmap" in out and f"barcheck replay {live_report}" in out
    code, md, _ = run("explain", "--format", "md", str(live_report))
    assert code == 0 and "![" in md and ".svg)" in md


def test_exported_pytest_fails_while_violating_and_passes_when_pinned(tmp_path, live_report):
    for expect, want_exit in (("holds", 1), ("violates", 0)):
        out_dir = tmp_path / expect
        code, out, err = run("export-test", str(live_report), "--out", str(out_dir), "--expect", expect)
        assert code == 0 and err == "" and out.count("wrote ") == 2
        tests = sorted(out_dir.glob("test_*.py"))
        assert len(tests) == 2
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *map(str, tests)],
                              cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == want_exit, done.stdout + done.stderr
        if expect == "holds":
            assert "still violates" in done.stdout
