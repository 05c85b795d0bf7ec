"""The Horn-clause export of a trace check (barcheck/engine/chc.py) against the engine's verdicts.

Spacer runs on a work limit (rlimit), not a clock, so each answer is the same on every machine.
"""

from __future__ import annotations

import re

import pytest
import z3

from barcheck.engine.chc import (
    COUNTEREXAMPLE,
    PROVED,
    export_trace,
    export_vma,
    refuted_rules,
    run_spacer,
    state_leaves,
    to_smtlib,
)
from barcheck.engine.tracecheck import TraceSettings, check_trace
from barcheck.engine.unroll import TraceSolver
from barcheck.engine.vmacheck import check_vma
from model.events import all_events
from model.policies import get_policy
from model.system import standard_structure
from model.vma import vma_structure
from properties.revoke import VMA_PROPERTIES
from properties.trace import TRACE_PROPERTIES

PAGE = 4096
ONE_DEVICE = standard_structure(1)
PROOF_RLIMIT = 20_000_000
"""Spacer needs about 0.4 M work units for the small proof below."""
REFUTATION_RLIMIT = 40_000_000
"""Spacer needs about 20 M work units to derive Err for probe.idempotent under v3-per-bar."""


def _export(prop_id: str, policy: str):
    return export_trace(TRACE_PROPERTIES[prop_id], get_policy(policy), ONE_DEVICE, PAGE)


@pytest.fixture(scope="module")
def no_leak():
    return _export("dummy.no-leak", "linux-4.8")


def test_the_text_declares_inv_over_every_state_variable_and_one_rule_per_event(no_leak):
    text = to_smtlib(no_leak)
    leaves = state_leaves(TraceSolver(ONE_DEVICE, (PAGE,), 64, 0, 0).fresh_state("s"))
    declared = re.search(r"\(declare-rel Inv \((.*)\)\)", text).group(1)
    assert declared.count("(_ BitVec 64)") + declared.split().count("Bool") == len(leaves)
    events = all_events(ONE_DEVICE, TraceSettings().events)
    steps = [name for name, _ in no_leak.rules if name.startswith("step ")]
    assert steps == [f"step {e.kind.value}({e.target})" for e in events]
    assert [name for name, _ in no_leak.rules if name.startswith("safety ")] == ["safety bar:0"]
    assert text.count("(rule ") == len(no_leak.rules) and text.rstrip().endswith("(query Err)")
    assert to_smtlib(_export("dummy.no-leak", "linux-4.8")) == text


def test_the_text_parses_back_and_spacer_agrees_with_the_engine_on_a_proof(no_leak):
    engine = check_trace(TRACE_PROPERTIES["dummy.no-leak"], get_policy("linux-4.8"), ONE_DEVICE, PAGE)
    assert engine.verdict.value == "proved"
    from_text = run_spacer(to_smtlib(no_leak), rlimit=PROOF_RLIMIT)
    in_memory = run_spacer(no_leak, rlimit=PROOF_RLIMIT)
    assert (from_text.result, in_memory.result) == (PROVED, PROVED), (from_text, in_memory)
    assert refuted_rules(no_leak, in_memory.invariant) == []
    assert in_memory.work > 0


def test_the_certificate_check_rejects_an_invariant_that_proves_nothing(no_leak):
    assert refuted_rules(no_leak, z3.BoolVal(True, no_leak.ctx)) == ["safety bar:0"]
    assert "init" in refuted_rules(no_leak, z3.BoolVal(False, no_leak.ctx))


def test_spacer_never_proves_what_the_engine_refutes():
    prop, policy = TRACE_PROPERTIES["probe.idempotent"], get_policy("v3-per-bar")
    engine = check_trace(prop, policy, ONE_DEVICE, PAGE)
    assert engine.verdict.value == "counterexample"
    run = run_spacer(export_trace(prop, policy, ONE_DEVICE, PAGE), rlimit=REFUTATION_RLIMIT)
    assert run.result != PROVED, run
    assert run.result == COUNTEREXAMPLE, run


def test_the_mapping_export_agrees_with_the_engine_on_a_counterexample():
    prop, policy, st = VMA_PROPERTIES["revoke.complete"], get_policy("linux-4.8"), vma_structure(1)
    engine = check_vma(prop, policy, st, PAGE)
    assert engine.verdict.value == "counterexample"
    system = export_vma(prop, policy, st, PAGE)
    assert {"safety bar:0", "safety bar:1"} <= {name for name, _ in system.rules}
    assert run_spacer(system, rlimit=PROOF_RLIMIT).result == COUNTEREXAMPLE
