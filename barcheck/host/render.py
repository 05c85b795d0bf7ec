"""The host check as text, Markdown or JSON (`barcheck.host/1`)."""

from __future__ import annotations

import json

from barcheck.host.analyse import BarView, PageView
from barcheck.host.report import HostReport
from barcheck.inputs.textsafe import escape_control
from model.pci import BarKind
from model.units import size_name

SCHEMA = "barcheck.host/1"


def _hex(value: int | None) -> str | None:
    return None if value is None else f"{value:#x}"


def bar_record(view: BarView) -> dict:
    bar = view.bar
    return {
        "device": bar.device,
        "bar": bar.index,
        "kind": BarKind(bar.kind).label,
        "prefetchable": bar.prefetchable,
        "start": _hex(view.node.first),
        "size": _hex(bar.size_bytes),
        "parent": view.parent,
        "line": bar.line,
        "pages": [_page_record(page) for page in view.pages],
    }


def _page_record(page: PageView) -> dict:
    policies = sorted(page.policies)
    return {
        "page_size": page.page_bytes,
        "subpage": page.subpage,
        "aligned": page.aligned,
        "shares_page_with": list(page.shares_page_with),
        "shares_page_with_other": list(page.shares_page_with_other),
        "hotplug_pages": [_hex(p) for p in page.hotplug_pages],
        "mmappable": {name: page.policies[name].mmappable for name in policies},
        "isolated": {name: page.policies[name].isolated for name in policies},
        "dummy": {name: _range(page.policies[name].dummy) for name in policies},
        "leaks": {name: list(page.policies[name].leaks) for name in policies if page.policies[name].leaks},
        "resource_alignment": None if page.hint is None else {
            "parameter": page.hint.parameter, "order": page.hint.order, "placed_at": _hex(page.hint.placed_at),
            "policy": page.hint.policy, "reason": page.hint.reason},
    }


def _range(pair: tuple[int, int] | None) -> list[str] | None:
    return None if pair is None else [f"{pair[0]:#x}", f"{pair[1]:#x}"]


def summary(report: HostReport) -> list[dict]:
    rows = []
    for index, page in enumerate(report.page_sizes):
        pages = [view.pages[index] for view in report.bars]
        rows.append({
            "page_size": page,
            "memory_bars": len(pages),
            "subpage": sum(p.subpage for p in pages),
            "subpage_shared": sum(p.subpage and bool(p.shares_page_with) for p in pages),
            "mmappable": {name: sum(p.policies[name].mmappable for p in pages) for name in report.policies},
            "subpage_mmappable": {name: sum(p.subpage and p.policies[name].mmappable for p in pages)
                                  for name in report.policies},
            "not_isolated": {name: sum(not p.policies[name].isolated for p in pages) for name in report.policies},
            "kernel_parameter": kernel_parameter(report, index),
        })
    return rows


def kernel_parameter(report: HostReport, index: int) -> dict | None:
    """One `pci=resource_alignment=` value naming every device a hint covers, checked with all of them moved."""
    joint = report.joint[index]
    if joint is None:
        return None
    return {"parameter": joint.parameter, "reason": joint.reason,
            "placements": [{"bar": label, "start": _hex(start), "size": _hex(size)}
                           for label, start, size in joint.placements]}


def render_json(report: HostReport) -> str:
    doc = {
        "schema": SCHEMA,
        "input": {"path": report.dump.path, "format": report.dump.format,
                  "address_space": report.dump.address_space},
        "page_sizes": list(report.page_sizes),
        "policies": list(report.policies),
        "hint_policy": report.hint_policy,
        "assumptions": [{"name": name, "text": text} for name, text in report.assumptions],
        "notes": list(report.dump.notes),
        "warnings": list(report.warnings),
        "summary": summary(report),
        "bars": [bar_record(view) for view in report.bars],
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _bar_title(view: BarView) -> str:
    bar = view.bar
    last = view.node.first + bar.size_bytes - 1
    pref = ", prefetchable" if bar.prefetchable else ""
    return (f"{bar.device} {bar.label}  [{view.node.first:#x}-{last:#x}] {size_name(bar.size_bytes)} "
            f"{BarKind(bar.kind).label}{pref}  (parent: {view.parent or 'unknown: the whole address space'})")


def _page_lines(page: PageView) -> list[str]:
    shape = f"{'sub-page' if page.subpage else 'whole pages'}, {'page-aligned' if page.aligned else 'not page-aligned'}"
    lines = [f"  {size_name(page.page_bytes):>4}  {shape}"]
    if page.shares_page_with or page.shares_page_with_other:
        lines.append(f"        shares a page with: {', '.join(page.shares_page_with + page.shares_page_with_other)}")
    if page.hotplug_pages:
        lines.append(f"        hot-plug: while no dummy is held, a new BAR could land in page(s) {', '.join(f'{p:#x}' for p in page.hotplug_pages)}")
    verdicts = []
    for name in sorted(page.policies):
        view = page.policies[name]
        text = f"{name} {'mmap' if view.mmappable else 'trapped'}"
        if view.dummy:
            text += f" (reserves [{view.dummy[0]:#x}-{view.dummy[1]:#x}])"
        if not view.isolated:
            text += f" NOT ISOLATED: {'; '.join(view.leaks)}"
        verdicts.append(text)
    lines.append(f"        {' · '.join(verdicts)}")
    if page.hint is not None:
        if page.hint.parameter:
            lines.append(f"        fix: {page.hint.parameter}  ({page.hint.reason})")
        else:
            lines.append(f"        no resource_alignment fix found: {page.hint.reason}")
    return lines


def render_text(report: HostReport) -> str:
    dump = report.dump
    out = [f"barcheck host: {dump.path} ({dump.format}, {dump.address_space} addresses)",
           f"policies: {', '.join(report.policies)}; page sizes: "
           f"{', '.join(size_name(p) for p in report.page_sizes)}", ""]
    for view in report.bars:
        out.append(_bar_title(view))
        for page in view.pages:
            out += _page_lines(page)
        out.append("")
    out += _summary_lines(report)
    out += ["", "ASSUMPTIONS"] + [f"  {name}: {text}" for name, text in report.assumptions]
    if dump.notes:
        out += ["", "NOTES"] + [f"  {note}" for note in dump.notes]
    if report.warnings:
        out += ["", "WARNINGS"] + [f"  {warning}" for warning in report.warnings]
    leaks = report.leaking()
    if not report.bars:
        out += ["", "no assigned memory BAR in the dump: nothing was checked"]
        return _lines(out)
    out += ["", f"isolation: {'FAILS for ' + str(len(leaks)) + ' BAR/page-size/policy case(s)' if leaks else 'holds'} "
            f"for {len(report.bars)} memory BAR(s)"]
    return _lines(out)


def _lines(out: list[str]) -> str:
    """The report's lines, each kept to one line: names, paths and warnings from the dump may hold
    control characters (an ESC sequence, a carriage return), which are escaped."""
    return "".join(escape_control(line) + "\n" for line in out)


def _summary_lines(report: HostReport) -> list[str]:
    names = list(report.policies)
    header = ["page", "memory BARs", "sub-page", "sub-page sharing"] + [f"mmap {n}" for n in names]
    rows = [header]
    computed = summary(report)
    for row in computed:
        rows.append([size_name(row["page_size"]), str(row["memory_bars"]), str(row["subpage"]),
                     str(row["subpage_shared"])] + [str(row["mmappable"][n]) for n in names])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["SUMMARY"] + ["  " + "  ".join(cell.rjust(w) for cell, w in zip(r, widths)) for r in rows]
    for row in computed:
        joint = row["kernel_parameter"]
        if joint is None:
            continue
        if joint["parameter"]:
            lines.append(f"  {size_name(row['page_size'])} pages: {joint['parameter']}")
            lines.append(f"      checked: {joint['reason']}")
        else:
            lines.append(f"  {size_name(row['page_size'])} pages: no joint parameter: {joint['reason']}")
    return lines


def render_md(report: HostReport) -> str:
    names = list(report.policies)
    out = [f"# barcheck host: `{report.dump.path}`", "",
           f"Format {report.dump.format}, {report.dump.address_space} addresses.", "",
           "| device | BAR | start | size | page | sub-page | aligned | shares page with | "
           + " | ".join(f"mmap {n}" for n in names) + " | fix |",
           "|---|---|---|---|---|---|---|---|" + "---|" * len(names) + "---|"]
    for view in report.bars:
        for page in view.pages:
            fix = page.hint.parameter if page.hint and page.hint.parameter else ""
            out.append(f"| {view.bar.device} | {view.bar.label} | `{view.node.first:#x}` | "
                       f"{size_name(view.bar.size_bytes)} | {size_name(page.page_bytes)} | {_yes(page.subpage)} | "
                       f"{_yes(page.aligned)} | {', '.join(page.shares_page_with) or '-'} | "
                       + " | ".join(_md_policy(page, n) for n in names) + f" | `{fix}` |".replace("``", ""))
    out += ["", "## Assumptions", ""] + [f"- `{name}`: {text}" for name, text in report.assumptions]
    if report.warnings:
        out += ["", "## Warnings", ""] + [f"- {w}" for w in report.warnings]
    return _lines(out)


def _md_policy(page: PageView, name: str) -> str:
    view = page.policies[name]
    return ("yes" if view.mmappable else "no") + ("" if view.isolated else " (**leaks**)")


RENDERERS = {"text": render_text, "json": render_json, "md": render_md}
