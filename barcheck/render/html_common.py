"""HTML report helpers shared by its sections: verdict names and classes, page-size labels, headings, slugs."""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

from barcheck.render.svg_text import esc
from model.units import size_name

VERDICTS = ("counterexample", "unknown", "vacuous", "proved")
VERDICT_MARK = {"counterexample": "✗ cex", "unknown": "? unknown", "vacuous": "∅ vacuous", "proved": "✓ proved"}
_FILENAME_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


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


def badge_html(verdict: Any) -> str:
    return f'<span class="badge {verdict_class(verdict)}">{esc(verdict)}</span>'
