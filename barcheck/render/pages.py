"""Per-counterexample reports and the verdict matrix, rendered from the result document alone.

`barcheck explain` and the committed reports/ use these, so a saved
counterexample reads the same on any machine without solving anything.
"""

from __future__ import annotations

from typing import Any

from model.units import size_name

CEX_SCHEMA = "barcheck.counterexample/1"
VERDICT_MARK = {"proved": "proved", "counterexample": "**CEX**", "unknown": "_unknown_", "vacuous": "_vacuous_"}


def label(result: dict[str, Any]) -> str:
    return f"{result['property']} [{result['kind']}] · {result['policy']} · {size_name(result['page_size'])}"


def counterexample_file(meta: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """One counterexample as a self-contained document that `barcheck replay` and `explain` read."""
    return {"schema": CEX_SCHEMA, "meta": meta, "result": result}


def _body_lines(result: dict[str, Any]) -> list[str]:
    return list(result.get("steps") or result.get("facts") or [])


def _replay_hint(path: str | None) -> str:
    return f"barcheck replay {path}" if path else "barcheck replay <this file>"


def cex_text(result: dict[str, Any], path: str | None = None) -> str:
    lines = [f"COUNTEREXAMPLE {label(result)}", "", result["explanation"], ""]
    lines += [f"  {line}" for line in _body_lines(result)]
    lines += ["", f"rule:   {result['statement']}", f"policy: {result['source']['path']}:{result['source']['line']}",
              f"replay: {_replay_hint(path)}"]
    return "\n".join(lines) + "\n"


def cex_markdown(result: dict[str, Any], svg_names: list[str], path: str | None = None) -> str:
    lines = [f"# {label(result)}", "", f"**Counterexample.** {result['explanation']}", "",
             f"**Rule:** {result['statement']}", "",
             f"Policy source: `{result['source']['path']}` line {result['source']['line']}. "
             f"Every counterexample was replayed on the concrete semantics; check it again with "
             f"`{_replay_hint(path)}`.", ""]
    heading = "Steps" if result.get("steps") else "Values"
    lines += [f"## {heading}", "", "```"] + _body_lines(result) + ["```", "", "## Address maps", ""]
    for address_map, name in zip(result["maps"], svg_names):
        lines += [f"### {address_map['title']}", "", f"![{address_map['title']}]({name})", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _matrix_rows(results: list[dict[str, Any]], link) -> list[str]:
    columns = sorted({(r["policy"], r["page_size"]) for r in results})
    policies = sorted({p for p, _ in columns})
    pages = sorted({page for _, page in columns})
    lines = []
    for prop, kind in sorted({(r["property"], r["kind"]) for r in results}):
        lines += ["", f"### `{prop}` ({kind})", "", "| policy | " + " | ".join(size_name(p) for p in pages) + " |",
                  "|---|" + "---|" * len(pages)]
        cells = {(r["policy"], r["page_size"]): r for r in results if (r["property"], r["kind"]) == (prop, kind)}
        for policy in policies:
            row = [cells.get((policy, page)) for page in pages]
            if not any(row):
                continue
            lines.append(f"| `{policy}` | " + " | ".join(_cell(r, link) for r in row) + " |")
    return lines


def _cell(result: dict[str, Any] | None, link) -> str:
    if result is None:
        return "·"
    mark = VERDICT_MARK[result["verdict"]]
    return f"[{mark}]({link(result)})" if result["verdict"] == "counterexample" else mark


def matrix_markdown(doc: dict[str, Any], link) -> str:
    """The verdict matrix: one table per property and kind, policies by page size, counterexamples linked."""
    results = doc["results"]
    counts = {v: sum(1 for r in results if r["verdict"] == v) for v in VERDICT_MARK}
    meta = doc["meta"]
    lines = ["# barcheck verdict matrix", "",
             f"barcheck {meta['barcheck_version']} · z3 {meta['z3_version']} · seed {meta['seed']} · "
             f"rlimit {meta['rlimit']} per solver call · {meta['width_bits']}-bit addresses", "",
             f"{len(results)} checks: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + ".", "",
             "`proved`: holds for every input in the stated scope; **CEX**: a replayed counterexample (linked); "
             "_unknown_: the solver ran out of budget; _vacuous_: the assumptions contradict each other."]
    lines += _matrix_rows(results, link)
    inconclusive = [r for r in results if r["verdict"] in ("unknown", "vacuous")]
    if inconclusive:
        lines += ["", "## Unknown and vacuous", ""]
        lines += [f"- {label(r)}: **{r['verdict']}**: {r.get('reason', '')}" for r in inconclusive]
    return "\n".join(lines) + "\n"
