"""The `barcheck.witness/1` object: its labels, and every engine's keys, types, bounds and indices."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from barcheck.saved.strict_json import (fail, flag, hex64, index, items, json_int, obj, power_of_two, same, shown,
                                        sized, text)
from model.events import EventKind, targets
from model.pci import BarKind
from model.scenario import DOMAIN_LIMITS, FIELDS as PAIR_FIELDS, FLAG_FIELDS
from model.system import Structure, WindowSpec, DeviceSpec, BarSpec, FixedSpec
from model.units import MAX_PAGE_BYTES, MIN_PAGE_BYTES
from model.vma import VmaEventKind
from properties import REGISTRY
from properties.record import RECORD_PROPERTIES
from properties.revoke import VMA_PROPERTIES
from properties.trace import TRACE_PROPERTIES

WITNESS_SCHEMA = "barcheck.witness/1"
WIDTH_BITS = 64
MAX_LABEL_CHARS = 200
MAX_WINDOWS, MAX_DEVICES, MAX_BARS, MAX_FIXED, MAX_MOVES = 16, 16, 32, 16, 64
MAX_PINS, MAX_PIN_VALUES = 16, 64

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
