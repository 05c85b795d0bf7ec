"""The HTML report's verdict matrix: a cell per property, policy and page size, each linking to its result."""

from __future__ import annotations

from barcheck.render.html_common import (VERDICT_MARK, VERDICTS, first_seen, page_label, result_heading, seconds_text,
                                         verdict_class)
from barcheck.render.svg_text import esc

MAX_MATRIX_COLUMNS = 12


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
