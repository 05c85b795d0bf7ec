"""A `barcheck.result/1` document as one self-contained HTML page, plus each counterexample map as an SVG file.

The page reads top-down: what was run, the verdict matrix (every cell links to its result), then each
counterexample with its explanation, facts or steps and address maps, then what could not be decided,
then why the proved claims hold.  No scripts, no external resources; every string from the document is
escaped.
"""

from __future__ import annotations

from typing import Any

from barcheck.render.html_common import (VERDICTS, check_ids, compact, first_seen, page_label, svg_filename,
                                         verdict_class)
from barcheck.render.html_matrix import matrix_html
from barcheck.render.html_results import results_sections
from barcheck.render.svg import render_map
from barcheck.render.svg_text import esc

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
