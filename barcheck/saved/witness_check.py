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
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass
from typing import AbstractSet, Any, Mapping

from barcheck.inputs.textsafe import escape_control, excerpt
from barcheck.engine.wire import WireError
from model.events import EventKind, targets
from model.pci import BarKind
from model.scenario import DOMAIN_LIMITS, FIELDS as PAIR_FIELDS, FLAG_FIELDS, Origin, Relation
from model.system import Structure, WindowSpec, DeviceSpec, BarSpec, FixedSpec
from model.units import MAX_PAGE_BYTES, MIN_PAGE_BYTES, size_name
from model.vma import VmaEventKind
from properties import REGISTRY
from properties.record import RECORD_PROPERTIES
from properties.revoke import VMA_PROPERTIES
from properties.trace import TRACE_PROPERTIES

WITNESS_SCHEMA = "barcheck.witness/1"
WIDTH_BITS = 64
MAX_NAME_CHARS = 64
MAX_LABEL_CHARS = 200
MAX_WINDOWS, MAX_DEVICES, MAX_BARS, MAX_FIXED, MAX_MOVES = 16, 16, 32, 16, 64
MAX_PINS, MAX_PIN_VALUES = 16, 64
_HEX = re.compile(r"0x0*([0-9a-fA-F]{1,16})")
_ID = re.compile(r"[A-Za-z0-9._-]{1,255}")

ENGINES = ("pair", "trace", "vma", "round-trip", "record")
ENGINE_KINDS = {"pair": "pair", "trace": "trace", "vma": "trace", "round-trip": "function", "record": "function"}
ENGINE_KEYS = {
    "pair": {"scenario", "shape"},
    "trace": {"width_bits", "placement", "structure", "initial", "moves"},
    "vma": {"width_bits", "structure", "initial", "moves"},
    "round-trip": {"width_bits", "index", "size", "offset_pages"},
    "record": {"width_bits", "fields", "options"},
}
LABEL_KEYS = {"schema", "property", "policy", "page_size", "engine"}
PAIR_DEFAULTED = {"bar_origin", "foreign_origin", "realloc_start"}
"""Pair scenario fields added after the first witnesses were written: an old file without them
replays with their defaults (an ordinary function's BAR, a non-PCI foreign decoder, realloc at 0)."""
SHAPE_KEYS = {"width", "window_granule_bytes", "decoder_granule_bytes", "fixed_granule_bytes", "pins"}
STATE_RANGES = ("window", "fixed", "dummy", "mapping")
STATE_BAR_WORDS, STATE_BAR_FLAGS = ("size", "start"), ("assigned", "mmap_ok", "dummy_held", "mapped")
STATE_DEVICE_FLAGS = ("present", "opened")
VMA_BAR_WORDS = ("index", "start", "size", "vm_pgoff", "vma_pages", "offset_pages", "pte_first", "pte_last")
VMA_BAR_FLAGS = ("mem64", "mmappable", "mapped", "listed", "pte_live")
VMA_DEVICE_FLAGS = ("opened", "mem_on", "d0")
PLACEMENTS = ("any-free", "first-fit")
PLACING_EVENTS = (EventKind.HOT_ADD, EventKind.RESCAN)

RESULT_REQUIRED = {"id", "property", "kind", "policy", "page_size", "verdict", "explanation", "replay"}
RESULT_OPTIONAL = {"title", "statement", "scope", "assumptions", "seconds", "solver", "source", "reason", "why",
                   "counterexample", "facts", "trace", "steps", "maps", "notes"}
"""Informational: type-checked, never shown as fact (explain re-derives them from the witness)."""


def fail(where: str, message: str) -> WireError:
    return WireError(escape_control(f"{where}: {message}"))


def shown(value: Any, max_chars: int = 40) -> str:
    if isinstance(value, str):
        return excerpt(value, max_chars)
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    text = "null" if value is None else repr(value).lower() if isinstance(value, bool) else repr(value)
    return text if len(text) <= 40 else f"{text[:40]}... ({len(text)} characters)"


def key_text(key: str) -> str:
    """A key from the file as a JSON path shows it: control characters escaped, at most 40 characters."""
    return escape_control(key if len(key) <= 40 else f"{key[:40]}...")


def obj(value: Any, where: str, required: set[str], optional: AbstractSet[str] = frozenset()) -> dict:
    if not isinstance(value, dict):
        raise fail(where, f"expected an object, got {shown(value)}")
    unknown = sorted(set(value) - required - optional)
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise fail(f"{where}.{key_text(unknown[0])}", f"not a field here (allowed: {allowed})")
    missing = sorted(required - set(value))
    if missing:
        raise fail(f"{where}.{missing[0]}", "missing")
    return value


def hex64(value: Any, where: str) -> int:
    """A hex string of a value below 2^64, as barcheck writes every address, size and count."""
    if isinstance(value, str):
        match = _HEX.fullmatch(value)
        if match:
            return int(match.group(1), 16)
    raise fail(where, f"expected a hex string of a 64-bit value such as \"0x1000\", got {shown(value)}")


def index(value: Any, where: str, count: int, what: str) -> int:
    number = hex64(value, where)
    if number >= count:
        raise fail(where, f"{number:#x} is not the index of one of the {count} {what}")
    return number


def flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise fail(where, f"expected true or false, got {shown(value)}")
    return value


def text(value: Any, where: str, max_chars: int = MAX_NAME_CHARS) -> str:
    if not isinstance(value, str) or not value:
        raise fail(where, f"expected a non-empty string, got {shown(value)}")
    if len(value) > max_chars:
        raise fail(where, f"{shown(value)} is longer than {max_chars} characters")
    if escape_control(value) != value:
        raise fail(where, f"{shown(value)} contains a control character")
    return value


def items(value: Any, where: str, max_items: int, min_items: int = 0) -> list:
    if not isinstance(value, list):
        raise fail(where, f"expected a list, got {shown(value)}")
    if not min_items <= len(value) <= max_items:
        raise fail(where, f"expected {min_items} to {max_items} items, got {len(value)}")
    return value


def sized(value: Any, where: str, count: int) -> list:
    if not isinstance(value, list):
        raise fail(where, f"expected a list, got {shown(value)}")
    if len(value) != count:
        raise fail(where, f"expected {count} items (one per slot of the structure), got {len(value)}")
    return value


def json_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(where, f"expected an integer, got {shown(value)}")
    return value


def power_of_two(value: int, where: str, low: int, high: int) -> int:
    if value & (value - 1) or not low <= value <= high:
        raise fail(where, f"{value:#x} is not a power of two from {size_name(low)} to {size_name(high)}")
    return value


def same(where: str, found: Any, label_where: str, label: Any) -> None:
    if found != label:
        raise fail(where, f"{_value_text(found)} disagrees with {label_where} {_value_text(label)}")


def _value_text(value: Any) -> str:
    return hex(value) if isinstance(value, int) and not isinstance(value, bool) else shown(value, 120)


# ----------------------------------------------------------------------------- the witness


@dataclass(frozen=True, slots=True)
class Labels:
    """What a witness says it is, after checking: the values `replay` prints."""

    property: str
    policy: str
    page_bytes: int
    engine: str
    where: str
    """The JSON path of the witness, for messages."""

    # The field named `property` shadows the builtin in this class body.
    @builtins.property
    def kind(self) -> str:
        return ENGINE_KINDS[self.engine]

    def path(self, key: str) -> str:
        return f"{self.where}.{key}"


def check_witness(witness: Any, where: str) -> Labels:
    """Validate a `barcheck.witness/1` object completely; its labels when it is well formed."""
    if not isinstance(witness, dict):
        raise fail(where, f"expected an object, got {shown(witness)}")
    engine = witness.get("engine")
    if not isinstance(engine, str) or engine not in ENGINES:
        raise fail(f"{where}.engine", f"unknown engine {shown(engine)} (known: {', '.join(ENGINES)})")
    obj(witness, where, LABEL_KEYS | ENGINE_KEYS[engine])
    if witness["schema"] != WITNESS_SCHEMA:
        raise fail(f"{where}.schema", f"expected {WITNESS_SCHEMA!r}, got {shown(witness['schema'])}")
    prop = text(witness["property"], f"{where}.property")
    policy = text(witness["policy"], f"{where}.policy", MAX_LABEL_CHARS)
    page = power_of_two(hex64(witness["page_size"], f"{where}.page_size"), f"{where}.page_size",
                        MIN_PAGE_BYTES, MAX_PAGE_BYTES)
    known = _properties_of(engine)
    if prop not in known:
        raise fail(f"{where}.property", f"{shown(prop)} is not a property the {engine} engine checks "
                                        f"(known: {', '.join(sorted(known))})")
    labels = Labels(prop, policy, page, engine, where)
    if engine != "pair":
        width = json_int(witness["width_bits"], f"{where}.width_bits")
        if width != WIDTH_BITS:
            raise fail(f"{where}.width_bits", f"{width}: barcheck writes and replays 64-bit witnesses only")
    CHECKERS[engine](witness, where, labels)
    return labels


def _properties_of(engine: str) -> set[str]:
    return {"pair": set(REGISTRY), "trace": set(TRACE_PROPERTIES), "vma": set(VMA_PROPERTIES),
            "round-trip": {"pgoff.round-trip"}, "record": set(RECORD_PROPERTIES)}[engine]


def _pair(witness: dict, where: str, labels: Labels) -> None:
    scenario = obj(witness["scenario"], f"{where}.scenario", set(PAIR_FIELDS) - PAIR_DEFAULTED, PAIR_DEFAULTED)
    for name, value in scenario.items():
        at = f"{where}.scenario.{name}"
        if name in FLAG_FIELDS:
            flag(value, at)
            continue
        number = hex64(value, at)
        if name in DOMAIN_LIMITS and number > DOMAIN_LIMITS[name]:
            raise fail(at, f"{number:#x} is outside its domain 0x0..{DOMAIN_LIMITS[name]:#x}")
    page = hex64(scenario["page_bytes"], f"{where}.scenario.page_bytes")
    same(f"{where}.scenario.page_bytes", page, f"{where}.page_size", labels.page_bytes)
    _shape(witness["shape"], f"{where}.shape")


def _shape(value: Any, where: str) -> None:
    shape = obj(value, where, SHAPE_KEYS - {"fixed_granule_bytes", "pins"}, {"fixed_granule_bytes", "pins"})
    width = hex64(shape["width"], f"{where}.width")
    if width != WIDTH_BITS:
        raise fail(f"{where}.width", f"{width:#x}: barcheck writes and replays 64-bit witnesses only")
    for name in ("window_granule_bytes", "decoder_granule_bytes", "fixed_granule_bytes"):
        if name in shape:
            power_of_two(hex64(shape[name], f"{where}.{name}"), f"{where}.{name}", 1, 1 << 32)
    for i, pin in enumerate(items(shape.get("pins", []), f"{where}.pins", MAX_PINS)):
        at = f"{where}.pins[{i}]"
        name, values = items(pin, at, 2, 2)
        if name not in PAIR_FIELDS:
            raise fail(f"{at}[0]", f"{shown(name)} is not a scenario field")
        for j, number in enumerate(items(values, f"{at}[1]", MAX_PIN_VALUES, 1)):
            hex64(number, f"{at}[1][{j}]")


def _trace(witness: dict, where: str, labels: Labels) -> None:
    placement = witness["placement"]
    if placement not in PLACEMENTS:
        raise fail(f"{where}.placement", f"expected any-free or first-fit, got {shown(placement)}")
    st = _structure(witness["structure"], f"{where}.structure")
    _state(witness["initial"], f"{where}.initial", st, labels)
    bars = len(st.bars)
    for i, move in enumerate(items(witness["moves"], f"{where}.moves", MAX_MOVES, 1)):
        at = f"{where}.moves[{i}]"
        obj(move, at, {"event", "choices"})
        event = obj(move["event"], f"{at}.event", {"kind", "target"})
        kind = _enum(EventKind, event["kind"], f"{at}.event.kind")
        allowed = targets(st, kind)
        target = hex64(event["target"], f"{at}.event.target")
        if target not in allowed:
            raise fail(f"{at}.event.target", f"{target:#x} is not a target of {kind.value} in this structure "
                                             f"(targets: {', '.join(hex(t) for t in allowed) or 'none'})")
        choices = move["choices"]
        if choices is not None and not isinstance(choices, list):
            raise fail(f"{at}.choices", f"expected null or a list, got {shown(choices)}")
        if choices is None:
            if placement == "any-free" and kind in PLACING_EVENTS:
                raise fail(f"{at}.choices", f"an any-free {kind.value} needs one start per BAR slot")
            continue
        if placement == "first-fit" and choices:
            raise fail(f"{at}.choices", "first-fit placement takes no choices (null)")
        if choices or kind in PLACING_EVENTS:
            for j, choice in enumerate(sized(choices, f"{at}.choices", bars)):
                hex64(choice, f"{at}.choices[{j}]")


def _enum(kind: Any, value: Any, where: str) -> Any:
    known = [member.value for member in kind]
    if not isinstance(value, str) or value not in known:
        raise fail(where, f"{shown(value)} is not one of {', '.join(known)}")
    return kind(value)


def _structure(value: Any, where: str) -> Structure:
    table = obj(value, where, {"windows", "devices", "bars"}, {"fixed"})
    windows = []
    for i, w in enumerate(items(table["windows"], f"{where}.windows", MAX_WINDOWS, 1)):
        at = f"{where}.windows[{i}]"
        obj(w, at, {"name", "parent", "bridge"})
        parent = None if w["parent"] is None else index(w["parent"], f"{at}.parent", i, "windows before it")
        windows.append(WindowSpec(text(w["name"], f"{at}.name"), parent, flag(w["bridge"], f"{at}.bridge")))
    raw_devices = items(table["devices"], f"{where}.devices", MAX_DEVICES, 1)
    raw_bars = items(table["bars"], f"{where}.bars", MAX_BARS, 1)
    bars = []
    for b, bar in enumerate(raw_bars):
        at = f"{where}.bars[{b}]"
        obj(bar, at, {"device", "index", "kind", "prefetchable"})
        kind = hex64(bar["kind"], f"{at}.kind")
        if kind not in (BarKind.MEM32, BarKind.MEM64):
            raise fail(f"{at}.kind", f"{kind:#x} is not a memory BAR kind (0x0 mem32, 0x1 mem64)")
        slot = hex64(bar["index"], f"{at}.index")
        if slot > 5:
            raise fail(f"{at}.index", f"{slot:#x} is not a BAR index 0x0..0x5")
        bars.append(BarSpec(index(bar["device"], f"{at}.device", len(raw_devices), "devices"), slot,
                            BarKind(kind), flag(bar["prefetchable"], f"{at}.prefetchable")))
    devices = []
    for d, device in enumerate(raw_devices):
        at = f"{where}.devices[{d}]"
        obj(device, at, {"name", "window", "bars"})
        slots = [index(b, f"{at}.bars[{i}]", len(bars), "BARs")
                 for i, b in enumerate(items(device["bars"], f"{at}.bars", MAX_BARS))]
        owned = [b for b, spec in enumerate(bars) if spec.device == d]
        if sorted(slots) != owned:
            raise fail(f"{at}.bars", f"lists {', '.join(map(hex, slots)) or 'none'}, but the BARs whose device is "
                                     f"{d:#x} are {', '.join(map(hex, owned)) or 'none'}")
        devices.append(DeviceSpec(text(device["name"], f"{at}.name"),
                                  index(device["window"], f"{at}.window", len(windows), "windows"), tuple(slots)))
    fixed = []
    for f, res in enumerate(items(table.get("fixed", []), f"{where}.fixed", MAX_FIXED)):
        at = f"{where}.fixed[{f}]"
        obj(res, at, {"name", "window"})
        fixed.append(FixedSpec(text(res["name"], f"{at}.name"), index(res["window"], f"{at}.window", len(windows),
                                                                          "windows")))
    return Structure(tuple(windows), tuple(devices), tuple(bars), tuple(fixed))


def _state(value: Any, where: str, st: Structure, labels: Labels) -> None:
    fields = {"page_bytes", *STATE_RANGES, *STATE_BAR_WORDS, *STATE_BAR_FLAGS, *STATE_DEVICE_FLAGS}
    state = obj(value, where, fields)
    same(f"{where}.page_bytes", hex64(state["page_bytes"], f"{where}.page_bytes"), labels.path("page_size"),
         labels.page_bytes)
    counts = {"window": len(st.windows), "fixed": len(st.fixed), "dummy": len(st.bars), "mapping": len(st.bars)}
    for name in STATE_RANGES:
        for i, r in enumerate(sized(state[name], f"{where}.{name}", counts[name])):
            obj(r, f"{where}.{name}[{i}]", {"first", "last"})
            hex64(r["first"], f"{where}.{name}[{i}].first")
            hex64(r["last"], f"{where}.{name}[{i}].last")
    _slots(state, where, STATE_BAR_WORDS, STATE_BAR_FLAGS, len(st.bars))
    _slots(state, where, (), STATE_DEVICE_FLAGS, len(st.devices))


def _slots(state: dict, where: str, words: tuple[str, ...], flags: tuple[str, ...], count: int) -> None:
    for name in words:
        for i, value in enumerate(sized(state[name], f"{where}.{name}", count)):
            hex64(value, f"{where}.{name}[{i}]")
    for name in flags:
        for i, value in enumerate(sized(state[name], f"{where}.{name}", count)):
            flag(value, f"{where}.{name}[{i}]")


def _vma(witness: dict, where: str, labels: Labels) -> None:
    table = obj(witness["structure"], f"{where}.structure", {"devices", "bar_device"})
    at = f"{where}.structure"
    raw_devices = items(table["devices"], f"{at}.devices", MAX_DEVICES, 1)
    owners = [index(d, f"{at}.bar_device[{b}]", len(raw_devices), "devices")
              for b, d in enumerate(items(table["bar_device"], f"{at}.bar_device", MAX_BARS, 1))]
    for d, device in enumerate(raw_devices):
        dat = f"{at}.devices[{d}]"
        obj(device, dat, {"name", "bus", "bars"})
        text(device["name"], f"{dat}.name")
        hex64(device["bus"], f"{dat}.bus")
        slots = [index(b, f"{dat}.bars[{i}]", len(owners), "BAR slots")
                 for i, b in enumerate(items(device["bars"], f"{dat}.bars", MAX_BARS))]
        owned = [b for b, owner in enumerate(owners) if owner == d]
        if sorted(slots) != owned or len(set(slots)) != len(slots):
            raise fail(f"{dat}.bars", f"lists {', '.join(map(hex, slots)) or 'none'}, but bar_device gives it "
                                      f"{', '.join(map(hex, owned)) or 'none'}")
    state = obj(witness["initial"], f"{where}.initial",
                {"page_shift", *VMA_BAR_WORDS, *VMA_BAR_FLAGS, *VMA_DEVICE_FLAGS})
    shift = hex64(state["page_shift"], f"{where}.initial.page_shift")
    same(f"{where}.initial.page_shift", shift, f"the shift of {labels.path('page_size')}",
         labels.page_bytes.bit_length() - 1)
    _slots(state, f"{where}.initial", VMA_BAR_WORDS, VMA_BAR_FLAGS, len(owners))
    _slots(state, f"{where}.initial", (), VMA_DEVICE_FLAGS, len(raw_devices))
    for i, move in enumerate(items(witness["moves"], f"{where}.moves", MAX_MOVES, 1)):
        mat = f"{where}.moves[{i}]"
        obj(move, mat, {"event", "choice"})
        event = obj(move["event"], f"{mat}.event", {"kind", "target"})
        kind = _enum(VmaEventKind, event["kind"], f"{mat}.event.kind")
        count, what = (len(owners), "BAR slots") if kind.on_bar else (len(raw_devices), "devices")
        index(event["target"], f"{mat}.event.target", count, what)
        choice = obj(move["choice"], f"{mat}.choice", {"offset_pages", "pages"})
        hex64(choice["offset_pages"], f"{mat}.choice.offset_pages")
        hex64(choice["pages"], f"{mat}.choice.pages")


def _round_trip(witness: dict, where: str, labels: Labels) -> None:
    for name in ("index", "size", "offset_pages"):
        hex64(witness[name], f"{where}.{name}")


def _record(witness: dict, where: str, labels: Labels) -> None:
    prop = RECORD_PROPERTIES[labels.property]
    fields = obj(witness["fields"], f"{where}.fields", set(prop.words) | set(prop.flags))
    for name, value in fields.items():
        at = f"{where}.fields.{name}"
        flag(value, at) if name in prop.flags else hex64(value, at)
    options = obj(witness["options"], f"{where}.options", {"no_unsafe_interrupts", "max_bar_bytes"})
    flag(options["no_unsafe_interrupts"], f"{where}.options.no_unsafe_interrupts")
    if options["max_bar_bytes"] is not None:
        at = f"{where}.options.max_bar_bytes"
        power_of_two(hex64(options["max_bar_bytes"], at), at, 16, 1 << 63)


CHECKERS = {"pair": _pair, "trace": _trace, "vma": _vma, "round-trip": _round_trip, "record": _record}


# ----------------------------------------------------------------------------- the result around it


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
                raise fail(f"{at}.{part}.{name}", f"{_value_text(got)} disagrees with the witness, which gives "
                                                  f"{_value_text(want)} ({labels.path('scenario')})")


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
