"""The patch gate: a policy file is checked by every check whose encoding reads what it overrides.

The dependency is recorded from the engines (barcheck/run/depends.py), so these tests check it against
what each engine is known to read, and check that a member no selected check reads is refused.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from barcheck.engine.checker import Settings
from barcheck.cli.main import main
from barcheck.run.depends import EVERYTHING, Recorder, changed_members
from barcheck.run.jobs import PAIR, TRACE, VMA, Job
from barcheck.engine.vmacheck import VmaSettings
from barcheck.engine.tracecheck import TraceSettings
from barcheck.run.userpolicy import forget_user_policies
from model.events import EventKind, KERNEL_EVENTS
from model.policies import get_policy
from model.vma import VmaEventKind

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "examples" / "policies"


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        code = main(argv, out, err)
    finally:
        forget_user_policies()
    return code, out.getvalue(), err.getvalue()


def write_policy(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name.replace('-', '_')}.py"
    path.write_text("from model.policies.linux import Linux48\n\n\n"
                    f"class Patch(Linux48):\n    name = {name!r}\n{body}")
    return path


# --- what the engines read ----------------------------------------------------------------------

def test_pair_check_reads_the_probe_rules_and_not_the_release_attributes() -> None:
    policy = get_policy("linux-4.8")
    names = Recorder(policy).members_read(Job(PAIR, "isolation.window", policy.name, 4096, Settings()))
    assert names is not EVERYTHING
    assert {"probe", "may_reserve", "request_dummy", "mmap_window", "at_mmap"} <= names
    assert not names & {"releases_dummy_at_munmap", "releases_dummy_at_reset", "pgoff_holds"}


def test_trace_check_reads_every_release_attribute_and_the_mmap_rule() -> None:
    policy = get_policy("linux-4.8")
    job = Job(TRACE, "dummy.held-while-mapped", policy.name, 4096, TraceSettings(events=KERNEL_EVENTS), 2)
    names = Recorder(policy).members_read(job)
    assert {"releases_dummy_at_munmap", "releases_dummy_at_reset", "releases_dummy_at_close", "at_mmap",
            "reprobe", "probe", "mmap_window"} <= names


def test_trace_reads_follow_the_events_the_run_has() -> None:
    policy = get_policy("linux-4.8")
    events = (EventKind.OPEN, EventKind.CLOSE, EventKind.MMAP)
    narrow = Job(TRACE, "isolation.window", policy.name, 4096, TraceSettings(events=events), 2)
    wide = Job(TRACE, "isolation.window", policy.name, 4096, TraceSettings(events=KERNEL_EVENTS), 2)
    assert "releases_dummy_at_close" in Recorder(policy).members_read(narrow)
    assert "reprobe" not in Recorder(policy).members_read(narrow)
    assert "reprobe" in Recorder(policy).members_read(wide)


def test_mapping_check_reads_the_revocation_attributes() -> None:
    policy = get_policy("linux-6.10")
    job = Job(VMA, "revoke.complete", policy.name, 4096, VmaSettings(events=tuple(VmaEventKind)), 2)
    names = Recorder(policy).members_read(job)
    assert {"revokes_by", "pgoff_holds", "populates_at"} <= names


def test_an_engine_that_raises_while_recording_counts_as_reading_everything() -> None:
    class Broken(type(get_policy("linux-4.8"))):
        name = "broken-recording"

        def probe(self, ops, req):
            raise RuntimeError("boom")

    policy = Broken()
    assert Recorder(policy).members_read(Job(PAIR, "isolation.window", "linux-4.8", 4096, Settings())) is EVERYTHING


def test_changed_members_between_kernel_versions_are_found_from_the_classes() -> None:
    assert changed_members(get_policy("linux-4.8"), get_policy("linux-4.8")) == set()
    assert "probe" in changed_members(get_policy("linux-4.7"), get_policy("linux-4.8"))
    assert "pci_core" in changed_members(get_policy("linux-4.8"), get_policy("linux-4.8+resource_alignment"))


# --- the selection ------------------------------------------------------------------------------

def test_default_selection_of_a_file_is_the_checks_that_read_its_members(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "align-only", "    def may_reserve(self, ops, bar, page_bytes):\n"
                                              "        return super().may_reserve(ops, bar, page_bytes)\n")
    code, out, err = run(["prove", "--policy", str(path), "--page-size", "4K", "--format", "json",
                          "--no-timings", "--jobs", "1", "--progress", "none", "--mode", "pair"])
    assert code in (0, 1, 3), err
    doc = json.loads(out)
    kinds = {(r["property"], r["kind"]) for r in doc["results"]}
    assert ("isolation.window", "pair") in kinds and ("msix.table-protected", "function") in kinds
    assert ("pgoff.round-trip", "function") not in kinds and ("guest.bar-routing", "function") not in kinds


def test_a_member_no_check_reads_is_an_error_naming_it(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "not-placed", "    placed_by_pci_core = False\n")
    code, out, err = run(["prove", "--policy", str(path), "--page-size", "4K", "--jobs", "1"])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "placed_by_pci_core" in err and f"{path}:6" in err


def test_a_narrowed_selection_that_misses_the_member_is_an_error(tmp_path: Path) -> None:
    path = POLICIES / "munmap_release.py"
    code, _, err = run(["prove", "--policy", str(path), "--property", "isolation.window", "--mode", "pair",
                        "--page-size", "4K", "--jobs", "1"])
    assert code == 2 and "releases_dummy_at_munmap" in err and err.count("\n") == 1
    code, _, err = run(["diff", "--policy", "linux-4.8", "--policy", str(path), "--mode", "pair",
                        "--page-size", "4K", "--jobs", "1"])
    assert code == 2 and "releases_dummy_at_munmap" in err


def test_naming_a_trace_property_runs_it_without_mode(tmp_path: Path) -> None:
    code, out, err = run(["prove", "--policy", "linux-4.8", "--property", "dummy.no-leak", "--page-size", "4K",
                          "--devices", "2", "--format", "json", "--no-timings", "--jobs", "1",
                          "--progress", "none"])
    assert code == 0, err
    (result,) = json.loads(out)["results"]
    assert (result["property"], result["kind"], result["verdict"]) == ("dummy.no-leak", "trace", "proved")


def test_munmap_release_regresses_under_the_default_diff(tmp_path: Path) -> None:
    """The default selection (no --property, no --mode); two device slots and a smaller budget keep it short
    (the refutation is open, mmap, munmap, mmap on one device)."""
    shutil.copy(POLICIES / "munmap_release.py", tmp_path / "munmap_release.py")
    code, out, err = run(["diff", "--policy", "linux-4.8", "--policy", str(tmp_path / "munmap_release.py"),
                          "--page-size", "4K", "--devices", "2", "--rlimit", "40000000", "--format", "json",
                          "--jobs", "2", "--progress", "none"])
    assert code == 1, err
    diff = json.loads(out)
    assert "releases_dummy_at_munmap" in diff["meta"]["changed_members"]
    regressions = {(r["property"], r["kind"]) for r in diff["rows"] if r["change"] == "regression"}
    assert ("dummy.held-while-mapped", "trace") in regressions
    assert {r["kind"] for r in diff["rows"]} == {"trace"}


def test_reserve_at_mmap_is_a_rule_a_policy_file_can_override() -> None:
    code, out, err = run(["prove", "--policy", str(POLICIES / "reserve_at_mmap.py"), "--mode", "pair",
                          "--property", "isolation.window", "--property", "mmap.subpage-available",
                          "--page-size", "4K", "--format", "json", "--no-timings", "--jobs", "1",
                          "--progress", "none"])
    assert code == 1, err
    verdicts = {r["property"]: r["verdict"] for r in json.loads(out)["results"]}
    assert verdicts == {"isolation.window": "proved", "mmap.subpage-available": "counterexample"}


@pytest.mark.parametrize("prop", ["dummy.held-while-mapped", "isolation.window"])
def test_reserve_at_mmap_keeps_the_trace_properties(prop: str) -> None:
    code, out, err = run(["prove", "--policy", str(POLICIES / "reserve_at_mmap.py"), "--property", prop,
                          "--mode", "trace", "--page-size", "4K", "--devices", "2", "--format", "json",
                          "--no-timings", "--jobs", "1", "--progress", "none"])
    assert code == 0, err
    (result,) = json.loads(out)["results"]
    assert result["verdict"] == "proved"
