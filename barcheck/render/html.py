"""A `barcheck.result/1` document as one self-contained HTML page, plus each counterexample map as an SVG file.

The page reads top-down: what was run, the verdict matrix (every cell links to its result), then each
counterexample with its explanation, facts or steps and address maps, then what could not be decided,
then why the proved claims hold.  No scripts, no external resources; every string from the document is
escaped.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

from barcheck.render.svg import esc, render_map
from model.units import size_name

VERDICTS = ("counterexample", "unknown", "vacuous", "proved")
VERDICT_MARK = {"counterexample": "✗ cex", "unknown": "? unknown", "vacuous": "∅ vacuous", "proved": "✓ proved"}
MAX_MATRIX_COLUMNS = 12
_FILENAME_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f;
       margin: 0 auto; padding: 1.5rem 2rem 4rem; max-width: 1400px; background: #fff; }
h1 { font-size: 1.7rem; margin: 0 0 .3rem; }
h2 { font-size: 1.35rem; margin: 2.5rem 0 .8rem; border-bottom: 2px solid #e4e4e4; padding-bottom: .2rem; }
h3 { font-size: 1.1rem; margin: 0 0 .6rem; }
h4 { font-size: .95rem; margin: 1rem 0 .4rem; color: #444; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .88em; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; padding: .6rem .8rem; overflow-x: auto; }
a { color: #0550ae; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem; margin: .6rem 0; }
dl.meta dt { font-weight: 600; color: #555; }
dl.meta dd { margin: 0; }
.summary { display: flex; gap: .6rem; flex-wrap: wrap; margin: .8rem 0; padding: 0; list-style: none; }
.summary li { padding: .25rem .7rem; border-radius: 1rem; font-weight: 600; }
nav.toc a { margin-right: 1rem; }
table { border-collapse: collapse; margin: .4rem 0 1.2rem; }
th, td { border: 1px solid #d0d7de; padding: .2rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
table.matrix td { text-align: center; white-space: nowrap; }
table.matrix td a { color: inherit; text-decoration: none; display: block; }
table.matrix td a:hover { text-decoration: underline; }
.matrix-wrap { overflow-x: auto; }
.matrix-grid { display: flex; flex-wrap: wrap; gap: 0 2.5rem; align-items: flex-start; }
.matrix-grid h3 { font-size: 1rem; margin: .6rem 0 0; }
.v-counterexample { background: #ffd7d5; color: #82071e; }
.v-unknown { background: #fff1b8; color: #6f4e00; }
.v-vacuous { background: #e8e8e8; color: #424242; }
.v-proved { background: #d2f4d9; color: #0f5323; }
.v-other { background: #eee; color: #333; }
td.none { color: #aaa; }
section.result { border: 1px solid #d0d7de; border-left: 6px solid #999; border-radius: 4px;
                 padding: 1rem 1.2rem; margin: 1.2rem 0; }
section.cex { border-left-color: #cf222e; }
section.unknown { border-left-color: #bf8700; }
section.vacuous { border-left-color: #6e7781; }
section.proved { border-left-color: #1a7f37; }
.badge { font-size: .8rem; padding: .1rem .5rem; border-radius: .8rem; margin-right: .4rem;
         vertical-align: middle; }
p.explanation { font-size: 1.12rem; font-weight: 600; background: #fff5f5; border-left: 4px solid #cf222e;
                padding: .5rem .8rem; margin: .4rem 0 .8rem; }
p.reason { font-size: 1.1rem; font-weight: 600; padding: .5rem .8rem; margin: .4rem 0 .8rem; }
p.claim { color: #444; }
ol.steps { list-style: none; padding-left: 0; }
ol.steps li { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .88em;
              padding: .15rem 0; border-bottom: 1px dotted #ddd; }
ol.steps li:last-child { font-weight: 700; }
figure.map { margin: .8rem 0; overflow-x: auto; }
figure.map svg { max-width: 100%; height: auto; border: 1px solid #eee; box-sizing: border-box; }
figcaption { font-size: .9rem; color: #555; }
ul.holds { columns: 2; }
details { margin-top: .8rem; }
summary { cursor: pointer; color: #555; }
.back { font-size: .85rem; }
"""


# ----------------------------------------------------------------------------- small helpers


def page_label(size_bytes: int) -> str:
    """4096 -> "4K", 65536 -> "64K", 1048576 -> "1M", 2**30 -> "1G"; sizes not a multiple of 1K stay in bytes."""
    return size_name(int(size_bytes))


def verdict_class(verdict: Any) -> str:
    return f"v-{verdict}" if verdict in VERDICTS else "v-other"


def compact(value: Any) -> str:
    """A scalar as text; lists and dicts as compact JSON in the document's own key order."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def result_heading(result: dict) -> str:
    return (f"{result.get('property', '?')} [{result.get('kind', '?')}] · {result.get('policy', '?')} · "
            f"{page_label(result.get('page_size', 0))}")


def seconds_text(result: dict) -> str:
    seconds = result.get("seconds")
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
        return f"{seconds:.2f} s"
    return "time not recorded"


def svg_filename(result: dict, number: int) -> str:
    return f"{result['id']}-{number}.svg"


def check_ids(results: list[dict]) -> None:
    seen: set[str] = set()
    for result in results:
        result_id = result.get("id")
        if not isinstance(result_id, str) or not _FILENAME_SAFE.match(result_id):
            raise ValueError(f"result id {result_id!r} is not a filename-safe slug")
        if result_id in seen:
            raise ValueError(f"result id {result_id!r} appears twice")
        seen.add(result_id)


def first_seen(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


# ----------------------------------------------------------------------------- SVG files


def render_cex_svgs(result: dict) -> dict[str, str]:
    """{"<id>-<n>.svg": svg} for each map of one counterexample result, n counting from 1."""
    check_ids([result])
    return {svg_filename(result, number): render_map(map_doc, id_prefix=f"map-{result['id']}-{number}-")
            for number, map_doc in enumerate(result.get("maps") or [], start=1)}


# ----------------------------------------------------------------------------- header


def meta_rows(meta: dict) -> list[tuple[str, str]]:
    rows = [("barcheck", meta.get("barcheck_version")), ("z3", meta.get("z3_version")),
            ("seed", meta.get("seed")), ("rlimit", meta.get("rlimit")),
            ("address width", f"{meta['width_bits']} bits" if "width_bits" in meta else None),
            ("page sizes", ", ".join(page_label(p) for p in meta.get("page_sizes") or []) or None),
            ("policies", len(meta["policies"]) if "policies" in meta else None),
            ("properties", len(meta["properties"]) if "properties" in meta else None)]
    return [(name, compact(value)) for name, value in rows if value is not None]


def verdict_counts(results: list[dict]) -> list[tuple[str, int]]:
    extra = first_seen(r.get("verdict") for r in results if r.get("verdict") not in VERDICTS)
    return [(v, sum(r.get("verdict") == v for r in results)) for v in list(VERDICTS) + extra]


def header_html(doc: dict) -> list[str]:
    results = doc.get("results") or []
    out = ["<header>", "<h1>barcheck report</h1>", '<dl class="meta">']
    out += [f"<dt>{esc(name)}</dt><dd>{esc(value)}</dd>" for name, value in meta_rows(doc.get("meta") or {})]
    out += ["</dl>", f'<ul class="summary" aria-label="results per verdict"><li>{len(results)} results</li>']
    out += [f'<li class="{verdict_class(v)}">{count} {esc(v)}</li>' for v, count in verdict_counts(results)]
    out += ["</ul>", "</header>"]
    return out


def toc_html(doc: dict) -> list[str]:
    results = doc.get("results") or []
    links = [("matrix", "Verdict matrix")]
    if any(r.get("verdict") == "counterexample" for r in results):
        links.append(("counterexamples", "Counterexamples"))
    if any(r.get("verdict") not in ("counterexample", "proved") for r in results):
        links.append(("undecided", "Unknown and vacuous"))
    if any(r.get("verdict") == "proved" for r in results):
        links.append(("proved", "Why it holds"))
    links += [(key, key.capitalize()) for key in ("sweeps", "measures") if doc.get(key)]
    return ['<nav class="toc">' + "".join(f'<a href="#{key}">{text}</a>' for key, text in links) + "</nav>"]


# ----------------------------------------------------------------------------- verdict matrix


def _verdict_mark(verdict: object) -> object:
    return VERDICT_MARK.get(verdict, verdict) if isinstance(verdict, str) else verdict


def cell_html(results: list[dict]) -> str:
    if not results:
        return '<td class="none">—</td>'
    classes = first_seen(verdict_class(r.get("verdict")) for r in results)
    links = "".join(
        f'<a href="#{esc(r["id"])}" title="{esc(result_heading(r))}: {esc(r.get("verdict"))}, '
        f'{esc(seconds_text(r))}">{esc(_verdict_mark(r.get("verdict")))}</a>'
        for r in results)
    return f'<td class="{" ".join(classes)}">{links}</td>'


def matrix_axes(doc: dict) -> tuple[list[str], list[int]]:
    results = doc.get("results") or []
    meta = doc.get("meta") or {}
    present = first_seen(r.get("policy") for r in results)
    policies = [p for p in meta.get("policies") or [] if p in present] + \
               [p for p in present if p not in (meta.get("policies") or [])]
    page_sizes = sorted(set(r.get("page_size") for r in results), key=int)
    return policies, page_sizes


def index_results(results: list[dict]) -> dict[tuple, list[dict]]:
    cells: dict[tuple, list[dict]] = {}
    for r in results:
        cells.setdefault((r.get("property"), r.get("kind"), r.get("policy"), r.get("page_size")), []).append(r)
    return cells


def wide_matrix_html(results: list[dict], policies: list[str], page_sizes: list[int]) -> list[str]:
    cells = index_results(results)
    out = ['<div class="matrix-wrap"><table class="matrix">', "<thead><tr><th rowspan=\"2\">property [kind]</th>"]
    out += [f'<th colspan="{len(page_sizes)}">{esc(p)}</th>' for p in policies]
    out += ["</tr><tr>"] + [f"<th>{esc(page_label(s))}</th>" for _ in policies for s in page_sizes]
    out.append("</tr></thead><tbody>")
    for prop, kind in first_seen((r.get("property"), r.get("kind")) for r in results):
        row = [cell_html(cells.get((prop, kind, p, s), [])) for p in policies for s in page_sizes]
        out.append(f"<tr><th>{esc(prop)} [{esc(kind)}]</th>{''.join(row)}</tr>")
    out.append("</tbody></table></div>")
    return out


def property_matrix_html(prop: str, results: list[dict], page_sizes: list[int]) -> list[str]:
    cells = index_results(results)
    kinds = first_seen(r.get("kind") for r in results)
    out = ["<div>", f"<h3>{esc(prop)}</h3>", '<div class="matrix-wrap"><table class="matrix">',
           "<thead><tr><th>policy</th>" + "".join(f"<th>{esc(page_label(s))}</th>" for s in page_sizes) +
           "</tr></thead><tbody>"]
    for policy, kind in first_seen((r.get("policy"), r.get("kind")) for r in results):
        name = f"{policy} [{kind}]" if len(kinds) > 1 else policy
        row = [cell_html(cells.get((prop, kind, policy, s), [])) for s in page_sizes]
        out.append(f"<tr><th>{esc(name)}</th>{''.join(row)}</tr>")
    out.append("</tbody></table></div></div>")
    return out


def matrix_html(doc: dict) -> list[str]:
    results = doc.get("results") or []
    policies, page_sizes = matrix_axes(doc)
    out = ['<section id="matrix">', "<h2>Verdict matrix</h2>",
           "<p>Each cell links to its result. " +
           " ".join(f'<span class="badge {verdict_class(v)}">{esc(VERDICT_MARK[v])}</span>' for v in VERDICTS) +
           "</p>"]
    if not results:
        out.append("<p>No results.</p>")
    elif len(policies) * len(page_sizes) <= MAX_MATRIX_COLUMNS:
        out += wide_matrix_html(results, policies, page_sizes)
    else:
        out.append('<div class="matrix-grid">')
        for prop in first_seen(r.get("property") for r in results):
            out += property_matrix_html(prop, [r for r in results if r.get("property") == prop], page_sizes)
        out.append("</div>")
    out.append("</section>")
    return out


# ----------------------------------------------------------------------------- one result


def details_html(result: dict, meta: dict) -> list[str]:
    """Where the claim lives, the solver run and the scope, folded away."""
    solver = result.get("solver") or {}
    source = result.get("source") or {}
    where = f"{source.get('path', '?')}:{source.get('line', '?')}" if source else "not recorded"
    rows = [("source", where), ("time", seconds_text(result))]
    rows += [(f"solver {key}", compact(value)) for key, value in solver.items()]
    rows += [(f"scope {key}", compact(value)) for key, value in (result.get("scope") or {}).items()]
    names = result.get("assumptions") or []
    text = meta.get("assumption_text") or {}
    rows += [("assumption", f"{name}: {text[name]}" if name in text else name) for name in names]
    out = ["<details><summary>Source, solver and scope</summary>", '<dl class="meta">']
    out += [f"<dt>{esc(name)}</dt><dd>{esc(value)}</dd>" for name, value in rows]
    out += ["</dl>", "</details>"]
    return out


def notes_html(result: dict) -> list[str]:
    notes = result.get("notes") or []
    if not notes:
        return []
    return ["<h4>Notes</h4>", "<ul>"] + [f"<li>{esc(note)}</li>" for note in notes] + ["</ul>"]


def claim_html(result: dict) -> str:
    title, statement = result.get("title"), result.get("statement")
    parts = [f"<strong>{esc(title)}</strong>" if title else "", esc(statement) if statement else ""]
    return f'<p class="claim">Claim: {" — ".join(p for p in parts if p)}</p>' if any(parts) else ""


def badge_html(verdict: Any) -> str:
    return f'<span class="badge {verdict_class(verdict)}">{esc(verdict)}</span>'


def map_figure_html(result: dict, number: int, map_doc: dict, svg: str) -> list[str]:
    name = svg_filename(result, number)
    return ['<figure class="map">', svg.rstrip("\n"),
            f'<figcaption>Map {number}: {esc(map_doc.get("title", ""))} — '
            f'<a href="{esc(name)}">open SVG</a> ({esc(name)})</figcaption>', "</figure>"]


def cex_html(result: dict, meta: dict, svgs: dict[str, str]) -> list[str]:
    out = [f'<section id="{esc(result["id"])}" class="result cex">',
           f"<h3>{badge_html('counterexample')}{esc(result_heading(result))}</h3>",
           f'<p class="explanation">{esc(result.get("explanation", "no explanation recorded"))}</p>',
           claim_html(result)]
    if result.get("facts"):
        out += ["<h4>Facts</h4>", f'<pre class="facts">{esc(chr(10).join(result["facts"]))}</pre>']
    if result.get("steps"):
        out += ["<h4>Steps</h4>", '<ol class="steps">'] + [f"<li>{esc(s)}</li>" for s in result["steps"]] + ["</ol>"]
    maps = result.get("maps") or []
    if maps:
        out.append("<h4>Address maps</h4>")
    for number, map_doc in enumerate(maps, start=1):
        out += map_figure_html(result, number, map_doc, svgs[svg_filename(result, number)])
    out += notes_html(result) + details_html(result, meta)
    out += ['<p class="back"><a href="#matrix">back to the matrix</a></p>', "</section>"]
    return [line for line in out if line]


UNDECIDED_DEFAULT = {"unknown": "the solver gave no answer", "vacuous": "the assumptions admit no case to check"}


def _undecided_default(verdict: object) -> str:
    if isinstance(verdict, str) and verdict in UNDECIDED_DEFAULT:
        return UNDECIDED_DEFAULT[verdict]
    return "no reason recorded"


def undecided_html(result: dict, meta: dict) -> list[str]:
    verdict = result.get("verdict")
    reason = result.get("reason") or _undecided_default(verdict)
    kind = verdict if verdict in VERDICTS else "other"
    out = [f'<section id="{esc(result["id"])}" class="result {kind}">',
           f"<h3>{badge_html(verdict)}{esc(result_heading(result))}</h3>",
           f'<p class="reason {verdict_class(verdict)}">{esc(str(verdict).upper())}: {esc(reason)}</p>',
           claim_html(result)]
    out += notes_html(result) + details_html(result, meta)
    out += ['<p class="back"><a href="#matrix">back to the matrix</a></p>', "</section>"]
    return [line for line in out if line]


# ----------------------------------------------------------------------------- proved groups


def why_assumptions(result: dict, meta: dict) -> list[tuple[str, str]]:
    why = result.get("why") or {}
    if "assumptions" in why:
        return [(str(a.get("name", "")), str(a.get("text", ""))) for a in why["assumptions"]]
    text = meta.get("assumption_text") or {}
    return [(name, text.get(name, "")) for name in result.get("assumptions") or []]


def why_key(result: dict, meta: dict) -> tuple:
    why = result.get("why") or {}
    return (result.get("property"), result.get("kind"), result.get("statement"), compact(why.get("scope", "")),
            tuple(why_assumptions(result, meta)))


def proved_groups(results: list[dict], meta: dict) -> list[list[dict]]:
    groups: dict[tuple, list[dict]] = {}
    for result in results:
        groups.setdefault(why_key(result, meta), []).append(result)
    return list(groups.values())


def holds_item(result: dict) -> str:
    work = (result.get("solver") or {}).get("work")
    cost = seconds_text(result) + (f", work {compact(work)}" if work is not None else "")
    return (f'<li id="{esc(result["id"])}">{esc(result.get("policy"))} · {esc(page_label(result.get("page_size", 0)))}'
            f' <span class="mono">({esc(cost)})</span></li>')


def assumptions_html(assumptions: list[tuple[str, str]]) -> list[str]:
    if not assumptions:
        return ["<p>No assumptions beyond the model itself.</p>"]
    return ["<ul>"] + [f"<li><code>{esc(name)}</code>: {esc(text)}</li>" for name, text in assumptions] + ["</ul>"]


def proved_group_html(group: list[dict], meta: dict) -> list[str]:
    first = group[0]
    why = first.get("why") or {}
    scope = why.get("scope") or (first.get("scope") or {}).get("quantified")
    out = [f'<section id="why-{esc(first["id"])}" class="result proved">',
           f"<h3>{badge_html('proved')}Why it holds: {esc(first.get('property'))} [{esc(first.get('kind'))}]</h3>",
           claim_html(first)]
    if scope:
        out += ["<h4>Scope</h4>", f"<p>{esc(compact(scope))}</p>"]
    out += ["<h4>Assumptions used</h4>"] + assumptions_html(why_assumptions(first, meta))
    out += ["<h4>Holds for</h4>", '<ul class="holds">'] + [holds_item(r) for r in group] + ["</ul>"]
    for result in group:
        out += notes_html(result)
    out += details_html(first, meta)
    out += ['<p class="back"><a href="#matrix">back to the matrix</a></p>', "</section>"]
    return [line for line in out if line]


# ----------------------------------------------------------------------------- sweeps and measures


def sweeps_html(sweeps: list[dict]) -> list[str]:
    out = ['<section id="sweeps">', "<h2>Sweeps over page sizes</h2>", "<table>",
           "<thead><tr><th>property [kind]</th><th>policy</th><th>flips at</th><th>what changes</th></tr></thead>",
           "<tbody>"]
    for sweep in sweeps:
        flips_at = sweep.get("flips_at")
        flips = page_label(flips_at) if isinstance(flips_at, int) and not isinstance(flips_at, bool) else "never"
        what = sweep.get("sentence") or compact(sweep.get("changes", []))
        out.append(f"<tr><td>{esc(sweep.get('property'))} [{esc(sweep.get('kind'))}]</td>"
                   f"<td>{esc(sweep.get('policy'))}</td><td>{esc(flips)}</td><td>{esc(what)}</td></tr>")
    out += ["</tbody></table>", "</section>"]
    return out


def measure_value(key: str, value: Any) -> str:
    if key == "page_size" and isinstance(value, int) and not isinstance(value, bool):
        return page_label(value)
    return compact(value)


def measures_html(measures: list[dict]) -> list[str]:
    keys = first_seen(key for m in measures for key in m)
    out = ['<section id="measures">', "<h2>Measures</h2>", '<div class="matrix-wrap"><table>',
           "<thead><tr>" + "".join(f"<th>{esc(k)}</th>" for k in keys) + "</tr></thead>", "<tbody>"]
    for m in measures:
        out.append("<tr>" + "".join(f"<td>{esc(measure_value(k, m[k])) if k in m else ''}</td>" for k in keys)
                   + "</tr>")
    out += ["</tbody></table></div>", "</section>"]
    return out


# ----------------------------------------------------------------------------- the page


def results_sections(doc: dict, svgs: dict[str, str]) -> list[str]:
    results, meta = doc.get("results") or [], doc.get("meta") or {}
    cexes = [r for r in results if r.get("verdict") == "counterexample"]
    undecided = [r for r in results if r.get("verdict") not in ("counterexample", "proved")]
    proved = [r for r in results if r.get("verdict") == "proved"]
    out: list[str] = []
    if cexes:
        out += ['<section id="counterexamples">', f"<h2>Counterexamples ({len(cexes)})</h2>"]
        for result in cexes:
            out += cex_html(result, meta, svgs)
        out.append("</section>")
    if undecided:
        out += ['<section id="undecided">', f"<h2>Unknown and vacuous ({len(undecided)})</h2>"]
        for result in undecided:
            out += undecided_html(result, meta)
        out.append("</section>")
    if proved:
        out += ['<section id="proved">', f"<h2>Why it holds ({len(proved)} proved)</h2>"]
        for group in proved_groups(proved, meta):
            out += proved_group_html(group, meta)
        out.append("</section>")
    return out


def page_html(doc: dict, svgs: dict[str, str]) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>barcheck report</title>", f"<style>{CSS}</style>", "</head>", "<body>"]
    out += header_html(doc) + toc_html(doc) + ["<main>"] + matrix_html(doc) + results_sections(doc, svgs)
    if doc.get("sweeps"):
        out += sweeps_html(doc["sweeps"])
    if doc.get("measures"):
        out += measures_html(doc["measures"])
    out += ["</main>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


def render_html(doc: dict) -> dict[str, str]:
    """{"report.html": page, "<id>-<n>.svg": map, ...}: the page inlines every map and links to its file."""
    results = doc.get("results") or []
    check_ids(results)
    svgs: dict[str, str] = {}
    for result in results:
        if result.get("verdict") == "counterexample":
            svgs.update(render_cex_svgs(result))
    return {"report.html": page_html(doc, svgs), **svgs}
