"""Scenario files (TOML): topology, firmware placement, page sizes, policy and events.

Every error is one line naming the file and the field, e.g.
`x.toml: device[1].bars[0].size: "300" is not a power of two`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.events import EventKind
from model.pci import BarKind, PciAddress, ScenarioError
from model.topology import ANY, FIRMWARES, BarDecl, DeviceDecl, FixedDecl, Topology, Value, WindowDecl
from model.units import SizeError, parse_page_sizes, parse_size

TOP_KEYS = {"name", "description", "policy", "page_sizes", "firmware", "host_bridge", "bridge", "device",
            "fixed", "event", "properties", "conform"}
CONFORM_ARCHES = ("x86_64", "ppc64le")
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


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    path: str
    name: str
    description: str
    policy: str
    page_sizes: tuple[int, ...]
    firmware: str
    topology: Topology
    events: tuple[EventDecl, ...]
    properties: tuple[str, ...]
    conform_arch: str | None = None
    """The `[conform]` table's arch: the machine `barcheck conform` boots."""
    qemu_models: dict[str, str] = field(default_factory=dict)
    """Device address -> the QEMU device model that `barcheck conform` creates for it."""
    device_where: dict[str, str] = field(default_factory=dict)
    """Device address -> its field path in the file (e.g. "device[2]"), for error messages."""


class _Reader:
    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, where: str, message: str) -> ScenarioError:
        return ScenarioError(f"{self.path}: {where}: {message}")

    def keys(self, table: Any, where: str, allowed: set[str], required: set[str]) -> dict:
        if not isinstance(table, dict):
            raise self.fail(where, "expected a table")
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise self.fail(where, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
        missing = sorted(required - set(table))
        if missing:
            raise self.fail(where, f"missing key {missing[0]!r}")
        return table

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"expected a non-empty string, got {value!r}")
        return value

    def address(self, value: Any, where: str, any_ok: bool = True) -> Value:
        if any_ok and value == ANY:
            return ANY
        if isinstance(value, bool):
            raise self.fail(where, f"expected an address, got {value!r}")
        if isinstance(value, int):
            number = value
        elif isinstance(value, str):
            try:
                number = int(value, 0)
            except ValueError:
                hint = ' or "any"' if any_ok else ""
                raise self.fail(where, f'{value!r} is not an address (write it like "0xfe800000"{hint})') from None
        else:
            raise self.fail(where, f"expected an address, got {value!r}")
        if not 0 <= number < 1 << 64:
            raise self.fail(where, f"{value!r} is not a 64-bit address")
        return number

    def size(self, value: Any, where: str) -> Value:
        if value == ANY:
            return ANY
        try:
            size = parse_size(str(value)) if not isinstance(value, bool) else None
        except SizeError as exc:
            raise self.fail(where, str(exc)) from None
        if size is None or size <= 0 or size & (size - 1):
            raise self.fail(where, f"{value!r} is not a power of two")
        return size

    def range(self, value: Any, where: str) -> tuple[Value, Value]:
        if not isinstance(value, list) or len(value) != 2:
            raise self.fail(where, "expected [first, last] (inclusive)")
        first, last = self.address(value[0], f"{where}[0]"), self.address(value[1], f"{where}[1]")
        if isinstance(first, int) and isinstance(last, int) and last < first:
            raise self.fail(where, f"last {last:#x} is below first {first:#x}")
        return first, last


def load_scenario(path: str | Path) -> ScenarioSpec:
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{name}: cannot read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ScenarioError(f"{name}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{name}: TOML syntax: {exc}") from None
    return parse_scenario(data, name)


def parse_scenario(data: dict, name: str) -> ScenarioSpec:
    r = _Reader(name)
    r.keys(data, "scenario", TOP_KEYS, {"host_bridge", "device", "event"})
    firmware = data.get("firmware", "linux")
    if firmware not in FIRMWARES:
        raise r.fail("firmware", f"{firmware!r} is not one of {', '.join(FIRMWARES)}")
    try:
        pages = tuple(page.size_bytes for page in parse_page_sizes(_page_text(data.get("page_sizes", ["4K"]))))
    except (SizeError, ValueError) as exc:
        raise r.fail("page_sizes", str(exc)) from None
    windows = [_host_bridge(r, t, f"host_bridge[{i}]") for i, t in enumerate(_list(r, data, "host_bridge"))]
    windows += [_bridge(r, t, f"bridge[{i}]") for i, t in enumerate(_list(r, data, "bridge"))]
    device_tables = _list(r, data, "device")
    devices = [_device(r, t, f"device[{i}]") for i, t in enumerate(device_tables)]
    fixed = [_fixed(r, t, f"fixed[{i}]") for i, t in enumerate(_list(r, data, "fixed"))]
    try:
        topology = Topology(windows, devices, fixed)
    except ScenarioError as exc:
        raise ScenarioError(f"{name}: {exc}") from None
    events = tuple(_event(r, t, f"event[{i}]", topology) for i, t in enumerate(_list(r, data, "event")))
    props = data.get("properties", [])
    if not isinstance(props, list) or not all(isinstance(p, str) for p in props):
        raise r.fail("properties", "expected a list of property ids")
    return ScenarioSpec(name, str(data.get("name", Path(name).stem)), str(data.get("description", "")),
                        r.text(data.get("policy", "linux-4.8"), "policy"), pages, firmware, topology, events,
                        tuple(props), _conform_arch(r, data.get("conform")),
                        {d.address: r.text(t["qemu"], f"device[{i}].qemu")
                         for i, (d, t) in enumerate(zip(devices, device_tables)) if "qemu" in t},
                        {d.address: f"device[{i}]" for i, d in enumerate(devices)})


def _conform_arch(r: _Reader, table: Any) -> str | None:
    if table is None:
        return None
    r.keys(table, "conform", {"arch"}, {"arch"})
    arch = table["arch"]
    if arch not in CONFORM_ARCHES:
        raise r.fail("conform.arch", f"{arch!r} is not one of {', '.join(CONFORM_ARCHES)}")
    return arch


def _page_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def _list(r: _Reader, data: dict, key: str) -> list:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise r.fail(key, f"expected an array of tables ([[{key}]])")
    return value


def _host_bridge(r: _Reader, t: Any, where: str) -> WindowDecl:
    r.keys(t, where, {"name", "window"}, {"name", "window"})
    first, last = r.range(t["window"], f"{where}.window")
    return WindowDecl(r.text(t["name"], f"{where}.name"), None, first, last, False, "host-bridge")


def _bridge(r: _Reader, t: Any, where: str) -> WindowDecl:
    r.keys(t, where, {"address", "parent", "window", "kind"}, {"address", "parent", "window"})
    kind = t.get("kind", "pci-bridge")
    if kind not in ("pci-bridge", "root-port"):
        raise r.fail(f"{where}.kind", f"{kind!r} is not pci-bridge or root-port")
    first, last = r.range(t["window"], f"{where}.window")
    mib = 1 << 20
    for value, label in ((first, "first"), (last + 1 if isinstance(last, int) else ANY, "last + 1")):
        if isinstance(value, int) and value % mib:
            raise r.fail(f"{where}.window", f"a bridge memory window is 1 MiB granular; {label} is {value:#x}")
    return WindowDecl(_pci(r, t["address"], f"{where}.address"), r.text(t["parent"], f"{where}.parent"),
                      first, last, True, kind)


def _pci(r: _Reader, value: Any, where: str) -> str:
    try:
        return str(PciAddress.parse(r.text(value, where)))
    except ScenarioError as exc:
        raise r.fail(where, str(exc)) from None


def _device(r: _Reader, t: Any, where: str) -> DeviceDecl:
    r.keys(t, where, {"address", "parent", "bars", "present", "name", "qemu"}, {"address", "parent", "bars"})
    present = t.get("present", True)
    if not isinstance(present, bool):
        raise r.fail(f"{where}.present", "expected true or false")
    bars = t["bars"]
    if not isinstance(bars, list) or not bars:
        raise r.fail(f"{where}.bars", "expected a non-empty array of BAR tables")
    decls = tuple(_bar(r, b, f"{where}.bars[{i}]") for i, b in enumerate(bars))
    indices = [bar.index for bar in decls]
    if len(set(indices)) != len(indices):
        raise r.fail(f"{where}.bars", "a BAR index appears twice")
    return DeviceDecl(_pci(r, t["address"], f"{where}.address"), r.text(t["parent"], f"{where}.parent"),
                      decls, present)


def _bar(r: _Reader, t: Any, where: str) -> BarDecl:
    r.keys(t, where, {"index", "size", "start", "kind", "prefetchable"}, {"index", "size"})
    index = t["index"]
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= 5:
        raise r.fail(f"{where}.index", f"{index!r} is not a BAR index 0..5")
    try:
        kind = BarKind.parse(str(t.get("kind", "mem32")))
    except ScenarioError as exc:
        raise r.fail(f"{where}.kind", str(exc)) from None
    if kind in (BarKind.ROM,):
        raise r.fail(f"{where}.kind", "the expansion ROM is never mmappable through vfio; leave it out")
    size = r.size(t["size"], f"{where}.size")
    start = r.address(t["start"], f"{where}.start") if "start" in t else None
    if isinstance(size, int) and isinstance(start, int):
        if start % size:
            raise r.fail(f"{where}.start", f"{start:#x} is not a multiple of the BAR size {size:#x}")
        if kind is not BarKind.MEM64 and start + size > 1 << 32:
            raise r.fail(f"{where}.start", "a 32-bit BAR must lie below 4 GiB")
    if isinstance(size, int) and kind is not BarKind.IO and size < 16:
        raise r.fail(f"{where}.size", "a memory BAR is at least 16 bytes")
    prefetchable = t.get("prefetchable", False)
    if not isinstance(prefetchable, bool):
        raise r.fail(f"{where}.prefetchable", "expected true or false")
    return BarDecl(index, size, start, kind, prefetchable)


def _fixed(r: _Reader, t: Any, where: str) -> FixedDecl:
    r.keys(t, where, {"name", "parent", "range"}, {"name", "parent", "range"})
    first, last = r.range(t["range"], f"{where}.range")
    return FixedDecl(r.text(t["name"], f"{where}.name"), r.text(t["parent"], f"{where}.parent"), first, last)


def _event(r: _Reader, t: Any, where: str, topo: Topology) -> EventDecl:
    allowed = {"do", "device", "bridge", "bar", "expect_mmap", "expect_start", "expect_reserved"}
    r.keys(t, where, allowed, {"do"})
    kind = EVENT_NAMES.get(r.text(t["do"], f"{where}.do"))
    if kind is None:
        raise r.fail(f"{where}.do", f"{t['do']!r} is not an event ({', '.join(sorted(EVENT_NAMES))})")
    key = "bridge" if kind is EventKind.RESCAN else "device"
    if key not in t:
        raise r.fail(where, f"{kind.value} needs `{key} = \"...\"`")
    target = _pci(r, t[key], f"{where}.{key}")
    role = "window" if key == "bridge" else "device"
    if target not in topo.graph or topo.graph.nodes[target]["role"] != role:
        raise r.fail(f"{where}.{key}", f"{target} is not a declared {key}")
    probing = (EventKind.OPEN, EventKind.REPROBE, EventKind.HOT_ADD, EventKind.RESCAN)
    for key in ("expect_mmap", "expect_start"):
        if key in t and kind not in probing:
            raise r.fail(f"{where}.{key}", f"applies to open, reprobe, hot-add and rescan events, not {kind.value}")
    bar = t.get("bar")
    if kind in (EventKind.MMAP, EventKind.MUNMAP):
        device = topo.graph.nodes[target]["decl"]
        if bar is None or bar not in [b.index for b in device.bars]:
            raise r.fail(f"{where}.bar", f"{kind.value} needs the index of one of {target}'s BARs")
    return EventDecl(kind, target, bar, _bools(r, t.get("expect_mmap"), f"{where}.expect_mmap"),
                     _starts(r, t.get("expect_start"), f"{where}.expect_start"),
                     _ranges(r, t.get("expect_reserved"), f"{where}.expect_reserved"), where)


def _bools(r: _Reader, value: Any, where: str) -> tuple[bool, ...] | None:
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, bool) for v in values):
        raise r.fail(where, "expected true/false, or a list of them (one per BAR, in BAR order)")
    return tuple(values)


def _starts(r: _Reader, value: Any, where: str) -> tuple[int | None, ...] | None:
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    return tuple(None if v == "unassigned" else r.address(v, where, any_ok=False) for v in values)


def _ranges(r: _Reader, value: Any, where: str) -> tuple[tuple[int, int], ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise r.fail(where, "expected a list of [first, last] pairs")
    pairs = [r.range(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if any(not isinstance(x, int) for pair in pairs for x in pair):
        raise r.fail(where, "expected addresses, not \"any\"")
    return tuple(sorted(pairs))
