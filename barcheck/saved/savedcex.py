"""Reading saved counterexamples (CEX.json) for `barcheck replay`, `explain` and `export-test`.

Accepted: a whole report (`barcheck.result/1`, every counterexample in it) or
one counterexample (`barcheck.counterexample/1`, as reports/counterexamples/
holds).  The file is read only if it is a regular file under the input size
limit, parsed with bounded numbers and nesting and without duplicate keys,
and every counterexample in it is validated completely against the witness
schema (barcheck/saved/witness_check.py, docs/witness-format.md) before anything is
replayed or printed.  Every problem is one line naming the file and the JSON
path.
"""

from __future__ import annotations

import json
from typing import Any

from barcheck.render.explain import id_of
from barcheck.render.pages import CEX_SCHEMA
from barcheck.inputs.safe_read import InputFileError, nesting_depth, read_regular_file
from barcheck.inputs.textsafe import escape_control
from barcheck.engine.wire import WireError
from barcheck.saved.strict_json import key_text, shown
from barcheck.saved.witness_check import check_result
from barcheck.saved.witness_schema import Labels

RESULT_SCHEMA = "barcheck.result/1"
MAX_NESTING = 64
"""A saved counterexample nests about 8 deep; report.json about 10."""
MAX_INTEGER_DIGITS = 40
CEX_KEYS = {"schema", "meta", "result"}
RESULT_DOC_KEYS = {"schema", "meta", "results", "sweeps", "measures"}
VERDICTS = ("proved", "counterexample", "unknown", "vacuous")


class SavedCexError(ValueError):
    """A saved counterexample file cannot be used; the message names the file and field."""


class _Refused(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for key, value in pairs:
        if key in table:
            raise _Refused(f"the key {shown(key)} appears twice in one object")
        table[key] = value
    return table


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _Refused(f"an integer of {len(digits)} digits (barcheck writes large numbers as hex strings)")
    return int(digits)


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def parse_json(text: str) -> Any:
    """JSON with bounded integers and nesting, no NaN or Infinity and no duplicate keys; ValueError says why."""
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_int=_bounded_int,
                         parse_constant=_no_constant)
    except json.JSONDecodeError as err:
        raise ValueError(f"line {err.lineno} column {err.colno}: not JSON ({err.msg})") from None
    except _Refused as err:
        raise ValueError(str(err)) from None
    except RecursionError:
        raise ValueError(f"objects or lists nest more than {MAX_NESTING} deep") from None
    if nesting_depth(doc, MAX_NESTING) > MAX_NESTING:
        raise ValueError(f"objects or lists nest more than {MAX_NESTING} deep")
    return doc


def load(path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The file's meta and its counterexample results, in file order, each validated."""
    loaded = load_checked(path)
    return loaded[0], [result for result, _ in loaded[1]]


def load_checked(path: str) -> tuple[dict[str, Any], list[tuple[dict[str, Any], Labels]]]:
    """Like load(), with each result's checked labels."""
    try:
        raw = read_regular_file(path)
    except InputFileError as err:
        raise SavedCexError(str(err)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SavedCexError(f"{escape_control(path)}: not UTF-8 text") from None
    return loads_checked(text, path)


def loads_checked(text: str, name: str) -> tuple[dict[str, Any], list[tuple[dict[str, Any], Labels]]]:
    """load_checked() of JSON text; `name` is the file name errors give."""
    try:
        doc = parse_json(text)
    except ValueError as err:
        raise SavedCexError(f"{escape_control(name)}: {escape_control(str(err))}") from None
    try:
        return _checked(doc)
    except WireError as err:
        raise SavedCexError(f"{escape_control(name)}: {err}") from None


def _checked(doc: Any) -> tuple[dict[str, Any], list[tuple[dict[str, Any], Labels]]]:
    if not isinstance(doc, dict):
        raise WireError("expected a JSON object")
    schema = doc.get("schema")
    if schema == CEX_SCHEMA:
        _keys(doc, CEX_KEYS, {"result"})
        named = [("result", doc["result"])]
    elif schema == RESULT_SCHEMA:
        _keys(doc, RESULT_DOC_KEYS, {"results"})
        if not isinstance(doc["results"], list):
            raise WireError(f"results: expected a list, got {shown(doc['results'])}")
        named = [(f"results[{i}]", result) for i, result in enumerate(doc["results"])]
    else:
        raise WireError(f"schema: expected {CEX_SCHEMA!r} or {RESULT_SCHEMA!r}, got {shown(schema)}")
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        raise WireError(f"meta: expected an object, got {shown(meta)}")
    chosen = []
    for where, result in named:
        if not isinstance(result, dict):
            raise WireError(f"{where}: expected an object, got {shown(result)}")
        verdict = result.get("verdict")
        if verdict not in VERDICTS:
            raise WireError(f"{where}.verdict: {shown(verdict)} is not one of {', '.join(VERDICTS)}")
        if verdict == "counterexample":
            chosen.append((result, check_result(result, where, meta, _derived_id)))
    if not chosen:
        raise WireError("no counterexample in the file")
    return meta, chosen


def _keys(doc: dict, allowed: set[str], required: set[str]) -> None:
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise WireError(f"{key_text(unknown[0])}: not a top-level field of this schema "
                        f"(allowed: {', '.join(sorted(allowed))})")
    missing = sorted(required - set(doc))
    if missing:
        raise WireError(f"{missing[0]}: missing")


def _derived_id(labels: Labels) -> str:
    return id_of(labels.property, labels.kind, labels.policy, labels.page_bytes)
