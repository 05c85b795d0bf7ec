"""The MSI-X mappable-fraction measure as a table: text, Markdown and JSON."""

from __future__ import annotations

from typing import Any, Iterable

from barcheck.engine.msixmeasure import Measure, Placement
from properties.declared import MEASURE_ID, MEASURE_STATEMENT
from model.units import size_name


def sort_measures(measures: Iterable[Measure]) -> list[Measure]:
    return sorted(measures, key=lambda m: (m.policy, m.platform, m.bar_size, m.page_size))


def _cell(m: Measure) -> str:
    """An inexact extreme (the solver gave up) shows as the bound it is: >=least, <=greatest."""
    def part(value: int, exact: bool, sign: str) -> str:
        return f"{'' if exact else sign}{size_name(value) if value else '0'} ({100 * value // m.bar_size}%)"
    low, high = part(m.min_bytes, m.min_at is not None, ">="), part(m.max_bytes, m.max_at is not None, "<=")
    return low if m.exact and m.min_bytes == m.max_bytes else f"{low}-{high}"


def _rows(measures: list[Measure]) -> tuple[list[int], list[tuple[str, str, int, dict[int, str]]]]:
    pages = sorted({m.page_size for m in measures})
    rows: dict[tuple[str, str, int], dict[int, str]] = {}
    for m in measures:
        rows.setdefault((m.policy, m.platform, m.bar_size), {})[m.page_size] = _cell(m)
    return pages, [(policy, platform, bar, cells) for (policy, platform, bar), cells in sorted(rows.items())]


def _uncertified(measures: list[Measure]) -> list[str]:
    return sorted({f"{m.policy} at {size_name(m.page_size)}: {m.certified}" for m in measures
                   if m.certified != "proved"})


BOUNDS_NOTE = ("values marked >= or <= are bounds, not extremes: the solver gave up before it found the exact "
               "value (a larger --rlimit may find it)")


def _bounds_note(measures: list[Measure]) -> list[str]:
    return [BOUNDS_NOTE] if any(not m.exact for m in measures) else []


def measure_text(measures: list[Measure]) -> list[str]:
    if not measures:
        return []
    ordered = sort_measures(measures)
    pages, rows = _rows(ordered)
    width = max(len(m.policy) for m in ordered)
    lines = ["", f"{MEASURE_ID}: mappable bytes of an MSI-X BAR, least-greatest over every table placement",
             f"  {'policy':{width}} {'platform':9} {'BAR':5} " + " ".join(f"{size_name(p):>22}" for p in pages)]
    for policy, platform, bar, cells in rows:
        lines.append(f"  {policy:{width}} {platform:9} {size_name(bar):5} "
                     + " ".join(f"{cells.get(p, '-'):>22}" for p in pages))
    lines += [f"  not certified: {item}" for item in _uncertified(ordered)]
    lines += [f"  {note}" for note in _bounds_note(ordered)]
    return lines


def measure_markdown(measures: list[Measure]) -> list[str]:
    if not measures:
        return []
    ordered = sort_measures(measures)
    pages, rows = _rows(ordered)
    lines = ["", f"## Measure `{MEASURE_ID}`", "", MEASURE_STATEMENT, "",
             "| policy | platform | BAR | " + " | ".join(f"{size_name(p)} pages" for p in pages) + " |",
             "|---|---|---|" + "---|" * len(pages)]
    for policy, platform, bar, cells in rows:
        lines.append(f"| `{policy}` | {platform} | {size_name(bar)} | "
                     + " | ".join(cells.get(p, "-") for p in pages) + " |")
    certified = all(m.certified == "proved" for m in ordered)
    lines += ["", "The areas were certified against the mmap check for every layout (a byte is in an area exactly "
              "when the one-page mmap at its page is accepted)." if certified else "Not certified: "
              + "; ".join(_uncertified(ordered))]
    for note in _bounds_note(ordered):
        lines += ["", f"{note[0].upper()}{note[1:]}."]
    return lines


def measure_doc(m: Measure) -> dict[str, Any]:
    return {"property": MEASURE_ID, "kind": "measure", "policy": m.policy, "page_size": m.page_size,
            "bar_size": hex(m.bar_size), "platform": m.platform, "min_bytes": hex(m.min_bytes),
            "max_bytes": hex(m.max_bytes),
            "min_at": _placement_doc(m.min_at), "max_at": _placement_doc(m.max_at),
            "certified": m.certified, "seconds": m.seconds}


def _placement_doc(at: Placement | None) -> dict[str, Any] | None:
    """None when the solver gave up: the value beside it is then a bound, not attained."""
    if at is None:
        return None
    return {"table_offset": hex(at.table_offset), "table_entries": at.table_entries}
