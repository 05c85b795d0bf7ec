"""Scenario-file [[event]] tables: what each step does, to which device or bridge, and what it expects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from barcheck.scenario.fields import FieldReader, shown
from barcheck.scenario.topology_tables import read_pci_address
from model.events import EventKind
from model.pci import BarKind
from model.topology import DeviceDecl, Topology

EVENT_NAMES = {kind.value: kind for kind in EventKind}


@dataclass(frozen=True, slots=True)
class EventDecl:
    kind: EventKind
    target: str
    """A device address, or a bridge address for rescan."""
    bar: int | None
    expect_mmap: tuple[bool, ...] | None
    expect_start: tuple[int | None, ...] | None
    expect_reserved: tuple[tuple[int, int], ...] | None
    where: str


def read_event(r: FieldReader, t: Any, where: str, topo: Topology) -> EventDecl:
    allowed = {"do", "device", "bridge", "bar", "expect_mmap", "expect_start", "expect_reserved"}
    r.keys(t, where, allowed, {"do"})
    kind = EVENT_NAMES.get(r.text(t["do"], f"{where}.do"))
    if kind is None:
        raise r.fail(f"{where}.do", f"{shown(t['do'])} is not an event ({', '.join(sorted(EVENT_NAMES))})")
    key = "bridge" if kind is EventKind.RESCAN else "device"
    if key not in t:
        raise r.fail(where, f"{kind.value} needs `{key} = \"...\"`")
    target = read_pci_address(r, t[key], f"{where}.{key}")
    role = "window" if key == "bridge" else "device"
    if target not in topo.graph or topo.graph.nodes[target]["role"] != role:
        raise r.fail(f"{where}.{key}", f"{target} is not a declared {key}")
    probing = (EventKind.OPEN, EventKind.REPROBE, EventKind.HOT_ADD, EventKind.RESCAN)
    for field_name in ("expect_mmap", "expect_start"):
        if field_name in t and kind not in probing:
            raise r.fail(f"{where}.{field_name}",
                         f"applies to open, reprobe, hot-add and rescan events, not {kind.value}")
    bar = _event_bar(r, t, where, kind, topo.graph.nodes[target]["decl"])
    return EventDecl(kind, target, bar, _bools(r, t.get("expect_mmap"), f"{where}.expect_mmap"),
                     _starts(r, t.get("expect_start"), f"{where}.expect_start"),
                     _ranges(r, t.get("expect_reserved"), f"{where}.expect_reserved"), where)


def _event_bar(r: FieldReader, t: dict, where: str, kind: EventKind, decl: Any) -> int | None:
    bar = t.get("bar")
    if kind not in (EventKind.MMAP, EventKind.MUNMAP):
        if bar is not None:
            raise r.fail(f"{where}.bar", f"applies to mmap and munmap events, not {kind.value}")
        return None
    device: DeviceDecl = decl
    indices = {b.index: b for b in device.bars}
    if isinstance(bar, bool) or not isinstance(bar, int) or bar not in indices:
        raise r.fail(f"{where}.bar", f"{kind.value} needs the index of one of {device.address}'s BARs "
                                     f"({', '.join(str(i) for i in sorted(indices))}), got {shown(bar)}")
    if indices[bar].kind is BarKind.IO:
        raise r.fail(f"{where}.bar", f"BAR {bar} is an I/O BAR; {kind.value} needs a memory BAR")
    return bar


def _bools(r: FieldReader, value: Any, where: str) -> tuple[bool, ...] | None:
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, bool) for v in values):
        raise r.fail(where, "expected true/false, or a list of them (one per BAR, in BAR order)")
    return tuple(values)


def _starts(r: FieldReader, value: Any, where: str) -> tuple[int | None, ...] | None:
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    return tuple(None if v == "unassigned" else r.exact_address(v, where) for v in values)


def _ranges(r: FieldReader, value: Any, where: str) -> tuple[tuple[int, int], ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise r.fail(where, "expected a list of [first, last] pairs")
    pairs = [r.range(v, f"{where}[{i}]") for i, v in enumerate(value)]
    exact = [(first, last) for first, last in pairs if isinstance(first, int) and isinstance(last, int)]
    if len(exact) != len(pairs):
        raise r.fail(where, "expected addresses, not \"any\"")
    return tuple(sorted(exact))
