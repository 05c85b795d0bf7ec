"""Pure renderers from results to text, Markdown and JSON.  Output is sorted and deterministic."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Iterable

from barcheck.engine.sweep import sweep_doc, sweep_sentence, sweeps
from barcheck.engine.verdict import Counterexample, Result, Verdict
from model.pci import BarKind
from model.scenario import Origin, Relation
from model.units import size_name
from barcheck.render.explain import explanation, policy_source, result_id, title_and_statement, why_it_holds
from barcheck.render.maps import maps_of
from barcheck.engine.witness import witness_of
from properties import ASSUMPTION_TEXT, REGISTRY
from properties.claims import claim
from barcheck.render.measure import measure_doc, measure_markdown, measure_text, sort_measures
from properties.revoke import VMA_PROPERTIES

SCHEMA = "barcheck.result/1"


def kind_of(result: Result) -> str:
    """`trace` for results over event traces, `function` for pure encoding checks, `pair` for the single-probe checks."""
    method = result.scope.get("method")
    if method in ("induction", "bmc"):
        return "trace"
    return "function" if method == "function" else "pair"


def _trace_lines(result: Result) -> list[str]:
    return result.trace.lines() if result.trace is not None else []


def _trace_doc(result: Result) -> dict[str, Any]:
    return result.trace.doc() if result.trace is not None else {}


def _statement(prop_id: str, kind: str) -> str:
    return claim(kind, prop_id).statement


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
    if facts["resource_size"] != sc.bar_size:
        outcome["resource"] = _range(sc.bar_start, sc.bar_start + facts["resource_size"] - 1)
    if facts["requested_align"]:
        outcome["requested_alignment"] = hex(facts["requested_align"])
    if "realloc_align" in facts:
        outcome["realloc"] = ({"reassigned": True, "alignment": hex(facts["realloc_align"]),
                               "start": hex(sc.realloc_start)} if facts["realloc_align"]
                              else {"reassigned": False})
    return {
        "replayed": True,
        "explanation": cex.explanation,
        "page_size": hex(sc.page_bytes),
        "bar": {"index": sc.bar_index, "kind": BarKind(sc.bar_kind).label,
                "prefetchable": sc.bar_prefetchable, "origin": Origin(sc.bar_origin).label,
                **_range(sc.bar_start, bar_end)},
        "parent": _range(sc.parent_first, sc.parent_last),
        "foreign": {"relation": Relation(sc.foreign_relation).label,
                    "shape": "pci-bar" if cex.bar_shaped_foreign else "platform-decoder",
                    "origin": Origin(sc.foreign_origin).label,
                    **_range(sc.foreign_first, sc.foreign_last)},
        "outcome": outcome,
    }


def result_doc(result: Result, timings: bool = True) -> dict[str, Any]:
    kind = kind_of(result)
    title, statement = title_and_statement(result.property, kind)
    doc: dict[str, Any] = {
        "id": result_id(result, kind),
        "property": result.property,
        "title": title,
        "statement": statement,
        "kind": kind,
        "policy": result.policy,
        "page_size": result.page_size,
        "verdict": result.verdict.value,
        "scope": result.scope,
        "assumptions": list(result.assumptions),
        "seconds": result.seconds,
        "solver": {"z3_version": result.solver.z3_version, "seed": result.solver.seed,
                   "rlimit": result.solver.rlimit, "work": result.solver.work},
        "source": policy_source(result.policy, result.property),
    }
    if not timings:
        del doc["seconds"]
    if result.reason:
        doc["reason"] = result.reason
    if result.verdict is Verdict.PROVED:
        doc["why"] = why_it_holds(result, kind)
    if result.counterexample is not None:
        doc["counterexample"] = counterexample_doc(result.counterexample)
        doc["facts"] = _cex_lines(result.counterexample)
    if result.trace is not None:
        doc["trace"] = _trace_doc(result)
        lines = _trace_lines(result)
        doc["steps" if kind == "trace" else "facts"] = lines
    if result.verdict is Verdict.COUNTEREXAMPLE:
        doc["explanation"] = explanation(result, kind)
        doc["maps"] = maps_of(result)
        doc["replay"] = witness_of(result)
    if result.notes:
        doc["notes"] = list(result.notes)
    return doc


def document(results: list[Result], meta: dict[str, Any], measures=(), timings: bool = True) -> dict[str, Any]:
    """The one result model every format is rendered from (schema barcheck.result/1)."""
    ordered = sort_results(results)
    used = sorted({name for r in ordered for name in r.assumptions})
    meta = {**meta, "assumption_text": {name: ASSUMPTION_TEXT[name] for name in used}}
    doc: dict[str, Any] = {"schema": SCHEMA, "meta": meta, "results": [result_doc(r, timings) for r in ordered]}
    found = sweeps(ordered, kind_of)
    if found:
        doc["sweeps"] = [sweep_doc(s) for s in found]
    if measures:
        doc["measures"] = [measure_doc(m) for m in sort_measures(measures)]
        if not timings:
            for row in doc["measures"]:
                del row["seconds"]
    return doc


def render_json(results: list[Result], meta: dict[str, Any], measures=(), timings: bool = True) -> str:
    return json.dumps(document(results, meta, measures, timings), indent=2) + "\n"


def summary_line(results: list[Result]) -> str:
    counts = Counter(r.verdict for r in results)
    parts = ", ".join(f"{counts[v]} {v.value}" for v in Verdict)
    return f"{len(results)} checks: {parts}"


def _header(meta: dict[str, Any]) -> str:
    return (f"barcheck {meta['barcheck_version']} · z3 {meta['z3_version']} · seed {meta['seed']} · "
            f"rlimit {meta['rlimit']} per solver call · {meta['width_bits']}-bit addresses")


def _counterexample_lines(result: Result) -> list[str]:
    if result.trace is not None:
        return _trace_lines(result)
    if result.counterexample is None:
        raise ValueError(f"{_label(result)}: a counterexample verdict with neither a trace nor a counterexample")
    return _cex_lines(result.counterexample)


def _cex_lines(cex: Counterexample) -> list[str]:
    doc = counterexample_doc(cex)
    bar, parent, foreign, out = doc["bar"], doc["parent"], doc["foreign"], doc["outcome"]
    dummy = out["dummy"]
    lines = [
        f"BAR      {bar['kind']} BAR {bar['index']} [{bar['start']}-{bar['end']}] size {bar['size']}"
        f"{' prefetchable' if bar['prefetchable'] else ''}, {bar['origin']}",
    ]
    if "resource" in out:
        lines.append(f"resource [{out['resource']['start']}-{out['resource']['end']}] size {out['resource']['size']}")
    if "requested_alignment" in out:
        lines.append(f"align    {out['requested_alignment']} requested by the configuration")
    lines += [
        f"parent   [{parent['start']}-{parent['end']}]",
        f"foreign  [{foreign['start']}-{foreign['end']}] {foreign['relation']}, {foreign['origin']}",
        f"dummy    [{dummy['start']}-{dummy['end']}] held" if dummy["held"] else "dummy    none held",
        f"window   [{out['window']['start']}-{out['window']['end']}] mmappable={out['mmappable']}",
    ]
    if "asked_again" in out:
        lines.append(f"again    mmappable={out['asked_again']}")
    if "realloc" in out:
        realloc = out["realloc"]
        lines.append(f"realloc  reassigned at {realloc['start']} (alignment {realloc['alignment']})"
                     if realloc["reassigned"] else "realloc  not reassigned (resource_alignment() is 0)")
    return lines


def _label(r: Result) -> str:
    return f"{r.property} [{kind_of(r)}] · {r.policy} · {size_name(r.page_size)}"


def render_text(results: list[Result], meta: dict[str, Any], measures=(), timings: bool = True) -> str:
    ordered = sort_results(results)
    width = max([14] + [len(r.policy) for r in ordered])
    lines = [_header(meta), "",
             f"{'property':36} {'kind':8} {'policy':{width}} {'page':5} {'verdict':15}"
             + (f" {'seconds':>8}" if timings else "")]
    for r in ordered:
        lines.append(f"{r.property:36} {kind_of(r):8} {r.policy:{width}} {size_name(r.page_size):5} "
                     f"{r.verdict.value:15}" + (f" {r.seconds:8.2f}" if timings else ""))
    found = sweeps(ordered, kind_of)
    if found:
        lines += ["", "page-size sweep (smallest page size at which the verdict flips):"]
        lines += [f"  {s.property} [{s.kind}] · {s.policy}: {sweep_sentence(s)}" for s in found]
    lines += measure_text(list(measures))
    for r in ordered:
        if r.trace is not None:
            lines += ["", f"COUNTEREXAMPLE {_label(r)} ({'trace ' if kind_of(r) == 'trace' else ''}replayed concretely)"]
            lines += [f"  {line}" for line in _trace_lines(r)]
        elif r.counterexample is not None:
            lines += ["", f"COUNTEREXAMPLE {_label(r)} (replayed concretely)",
                      f"  {r.counterexample.explanation}"]
            lines += [f"  {line}" for line in _cex_lines(r.counterexample)]
        elif r.verdict in (Verdict.UNKNOWN, Verdict.VACUOUS):
            lines += ["", f"{r.verdict.value.upper()} {_label(r)}: {r.reason}"]
            if r.assumptions:
                lines.append(f"  conflicting assumptions: {', '.join(r.assumptions)}")
    lines += _text_proofs(ordered)
    lines += ["", f"summary: {summary_line(ordered)}"]
    if meta.get("trace_skipped_policies"):
        lines.append(f"not checked over traces (PCI-core modifiers are modelled by the pair properties only): "
                     f"{', '.join(meta['trace_skipped_policies'])}")
    return "\n".join(lines) + "\n"


def render_markdown(results: list[Result], meta: dict[str, Any], measures=(), timings: bool = True,
                    map_files: bool = False) -> str:
    """With `map_files`, each counterexample links its address maps `<id>-<n>.svg`, written alongside."""
    ordered = sort_results(results)
    lines = ["# barcheck report", "", _header(meta), "",
             "| property | kind | policy | page | verdict |" + (" seconds |" if timings else ""),
             "|---|---|---|---|---|" + ("---:|" if timings else "")]
    for r in ordered:
        lines.append(f"| `{r.property}` | {kind_of(r)} | `{r.policy}` | {size_name(r.page_size)} | "
                     f"**{r.verdict.value}** |" + (f" {r.seconds:.2f} |" if timings else ""))
    lines += ["", f"Summary: {summary_line(ordered)}."]
    if meta.get("trace_skipped_policies"):
        lines += ["", "Not checked over traces (PCI-core modifiers are modelled by the pair properties only): "
                  + ", ".join(f"`{name}`" for name in meta["trace_skipped_policies"]) + "."]
    found = sweeps(ordered, kind_of)
    if found:
        lines += ["", "## Page-size sweep", "", "| property | kind | policy | flips at | verdicts |",
                  "|---|---|---|---|---|"]
        lines += [f"| `{s.property}` | {s.kind} | `{s.policy}` | "
                  f"{size_name(s.flips_at) if s.flips_at else 'never'} | {sweep_sentence(s)} |" for s in found]
    lines += measure_markdown(list(measures))
    cexes = [r for r in ordered if r.verdict is Verdict.COUNTEREXAMPLE]
    if cexes:
        lines += ["", "## Counterexamples", "", "Each was decoded, minimised and replayed on the concrete semantics."]
        for r in cexes:
            kind = kind_of(r)
            body = _counterexample_lines(r)
            lines += ["", f"### {_label(r)}", "", explanation(r, kind), "", "```", *body, "```"]
            if map_files:
                cex_id = result_id(r, kind)
                lines += [""] + [f"![{m['title']}]({cex_id}-{n}.svg)" for n, m in enumerate(maps_of(r), start=1)]
    lines += _markdown_proofs(ordered)
    others = [r for r in ordered if r.verdict in (Verdict.UNKNOWN, Verdict.VACUOUS)]
    if others:
        lines += ["", "## Unknown and vacuous results", ""]
        lines += [f"- {_label(r)}: **{r.verdict.value}**: {r.reason}" for r in others]
    return "\n".join(lines) + "\n"


def _text_proofs(ordered: list[Result]) -> list[str]:
    """Why each proof holds: the scope once per property and kind, then the assumptions each result used."""
    proved = [r for r in ordered if r.verdict is Verdict.PROVED]
    lines = []
    for prop_id, kind in sorted({(r.property, kind_of(r)) for r in proved}):
        group = [r for r in proved if (r.property, kind_of(r)) == (prop_id, kind)]
        lines += ["", f"WHY IT HOLDS {prop_id} [{kind}]", f"  scope: {why_it_holds(group[0], kind)['scope']}"]
        for r in group:
            used = ", ".join(r.assumptions) or "none (holds by construction)"
            lines.append(f"  {r.policy} · {size_name(r.page_size)}: assumptions used: {used}")
    return lines


def _markdown_proofs(ordered: list[Result]) -> list[str]:
    proved = [r for r in ordered if r.verdict is Verdict.PROVED]
    if not proved:
        return []
    lines = ["", "## Why the proofs hold"]
    for prop_id, kind in sorted({(r.property, kind_of(r)) for r in proved}):
        sample = next(r for r in proved if r.property == prop_id and kind_of(r) == kind)
        if kind == "trace":
            where = "properties/revoke.py" if prop_id in VMA_PROPERTIES else "properties/trace.py"
            scope = (f"{sample.scope['quantified']}; invariant stated in {where} "
                     f"(init, step and safety discharged separately); placement {sample.scope['placement']}")
        elif kind == "function":
            scope = sample.scope["quantified"]
        else:
            scope = REGISTRY[prop_id].scope.format(width=proved[0].scope['width_bits'])
        lines += ["", f"### `{prop_id}` ({kind})", "", _statement(prop_id, kind), "", f"Scope: {scope}", ""]
        for r in (r for r in proved if r.property == prop_id and kind_of(r) == kind):
            used = ", ".join(f"`{name}`" for name in r.assumptions) or "none (holds by construction)"
            lines.append(f"- `{r.policy}` at {size_name(r.page_size)}: assumptions used: {used}")
    used_names = sorted({name for r in proved for name in r.assumptions})
    if used_names:
        lines += ["", "### Assumptions", ""]
        lines += [f"- `{name}`: {ASSUMPTION_TEXT[name]}" for name in used_names]
    return lines


RENDERERS = {"text": (render_text, "txt"), "json": (render_json, "json"), "md": (render_markdown, "md")}
