"""`barcheck selftest`, the whole harness, as CI runs it: every mutant killed or reasoned equivalent,
every solver/enumeration case agreeing, every property's antecedent witnessed, no fuzz crash, and
UNKNOWN under a starved solver.  Plus checks that the harness itself can fail."""

from __future__ import annotations

import io
import json
import os

import pytest

from barcheck.cli.main import main
from barcheck.selftest import kill as killing
from barcheck.selftest.kill import KillSettings, kill
from barcheck.selftest.mutants import ALIGNMENT, MUTANTS, Mutant
from barcheck.selftest.render import FAIL, mutants_doc, verdict
from model.policies import get_policy
from model.policies.linux import Linux48
from properties import RECORD_PROPERTIES, REGISTRY


@pytest.fixture(scope="module")
def full() -> dict:
    out, err = io.StringIO(), io.StringIO()
    code = main(["selftest", "--format", "json", "--no-timings", "--jobs", str(min(2, os.cpu_count() or 1))],
                out, err)
    assert code == 0, err.getvalue() + out.getvalue()[-3000:]
    return json.loads(out.getvalue())


def test_every_mutant_is_killed_or_reasoned_equivalent(full) -> None:
    m = full["mutants"]
    assert m["total"] == len(MUTANTS) >= 20
    assert m["killed"] == m["killable"] and m["kill_rate"] == "100.0%"
    assert m["survived"] == 0 and m["unknown"] == 0 and not m["declared_equivalent_but_killed"]
    for row in m["mutants"]:
        if row["status"] == "killed":
            assert row["counterexample"] and row["killed_by"]["expected"], row
        else:
            assert row["status"] == "equivalent" and len(row["equivalent_reason"]) > 80, row


def test_solver_and_enumeration_agree_everywhere(full) -> None:
    a = full["agreement"]
    assert a["cases"] >= 120 and a["agree"] == a["cases"] and a["agreement"] == "100.0%"
    assert not a["disagreements"]
    assert set(a["verdicts"]) == {"proved", "counterexample", "vacuous"}


def test_every_property_has_a_replayed_antecedent_witness(full) -> None:
    c = full["coverage"]
    assert c["reached"] == c["properties"] == len(REGISTRY) + len(RECORD_PROPERTIES) and c["unknown"] == 0
    for prop_id, entry in c["by_property"].items():
        assert entry["witness"] is not None, prop_id


def test_fuzzing_finds_no_crash(full) -> None:
    f = full["fuzz"]
    assert f["inputs"] >= 12_000 and f["crashes"] == 0
    assert {t["target"] for t in f["targets"]} == {"lspci", "pciconf", "iomem", "sysfs", "dmesg", "scenario"}


def test_a_starved_solver_answers_unknown(full) -> None:
    li = full["limits"]
    assert li["checks"] == 5 and li["unknown"] == 5


def test_the_verdict_is_pass(full) -> None:
    assert full["verdict"] == "pass"


class Unchanged(Linux48):
    name = "mutant-unchanged"


def test_an_unkillable_undeclared_mutant_fails_the_selftest(monkeypatch) -> None:
    """The harness can fail: a "mutant" identical to its base survives, and the verdict is FAIL."""
    same = Mutant("unchanged", "linux-4.8", ALIGNMENT, "nothing", Unchanged(), "isolation.window")
    result = kill(same, KillSettings(pages=(4096,)))
    assert not result.killed and all(a.outcome in ("holds", "proved", "vacuous") for a in result.attempts)
    doc = {"mutants": mutants_doc([result])}
    assert doc["mutants"]["survived"] == 1 and verdict(doc) == FAIL


def test_a_base_that_also_fails_does_not_count_as_a_kill() -> None:
    """v3-per-bar as a "mutant" of itself: its probe.idempotent counterexample breaks the base too."""
    v3 = get_policy("v3-per-bar")
    selfish = Mutant("v3-itself", "v3-per-bar", ALIGNMENT, "none", v3, "probe.idempotent")
    result = kill(selfish, KillSettings(pages=(4096,)))
    assert not result.killed


def test_selftest_usage_errors() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["selftest", "--mutant", "nope"], out, err) == 2
    assert err.getvalue().count("\n") == 1 and "unknown mutant 'nope'" in err.getvalue()
    err = io.StringIO()
    assert main(["selftest", "--section", "fuzz", "--mutant", "no-dummy"], out, err) == 2


def test_list_mutants_names_each_once() -> None:
    out = io.StringIO()
    assert main(["selftest", "--list-mutants"], out, io.StringIO()) == 0
    slugs = [line.split()[0] for line in out.getvalue().splitlines()]
    assert slugs == [m.slug for m in MUTANTS] and len(set(slugs)) == len(slugs)


def test_kind_order_lists_every_aspect() -> None:
    assert set(killing.KIND_ORDER) == {m.aspect for m in MUTANTS}
