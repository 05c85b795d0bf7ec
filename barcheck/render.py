"""Pure renderers from results to text, Markdown and JSON.  Output is sorted and deterministic."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Iterable

from barcheck.verdict import Counterexample, Result, Verdict
from model.pci import BarKind
from model.scenario import Relation
from model.units import size_name
from barcheck.trace_render import trace_doc, trace_lines
from properties import ASSUMPTION_TEXT, REGISTRY
from properties.trace import TRACE_PROPERTIES

SCHEMA = "barcheck.result/1"


def kind_of(result: Result) -> str:
    """`trace` for results over event traces, `pair` for the single-probe checks."""
    return "trace" if result.scope.get("method") in ("induction", "bmc") else "pair"


def sort_results(results: Iterable[Result]) -> list[Result]:
    return sorted(results, key=lambda r: (r.property, kind_of(r), r.policy, r.page_size))


def _range(start: int, end: int) -> dict[str, str]:
    return {"start": hex(start), "end": hex(end), "size": hex(end - start + 1)}


def _dummy(facts: dict[str, Any]) -> dict[str, Any]:
    """The dummy's range is shown only when it is held; otherwise it does not exist."""
    if not facts["dummy_held"]:
        return {"held": False}
    return {"held": True, **_range(facts["dummy_start"], facts["dummy_end"])}


def counterexample_doc(cex: Counterexample) -> dict[str, Any]:
    sc, facts = cex.scenario, cex.facts
    bar_end = sc.bar_start + sc.bar_size - 1
    outcome: dict[str, Any] = {"mmappable": facts["mmappable"]}
    outcome["dummy"] = _dummy(facts)
    outcome["window"] = _range(facts["window_start"], facts["window_end"])
    if "asked_again" in facts:
        outcome["asked_again"] = facts["asked_again"]
    return {
        "replayed": True,
        "explanation": cex.explanation,
        "page_size": hex(sc.page_bytes),
        "bar": {"index": sc.bar_index, "kind": BarKind(sc.bar_kind).label,
                "prefetchable": sc.bar_prefetchable, **_range(sc.bar_start, bar_end)},
        "parent": _range(sc.parent_first, sc.parent_last),
        "foreign": {"relation": Relation(sc.foreign_relation).label,
                    "shape": "pci-bar" if cex.bar_shaped_foreign else "platform-decoder",
                    **_range(sc.foreign_first, sc.foreign_last)},
        "outcome": outcome,
    }


def result_doc(result: Result) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "property": result.property,
        "kind": kind_of(result),
        "policy": result.policy,
        "page_size": result.page_size,
        "verdict": result.verdict.value,
        "scope": result.scope,
        "assumptions": list(result.assumptions),
        "seconds": result.seconds,
        "solver": {"z3_version": result.solver.z3_version, "seed": result.solver.seed,
                   "rlimit": result.solver.rlimit, "work": result.solver.work},
    }
    if result.reason:
        doc["reason"] = result.reason
    if result.counterexample is not None:
        doc["counterexample"] = counterexample_doc(result.counterexample)
    if result.trace is not None:
        doc["trace"] = trace_doc(result.trace, result.policy)
    if result.notes:
        doc["notes"] = list(result.notes)
    return doc


def render_json(results: list[Result], meta: dict[str, Any]) -> str:
    ordered = sort_results(results)
    used = sorted({name for r in ordered for name in r.assumptions})
    meta = {**meta, "assumption_text": {name: ASSUMPTION_TEXT[name] for name in used}}
    doc = {"schema": SCHEMA, "meta": meta, "results": [result_doc(r) for r in ordered]}
    return json.dumps(doc, indent=2) + "\n"


def summary_line(results: list[Result]) -> str:
    counts = Counter(r.verdict for r in results)
    parts = ", ".join(f"{counts[v]} {v.value}" for v in Verdict)
    return f"{len(results)} checks: {parts}"


def _header(meta: dict[str, Any]) -> str:
    return (f"barcheck {meta['barcheck_version']} · z3 {meta['z3_version']} · seed {meta['seed']} · "
            f"rlimit {meta['rlimit']} per solver call · {meta['width_bits']}-bit addresses")


def _cex_lines(cex: Counterexample) -> list[str]:
    doc = counterexample_doc(cex)
    bar, parent, foreign, out = doc["bar"], doc["parent"], doc["foreign"], doc["outcome"]
    dummy = out["dummy"]
    lines = [
        f"BAR      {bar['kind']} BAR {bar['index']} [{bar['start']}-{bar['end']}] size {bar['size']}"
        f"{' prefetchable' if bar['prefetchable'] else ''}",
        f"parent   [{parent['start']}-{parent['end']}]",
        f"foreign  [{foreign['start']}-{foreign['end']}] {foreign['relation']}, {foreign['shape']}",
        f"dummy    [{dummy['start']}-{dummy['end']}] held" if dummy["held"] else "dummy    none held",
        f"window   [{out['window']['start']}-{out['window']['end']}] mmappable={out['mmappable']}",
    ]
    if "asked_again" in out:
        lines.append(f"again    mmappable={out['asked_again']}")
    return lines


def _label(r: Result) -> str:
    return f"{r.property} [{kind_of(r)}] · {r.policy} · {size_name(r.page_size)}"


def render_text(results: list[Result], meta: dict[str, Any]) -> str:
    ordered = sort_results(results)
    lines = [_header(meta), "",
             f"{'property':36} {'kind':5} {'policy':14} {'page':5} {'verdict':15} {'seconds':>8}"]
    for r in ordered:
        lines.append(f"{r.property:36} {kind_of(r):5} {r.policy:14} {size_name(r.page_size):5} "
                     f"{r.verdict.value:15} {r.seconds:8.2f}")
    for r in ordered:
        if r.trace is not None:
            lines += ["", f"COUNTEREXAMPLE {_label(r)} (trace replayed concretely)"]
            lines += [f"  {line}" for line in trace_lines(r.trace, r.policy)]
        elif r.counterexample is not None:
            lines += ["", f"COUNTEREXAMPLE {_label(r)} (replayed concretely)",
                      f"  {r.counterexample.explanation}"]
            lines += [f"  {line}" for line in _cex_lines(r.counterexample)]
        elif r.verdict in (Verdict.UNKNOWN, Verdict.VACUOUS):
            lines += ["", f"{r.verdict.value.upper()} {_label(r)}: {r.reason}"]
            if r.assumptions:
                lines.append(f"  conflicting assumptions: {', '.join(r.assumptions)}")
    lines += ["", f"summary: {summary_line(ordered)}"]
    return "\n".join(lines) + "\n"


def render_markdown(results: list[Result], meta: dict[str, Any]) -> str:
    ordered = sort_results(results)
    lines = ["# barcheck report", "", _header(meta), "",
             "| property | kind | policy | page | verdict | seconds |", "|---|---|---|---|---|---:|"]
    for r in ordered:
        lines.append(f"| `{r.property}` | {kind_of(r)} | `{r.policy}` | {size_name(r.page_size)} | "
                     f"**{r.verdict.value}** | {r.seconds:.2f} |")
    lines += ["", f"Summary: {summary_line(ordered)}."]
    cexes = [r for r in ordered if r.counterexample is not None or r.trace is not None]
    if cexes:
        lines += ["", "## Counterexamples", "", "Each was decoded, minimised and replayed on the concrete semantics."]
        for r in cexes:
            if r.trace is not None:
                lines += ["", f"### {_label(r)}", ""] + trace_lines(r.trace, r.policy)
                continue
            lines += ["", f"### {_label(r)}", "", r.counterexample.explanation, "", "```"]
            lines += _cex_lines(r.counterexample) + ["```"]
    lines += _markdown_proofs(ordered)
    others = [r for r in ordered if r.verdict in (Verdict.UNKNOWN, Verdict.VACUOUS)]
    if others:
        lines += ["", "## Unknown and vacuous results", ""]
        lines += [f"- {_label(r)}: **{r.verdict.value}**: {r.reason}" for r in others]
    return "\n".join(lines) + "\n"


def _markdown_proofs(ordered: list[Result]) -> list[str]:
    proved = [r for r in ordered if r.verdict is Verdict.PROVED]
    if not proved:
        return []
    lines = ["", "## Why the proofs hold"]
    for prop_id, kind in sorted({(r.property, kind_of(r)) for r in proved}):
        if kind == "trace":
            prop = TRACE_PROPERTIES[prop_id]
            sample = next(r for r in proved if r.property == prop_id and kind_of(r) == kind)
            scope = (f"{sample.scope['quantified']}; invariant stated in properties/trace.py "
                     f"(init, step and safety discharged separately); placement {sample.scope['placement']}")
        else:
            prop = REGISTRY[prop_id]
            scope = prop.scope.format(width=proved[0].scope['width_bits'])
        lines += ["", f"### `{prop_id}` ({kind})", "", prop.statement, "", f"Scope: {scope}", ""]
        for r in (r for r in proved if r.property == prop_id and kind_of(r) == kind):
            used = ", ".join(f"`{name}`" for name in r.assumptions) or "none (holds by construction)"
            lines.append(f"- `{r.policy}` at {size_name(r.page_size)}: assumptions used: {used}")
    used_names = sorted({name for r in proved for name in r.assumptions})
    if used_names:
        lines += ["", "### Assumptions", ""]
        lines += [f"- `{name}`: {ASSUMPTION_TEXT[name]}" for name in used_names]
    return lines


RENDERERS = {"text": (render_text, "txt"), "json": (render_json, "json"), "md": (render_markdown, "md")}
