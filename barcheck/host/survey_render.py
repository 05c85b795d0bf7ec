"""The survey as a table (text, Markdown, CSV, JSON) and as a plot (PNG, PDF)."""

from __future__ import annotations

import csv
import io
import json

from barcheck.host.survey import Survey
from barcheck.inputs.textsafe import escape_control
from model.units import size_name

SCHEMA = "barcheck.survey/1"


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def rows(survey: Survey) -> list[dict]:
    machines = survey.machines
    bars = sum(m.memory_bars for m in machines)
    out = []
    for i, page in enumerate(survey.page_sizes):
        subpage = sum(m.subpage[i] for m in machines)
        shared = sum(m.shared[i] for m in machines)
        with_shared = sum(1 for m in machines if m.shared[i])
        with_small_shared = sum(1 for m in machines if m.small_shared[i])
        out.append({
            "page_size": page,
            "machines": len(machines),
            "memory_bars": bars,
            "subpage_bars": subpage,
            "subpage_pct": _pct(subpage, bars),
            "subpage_shared": shared,
            "subpage_shared_pct": _pct(shared, subpage),
            "machines_with_shared_page": with_shared,
            "machines_with_shared_page_pct": _pct(with_shared, len(machines)),
            "machines_with_shared_sub4k_bar": with_small_shared,
            "machines_with_shared_sub4k_bar_pct": _pct(with_small_shared, len(machines)),
            "subpage_mmappable": {name: sum(m.mmappable[i][name] for m in machines) for name in survey.policies},
            "subpage_mmappable_pct": {name: _pct(sum(m.mmappable[i][name] for m in machines), subpage)
                                      for name in survey.policies},
        })
    return out


def small_bars(survey: Survey) -> tuple[int, int]:
    return sum(m.small_bars for m in survey.machines), sum(m.memory_bars for m in survey.machines)


def render_json(survey: Survey) -> str:
    small, bars = small_bars(survey)
    doc = {
        "schema": SCHEMA,
        "page_sizes": list(survey.page_sizes),
        "policies": list(survey.policies),
        "machines": len(survey.machines),
        "memory_bars": bars,
        "bars_below_4k": small,
        "bars_below_4k_pct": _pct(small, bars),
        "not_isolated": survey.leaks,
        "rows": rows(survey),
        "skipped": list(survey.skipped),
        "per_machine": [{"path": m.path, "format": m.format, "memory_bars": m.memory_bars, "bars_below_4k": m.small_bars,
                         "subpage": list(m.subpage), "shared": list(m.shared), "sub4k_shared": list(m.small_shared),
                         "not_isolated": m.leaks}
                        for m in survey.machines],
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def _table(survey: Survey) -> tuple[list[str], list[list[str]]]:
    header = ["page", "machines", "memory BARs", "sub-page BARs", "sharing a page", "machines sharing",
              "machines, sub-4K sharing"]
    header += [f"mmap {name}" for name in survey.policies]
    body = []
    for row in rows(survey):
        body.append([size_name(row["page_size"]), str(row["machines"]), str(row["memory_bars"]),
                     f"{row['subpage_bars']} ({row['subpage_pct']}%)",
                     f"{row['subpage_shared']} ({row['subpage_shared_pct']}%)",
                     f"{row['machines_with_shared_page']} ({row['machines_with_shared_page_pct']}%)",
                     f"{row['machines_with_shared_sub4k_bar']} ({row['machines_with_shared_sub4k_bar_pct']}%)"]
                    + [f"{row['subpage_mmappable'][n]} ({row['subpage_mmappable_pct'][n]}%)" for n in survey.policies])
    return header, body


def _footer(survey: Survey) -> list[str]:
    small, bars = small_bars(survey)
    lines = [f"memory BARs below 4 KiB: {small} of {bars} ({_pct(small, bars)}%)",
             "sharing a page: sub-page BARs with another device's BAR in one of their pages; "
             "machines sharing: machines with at least one such BAR; machines, sub-4K sharing: machines where a BAR "
             "under 4 KiB shares its page with another device's BAR; mmap: sub-page BARs the policy lets "
             "userspace mmap (percent of sub-page BARs)"]
    lines.append(f"isolation: {'FAILS in ' + str(survey.leaks) + ' case(s)' if survey.leaks else 'holds on every machine'}")
    return lines


def render_text(survey: Survey) -> str:
    header, body = _table(survey)
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(r, widths)) for r in [header] + body]
    lines += [""] + _footer(survey)
    if survey.skipped:
        lines += ["", f"skipped {len(survey.skipped)} file(s):"] + [f"  {escape_control(s)}" for s in survey.skipped]
    return "\n".join(lines) + "\n"


def render_md(survey: Survey) -> str:
    header, body = _table(survey)
    lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    lines += [""] + [f"- {line}" for line in _footer(survey)]
    if survey.skipped:
        lines += [f"- skipped {len(survey.skipped)} file(s)"]
    return "\n".join(lines) + "\n"


def render_csv(survey: Survey) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    policies = list(survey.policies)
    writer.writerow(["page_size", "machines", "memory_bars", "subpage_bars", "subpage_shared",
                     "machines_with_shared_page", "machines_with_shared_sub4k_bar"]
                    + [f"subpage_mmappable_{n}" for n in policies])
    for row in rows(survey):
        writer.writerow([row["page_size"], row["machines"], row["memory_bars"], row["subpage_bars"],
                         row["subpage_shared"], row["machines_with_shared_page"], row["machines_with_shared_sub4k_bar"]]
                        + [row["subpage_mmappable"][n] for n in policies])
    return buffer.getvalue()


RENDERERS = {"text": render_text, "json": render_json, "md": render_md, "csv": render_csv}


def render_plots(survey: Survey, kinds: list[str]) -> dict[str, bytes]:
    """survey.png and/or survey.pdf, byte-identical for the same survey."""
    from barcheck.host.survey_plot import plot
    return {f"survey.{kind}": plot(survey, rows(survey), kind) for kind in kinds}
