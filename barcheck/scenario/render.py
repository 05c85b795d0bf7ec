"""Reports of `barcheck check`: one section per scenario, policy and page size, step by step."""

from __future__ import annotations

import json
from typing import Any

from barcheck.inputs.textsafe import escape_control
from model.units import size_name

SCHEMA = "barcheck.scenario/1"


def run_doc(spec, policy_name: str, page_run) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "scenario": spec.name,
        "file": spec.path,
        "policy": policy_name,
        "page_size": page_run.page_size,
        "firmware": spec.firmware,
        "verdict": page_run.verdict.value,
        "steps": [{"number": s.number, "text": s.text, "happened": s.enabled,
                   "violations": list(s.violations), "mismatches": list(s.mismatches)} for s in page_run.steps],
    }
    if page_run.open_values:
        doc["open_values"] = {name: hex(value) for name, value in sorted(page_run.open_values.items())}
    if page_run.reason:
        doc["reason"] = page_run.reason
    return doc


def render_json(runs: list, meta: dict[str, Any]) -> str:
    doc = {"schema": SCHEMA, "meta": meta, "runs": [run_doc(*r) for r in runs]}
    return json.dumps(doc, indent=2) + "\n"


def _title(spec, policy_name: str, page_run) -> str:
    return f"{spec.name} · {policy_name} · {size_name(page_run.page_size)} · {page_run.verdict.value}"


def step_lines(page_run, bullet: str, with_reason: bool = True) -> list[str]:
    """The numbered steps with their violations and expectation mismatches, then open values and the reason."""
    lines = []
    for s in page_run.steps:
        lines.append(f"{bullet}{s.number}. {s.text}")
        lines += [f"{bullet}   VIOLATES {v}" for v in s.violations]
        lines += [f"{bullet}   EXPECTATION {m}" for m in s.mismatches]
    if page_run.open_values:
        lines.append(f"{bullet}open values: " + ", ".join(f"{k} = {v:#x}" for k, v in sorted(page_run.open_values.items())))
    if page_run.reason and with_reason:
        lines.append(f"{bullet}{page_run.reason}")
    return lines


def _safe(lines: list[str]) -> str:
    """The report with every control character from the input escaped (line breaks are the report's own)."""
    return "\n".join(escape_control(line) for line in lines) + "\n"


def render_text(runs: list, meta: dict[str, Any]) -> str:
    lines = [f"barcheck {meta['barcheck_version']} · z3 {meta['z3_version']} · seed {meta['seed']}"]
    for spec, policy_name, page_run in runs:
        lines += ["", _title(spec, policy_name, page_run)] + step_lines(page_run, "  ")
    return _safe(lines)


def render_markdown(runs: list, meta: dict[str, Any]) -> str:
    lines = ["# barcheck scenario report", "",
             f"barcheck {meta['barcheck_version']} · z3 {meta['z3_version']} · seed {meta['seed']}"]
    for spec, policy_name, page_run in runs:
        lines += ["", f"## {_title(spec, policy_name, page_run)}", ""]
        if spec.description:
            lines += [spec.description, ""]
        lines += step_lines(page_run, "")
    return _safe(lines)


RENDERERS = {"text": (render_text, "txt"), "json": (render_json, "json"), "md": (render_markdown, "md")}
