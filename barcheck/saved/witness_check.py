"""The strict schema of a saved counterexample: the result around a witness and the witness itself.

`check_result()` validates a counterexample result of a saved file (`barcheck.result/1` or
`barcheck.counterexample/1`) completely, before anything is replayed or printed.  It checks
every key, type and bound of the witness (`barcheck.witness/1`, docs/witness-format.md), that
every index points into the structure it indexes, and that every place the file records the
property, the policy, the page size, the width, the placement or an input value agrees with
the witness's labels.  What it does not check is never shown as fact: `explain` and
`export-test` print what replaying the witness gives, not the file's own text.

Every problem is a WireError whose message starts with the JSON path, e.g.
`results[3].replay.shape.width: 0x2: barcheck writes and replays 64-bit witnesses only`.

The witness itself is checked in witness_schema.py, from the readers of strict_json.py.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from barcheck.saved.strict_json import fail, flag, hex64, items, json_int, obj, same, shown, text, value_text
from barcheck.saved.witness_schema import MAX_LABEL_CHARS, WIDTH_BITS, Labels, check_witness
from model.pci import BarKind
from model.scenario import FLAG_FIELDS, Origin, Relation
from model.units import size_name

_ID = re.compile(r"[A-Za-z0-9._-]{1,255}")

RESULT_REQUIRED = {"id", "property", "kind", "policy", "page_size", "verdict", "explanation", "replay"}
RESULT_OPTIONAL = {"title", "statement", "scope", "assumptions", "seconds", "solver", "source", "reason", "why",
                   "counterexample", "facts", "trace", "steps", "maps", "notes"}
"""Informational: type-checked, never shown as fact (explain re-derives them from the witness)."""


def check_result(result: Any, where: str, meta: Mapping[str, Any], derived_id) -> Labels:
    """Validate a counterexample result and its witness; every label must agree with the witness."""
    obj(result, where, RESULT_REQUIRED, RESULT_OPTIONAL)
    labels = check_witness(result["replay"], f"{where}.replay")
    at = where
    if result["verdict"] != "counterexample":
        raise fail(f"{at}.verdict", f"expected \"counterexample\", got {shown(result['verdict'])}")
    kind = result["kind"]
    if kind not in ("pair", "trace", "function"):
        raise fail(f"{at}.kind", f"{shown(kind)} is not pair, trace or function")
    same(f"{at}.kind", kind, f"the kind of {at}.replay.engine {labels.engine}:", labels.kind)
    same(f"{at}.property", text(result["property"], f"{at}.property"), f"{at}.replay.property", labels.property)
    same(f"{at}.policy", text(result["policy"], f"{at}.policy", MAX_LABEL_CHARS), f"{at}.replay.policy",
         labels.policy)
    same(f"{at}.page_size", json_int(result["page_size"], f"{at}.page_size"), f"{at}.replay.page_size",
         labels.page_bytes)
    result_id = result["id"]
    if not isinstance(result_id, str) or not _ID.fullmatch(result_id):
        raise fail(f"{at}.id", f"expected a file-name-safe id, got {shown(result_id)}")
    same(f"{at}.id", result_id, "the id of its labels", derived_id(labels))
    _informational(result, at)
    _scope(result.get("scope"), f"{at}.scope", result["replay"], labels)
    _body(result, at, labels)
    _meta(meta, where, labels)
    return labels


def _informational(result: dict, at: str) -> None:
    for name in ("explanation", "title", "statement", "reason"):
        if name in result and not isinstance(result[name], str):
            raise fail(f"{at}.{name}", f"expected a string, got {shown(result[name])}")
    for name in ("facts", "steps", "notes", "assumptions"):
        if name in result:
            for i, line in enumerate(items(result[name], f"{at}.{name}", 100_000)):
                if not isinstance(line, str):
                    raise fail(f"{at}.{name}[{i}]", f"expected a string, got {shown(line)}")
    for name in ("scope", "solver", "source", "counterexample", "trace", "why"):
        if name in result and not isinstance(result[name], dict):
            raise fail(f"{at}.{name}", f"expected an object, got {shown(result[name])}")
    if "seconds" in result and (isinstance(result["seconds"], bool)
                                or not isinstance(result["seconds"], (int, float))):
        raise fail(f"{at}.seconds", f"expected a number, got {shown(result['seconds'])}")
    if "maps" in result:
        for i, item in enumerate(items(result["maps"], f"{at}.maps", 100_000)):
            if not isinstance(item, dict):
                raise fail(f"{at}.maps[{i}]", f"expected an object, got {shown(item)}")


def _scope(scope: Any, at: str, witness: dict, labels: Labels) -> None:
    if scope is None:
        return
    if "page_size" in scope:
        same(f"{at}.page_size", json_int(scope["page_size"], f"{at}.page_size"), labels.path("page_size"),
             labels.page_bytes)
    if "width_bits" in scope:
        same(f"{at}.width_bits", json_int(scope["width_bits"], f"{at}.width_bits"), "the witness width",
             WIDTH_BITS)
    if labels.engine == "pair":
        shape = witness["shape"]
        for scope_key, shape_key in (("window_granule", "window_granule_bytes"),
                                     ("decoder_granule", "decoder_granule_bytes")):
            if scope_key in scope and shape_key in shape:
                same(f"{at}.{scope_key}", hex64(scope[scope_key], f"{at}.{scope_key}"),
                     labels.path(f"shape.{shape_key}"), hex64(shape[shape_key], labels.path("shape")))
    if labels.engine == "record":
        options = witness["options"]
        same(f"{at}.no_unsafe_interrupts", bool(flag(scope.get("no_unsafe_interrupts", False),
                                                     f"{at}.no_unsafe_interrupts")),
             labels.path("options.no_unsafe_interrupts"), options["no_unsafe_interrupts"])
        bound = scope.get("max_bar_size")
        same(f"{at}.max_bar_size", None if bound is None else hex64(bound, f"{at}.max_bar_size"),
             labels.path("options.max_bar_bytes"),
             None if options["max_bar_bytes"] is None else hex64(options["max_bar_bytes"], labels.path("options")))


def _body(result: dict, at: str, labels: Labels) -> None:
    """The body's own record of the labels and of the inputs it was rendered from."""
    witness = result["replay"]
    cex, trace = result.get("counterexample"), result.get("trace")
    if cex is not None:
        if labels.engine != "pair":
            raise fail(f"{at}.counterexample", f"only a pair result has one; this witness's engine is {labels.engine}")
        _pair_body(cex, f"{at}.counterexample", witness["scenario"], labels)
    if trace is not None:
        if labels.engine == "pair":
            raise fail(f"{at}.trace", "a pair result has `counterexample`, not `trace`")
        if "property" in trace:
            same(f"{at}.trace.property", trace["property"], labels.path("property"), labels.property)
        if "page_size" in trace:
            same(f"{at}.trace.page_size", hex64(trace["page_size"], f"{at}.trace.page_size"),
                 labels.path("page_size"), labels.page_bytes)
        if labels.engine == "trace" and "placement" in trace:
            same(f"{at}.trace.placement", trace["placement"], labels.path("placement"), witness["placement"])
        if labels.engine == "record" and "fields" in trace:
            _same_values(trace["fields"], f"{at}.trace.fields", witness["fields"], labels.path("fields"))
        if labels.engine == "round-trip":
            _round_trip_body(trace, f"{at}.trace", witness, labels)


def _pair_body(cex: dict, at: str, scenario: dict, labels: Labels) -> None:
    value = {name: (v if name in FLAG_FIELDS else hex64(v, labels.path("scenario"))) for name, v in scenario.items()}
    if "page_size" in cex:
        same(f"{at}.page_size", hex64(cex["page_size"], f"{at}.page_size"), labels.path("page_size"),
             labels.page_bytes)
    expected: dict[str, Mapping[str, object]] = {
        "bar": {"index": value["bar_index"], "kind": _label(BarKind, value["bar_kind"]),
                "prefetchable": value["bar_prefetchable"],
                "origin": _label(Origin, value.get("bar_origin", int(Origin.FUNCTION))),
                **_span(value["bar_start"], value["bar_start"] + value["bar_size"] - 1)},
        "parent": _span(value["parent_first"], value["parent_last"]),
        "foreign": {"relation": _label(Relation, value["foreign_relation"]),
                    "origin": _label(Origin, value.get("foreign_origin", int(Origin.PLATFORM))),
                    **_span(value["foreign_first"], value["foreign_last"])},
    }
    for part, fields in expected.items():
        if part not in cex:
            continue
        if not isinstance(cex[part], dict):
            raise fail(f"{at}.{part}", f"expected an object, got {shown(cex[part])}")
        for name, want in fields.items():
            if name not in cex[part]:
                continue
            got = cex[part][name]
            if isinstance(want, int) and not isinstance(want, bool) and name != "index":
                got = hex64(got, f"{at}.{part}.{name}")
            if got != want:
                raise fail(f"{at}.{part}.{name}", f"{value_text(got)} disagrees with the witness, which gives "
                                                  f"{value_text(want)} ({labels.path('scenario')})")


def _label(kind: Any, value: int) -> str:
    try:
        return kind(value).label
    except ValueError:
        return hex(value)


def _span(first: int, last: int) -> dict[str, int]:
    mask = (1 << WIDTH_BITS) - 1
    return {"start": first, "end": last & mask, "size": (last - first + 1) & mask}


def _same_values(found: Any, at: str, witness_fields: dict, label: str) -> None:
    if not isinstance(found, dict) or set(found) != set(witness_fields):
        raise fail(at, f"names other fields than {label}")
    for name, value in found.items():
        if value != witness_fields[name] and not (
                isinstance(value, str) and isinstance(witness_fields[name], str)
                and hex64(value, f"{at}.{name}") == hex64(witness_fields[name], f"{label}.{name}")):
            raise fail(f"{at}.{name}", f"{shown(value)} disagrees with {label}.{name} {shown(witness_fields[name])}")


def _round_trip_body(trace: dict, at: str, witness: dict, labels: Labels) -> None:
    bar = trace.get("bar")
    pairs = [("offset_pages", trace.get("offset_pages"), "offset_pages")]
    if isinstance(bar, dict):
        pairs += [("bar.size", bar.get("size"), "size")]
        if "index" in bar:
            same(f"{at}.bar.index", bar["index"], labels.path("index"), hex64(witness["index"], labels.path("index")))
    for name, value, key in pairs:
        if value is not None:
            same(f"{at}.{name}", hex64(value, f"{at}.{name}"), labels.path(key),
                 hex64(witness[key], labels.path(key)))


def _meta(meta: Mapping[str, Any], where: str, labels: Labels) -> None:
    """A file's meta lists what its run checked; a result outside those lists was not made by that run."""
    if "width_bits" in meta:
        same("meta.width_bits", meta["width_bits"], "the witness width", WIDTH_BITS)
    for key, what, label in (("policies", "policy", labels.policy), ("properties", "property", labels.property),
                             ("page_sizes", "page size", labels.page_bytes)):
        listed = meta.get(key)
        if isinstance(listed, list) and label not in listed:
            shown_label = size_name(labels.page_bytes) if key == "page_sizes" else label
            raise fail(f"meta.{key}", f"does not list {shown_label}, the {what} of {where}")
