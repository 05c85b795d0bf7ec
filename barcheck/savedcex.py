"""Reading saved counterexamples (CEX.json) for `barcheck replay`, `explain` and `export-test`.

Accepted: a whole report (`barcheck.result/1`, every counterexample in it) or
one counterexample (`barcheck.counterexample/1`, as reports/counterexamples/
holds).  Every problem is one line naming the file and the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from barcheck.report.pages import CEX_SCHEMA

RESULT_SCHEMA = "barcheck.result/1"


class SavedCexError(ValueError):
    """A saved counterexample file cannot be used; the message names the file and field."""


def load(path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The file's meta and its counterexample results, in file order."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise SavedCexError(f"{path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise SavedCexError(f"{path}: not UTF-8 text") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise SavedCexError(f"{path}: line {err.lineno} column {err.colno}: not JSON ({err.msg})") from None
    if not isinstance(doc, dict):
        raise SavedCexError(f"{path}: expected a JSON object")
    schema = doc.get("schema")
    if schema == CEX_SCHEMA:
        results = [doc.get("result")]
        where = ["result"]
    elif schema == RESULT_SCHEMA:
        raw = doc.get("results")
        if not isinstance(raw, list):
            raise SavedCexError(f"{path}: results: expected a list")
        where = [f"results[{i}]" for i in range(len(raw))]
        results = raw
    else:
        raise SavedCexError(f"{path}: schema: expected {CEX_SCHEMA!r} or {RESULT_SCHEMA!r}, got {schema!r}")
    chosen = []
    for name, result in zip(where, results):
        if not isinstance(result, dict):
            raise SavedCexError(f"{path}: {name}: expected an object")
        if result.get("verdict") != "counterexample":
            continue
        for key in ("id", "property", "policy", "page_size", "explanation", "replay"):
            if key not in result:
                raise SavedCexError(f"{path}: {name}.{key}: missing")
        chosen.append(result)
    if not chosen:
        raise SavedCexError(f"{path}: no counterexample in the file")
    meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
    return meta, chosen
