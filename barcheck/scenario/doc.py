"""`barcheck check` runs in the shape of the result document, for the SARIF, JUnit and HTML formats.

Each (scenario, policy, page size) run becomes one result.  Its rule is the
first property it violates ("scenario.expectations" when only an `expect_*`
value differs, "scenario" when nothing failed), and its location is the
scenario file: the user's own input.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from barcheck.render.maps import trace_maps
from barcheck.scenario.render import step_lines
from barcheck.engine.tracecheck import TraceCounterexample, TraceStep
from barcheck.engine.verdict import Verdict
from model.units import size_name

SCENARIO_RULE = ("scenario", "Every selected trace property holds at every step of the scenario, and every "
                 "expect_* value matches")
MAX_ID_CHARS = 120
"""Ids name files (`<id>-<n>.svg`); with this cap every such name stays far below NAME_MAX (255 bytes)."""
EXPECTATION_RULE = ("scenario.expectations", "The model's placement, mmap decision and reservations match the "
                    "scenario's expect_start, expect_mmap and expect_reserved values")


def _rule(page_run) -> tuple[str, str]:
    for step in page_run.steps:
        if step.violations:
            prop_id = step.violations[0].split(" ", 1)[0]
            return prop_id, f"Trace property {prop_id}, checked at every step of the scenario"
    if any(step.mismatches for step in page_run.steps):
        return EXPECTATION_RULE
    return SCENARIO_RULE


def _maps(page_run) -> list[dict[str, Any]]:
    if page_run.structure is None:
        return []
    steps = tuple(TraceStep(n, t.event, t.before, t.after) for n, t in enumerate(page_run.taken, start=1))
    tcx = TraceCounterexample(page_run.structure, page_run.initial, steps, page_run.violated or "", "first-fit")
    return trace_maps(tcx)


def _explanation(spec, policy_name: str, page_run, prop_id: str) -> str:
    for s in page_run.steps:
        problems = list(s.violations) + list(s.mismatches)
        if problems:
            return (f"Scenario {spec.name} under {policy_name} at {size_name(page_run.page_size)} pages fails at "
                    f"step {s.number} ({s.text}): {problems[0]}.")
    return page_run.reason or f"Scenario {spec.name} fails {prop_id}."


def result_id(spec_name: str, policy_name: str, page_bytes: int) -> str:
    """A file-name-safe id of at most MAX_ID_CHARS; a longer one is cut and keeps a digest of the whole."""
    raw = f"scenario.{spec_name}.{policy_name}.{size_name(page_bytes)}"
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", raw.replace("+", "_plus_"))
    if len(safe) <= MAX_ID_CHARS:
        return safe
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{safe[:MAX_ID_CHARS - len(digest) - 1]}-{digest}"


def run_result(spec, policy_name: str, page_run) -> dict[str, Any]:
    prop_id, statement = _rule(page_run)
    doc: dict[str, Any] = {
        "id": result_id(spec.name, policy_name, page_run.page_size),
        "property": prop_id, "title": f"scenario {spec.name}", "statement": statement, "kind": "scenario",
        "policy": policy_name, "page_size": page_run.page_size, "verdict": page_run.verdict.value,
        "scope": {"scenario": spec.name, "file": str(spec.path)}, "assumptions": [],
        "source": {"path": str(spec.path), "line": 1},
        "steps": step_lines(page_run, "", with_reason=False),
    }
    if page_run.reason:
        doc["reason"] = page_run.reason
    if page_run.verdict is Verdict.COUNTEREXAMPLE:
        doc["explanation"] = _explanation(spec, policy_name, page_run, prop_id)
        doc["maps"] = _maps(page_run)
    if page_run.verdict is Verdict.PROVED:
        doc["why"] = {"scope": page_run.reason or f"the concrete run of scenario {spec.name}", "assumptions": []}
    return doc


def scenario_document(runs: list, meta: dict[str, Any]) -> dict[str, Any]:
    return {"schema": "barcheck.result/1", "meta": {**meta, "width_bits": 64, "assumption_text": {}},
            "results": [run_result(*r) for r in runs]}
