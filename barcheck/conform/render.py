"""Conformance reports: text for a terminal, Markdown for a review, JSON (schema barcheck.conform/1) for scripts."""

from __future__ import annotations

import json

from barcheck.conform.run import VERDICTS, ConformResult

SCHEMA = "barcheck.conform/1"


def summary_line(results: list[ConformResult]) -> str:
    counts = [f"{sum(r.verdict == v for r in results)} {v.lower()}" for v in VERDICTS
              if any(r.verdict == v for r in results)]
    return f"{len(results)} conformance runs: " + ", ".join(counts)


def _head(r: ConformResult) -> str:
    return (f"{r.plan.spec.name} [{r.plan.spec.path}] on {r.machine.arch}, {r.machine.page_bytes}-byte pages, "
            f"policy {r.policy}")


def _steps_text(r: ConformResult, bullet: str) -> list[str]:
    lines: list[str] = []
    c = r.comparison
    if c is None:
        return lines
    for name, guest in sorted(c.guest_addresses.items()):
        lines.append(f"{bullet}{name} is {guest} in the guest")
    for m in c.boot_mismatches:
        lines.append(f"{bullet}boot: {m.what}: the scenario declares {m.declared}, the kernel shows {m.kernel}")
    for s in c.steps:
        lines.append(f"{bullet}step {s.number} {s.event}")
        lines.append(f"{bullet}  kernel: {s.kernel_text}")
        lines.append(f"{bullet}  model:  {s.model_text}")
        for d in s.differences:
            lines.append(f"{bullet}  DIFFERENT {d.what}: kernel {d.kernel}; model {d.model}")
        for m in s.expectation_mismatches:
            lines.append(f"{bullet}  scenario {m.what}: declares {m.declared}; kernel {m.kernel}")
        if s.note:
            lines.append(f"{bullet}  note: {s.note}")
    return lines


def render_text(results: list[ConformResult], meta: dict) -> str:
    out = []
    for r in results:
        out.append(f"{r.verdict:9} {_head(r)}")
        out.append(f"          kernel {r.kernel or r.machine.kernel.package}; QEMU {r.qemu}")
        out.append(f"          {r.reason}")
        out += _steps_text(r, "          ")
        out.append("")
    out.append(summary_line(results))
    return "\n".join(out) + "\n"


def render_markdown(results: list[ConformResult], meta: dict) -> str:
    out = ["# barcheck conformance report", "",
           f"barcheck {meta['barcheck_version']}. {summary_line(results)}.", "",
           "| scenario | arch | page | policy | verdict | kernel | QEMU |", "|---|---|---|---|---|---|---|"]
    for r in results:
        out.append(f"| {r.plan.spec.name} | {r.machine.arch} | {r.machine.page_bytes} | {r.policy} | "
                   f"**{r.verdict}** | {r.kernel or r.machine.kernel.package} | {r.qemu} |")
    for r in results:
        out += ["", f"## {r.plan.spec.name} ({r.machine.arch}): {r.verdict}", "", r.reason, ""]
        out += _steps_text(r, "- ") if r.comparison else []
    return "\n".join(out) + "\n"


def as_json(r: ConformResult) -> dict:
    c = r.comparison
    return {
        "scenario": r.plan.spec.path, "name": r.plan.spec.name, "arch": r.machine.arch,
        "page_size": r.machine.page_bytes, "policy": r.policy, "verdict": r.verdict, "reason": r.reason,
        "kernel": r.kernel or r.machine.kernel.package, "qemu": r.qemu, "seconds": round(r.seconds, 2),
        "guest_addresses": dict(sorted(c.guest_addresses.items())) if c else {},
        "boot_mismatches": [vars_of(m) for m in c.boot_mismatches] if c else [],
        "steps": [{"number": s.number, "event": s.event, "kernel": s.kernel_text, "model": s.model_text,
                   "differences": [vars_of(d) for d in s.differences],
                   "expectation_mismatches": [vars_of(m) for m in s.expectation_mismatches],
                   "note": s.note} for s in c.steps] if c else [],
    }


def vars_of(item) -> dict:
    return {name: getattr(item, name) for name in item.__slots__}


def render_json(results: list[ConformResult], meta: dict) -> str:
    summary = {v: sum(r.verdict == v for r in results) for v in VERDICTS}
    doc = {"schema": SCHEMA, **meta, "summary": summary, "runs": [as_json(r) for r in results]}
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


RENDERERS = {"text": (render_text, "txt"), "md": (render_markdown, "md"), "json": (render_json, "json")}
