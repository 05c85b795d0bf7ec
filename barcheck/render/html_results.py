"""The HTML report's result sections: each counterexample with its maps, each undecided result, the proved groups."""

from __future__ import annotations

from barcheck.render.html_common import (VERDICTS, badge_html, compact, page_label, result_heading, seconds_text,
                                         svg_filename, verdict_class)
from barcheck.render.svg_text import esc


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


# ----------------------------------------------------------------------------- all results


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
