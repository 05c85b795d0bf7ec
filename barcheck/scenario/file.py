"""Scenario files (TOML): topology, firmware placement, page sizes, policy and events.

Every error is one line naming the file and the field, e.g.
`x.toml: device[1].bars[0].size: "300" is not a power of two`.  Every number is
bounded before it reaches the model (addresses below 2^64, BAR sizes at most
2^63), and values are quoted shortened, with control characters escaped.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from barcheck.inputs.safe_read import InputFileError, nesting_depth, read_regular_file
from barcheck.inputs.textsafe import escape_control, excerpt
from model.events import EventKind
from model.pci import BarKind, PciAddress, ScenarioError
from model.topology import ANY, FIRMWARES, BarDecl, DeviceDecl, FixedDecl, Topology, Value, WindowDecl
from model.units import SizeError, parse_page_sizes, parse_size
from properties.trace import TRACE_PROPERTIES

TOP_KEYS = {"name", "description", "policy", "page_sizes", "firmware", "host_bridge", "bridge", "device",
            "fixed", "event", "properties", "conform"}
CONFORM_ARCHES = ("x86_64", "ppc64le")
EVENT_NAMES = {kind.value: kind for kind in EventKind}
MAX_NESTING = 16
"""Tables and arrays nest at most 4 deep in a scenario; anything deeper is refused before it is walked."""
MAX_NUMBER_CHARS = 80
"""A 64-bit value is at most 20 decimal digits (with `_` separators and a unit suffix, well under this)."""
MAX_TEXT_CHARS = 256
MAX_NAME_CHARS = 128
"""Scenario names become parts of report file names (see scenario_doc.result_id)."""
MAX_BAR_BYTES = 1 << 63
"""The largest power of two below 2^64."""


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
        return ScenarioError(escape_control(f"{self.path}: {where}: {message}"))

    def keys(self, table: Any, where: str, allowed: set[str], required: set[str]) -> dict:
        if not isinstance(table, dict):
            raise self.fail(where, "expected a table")
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise self.fail(where, f"unknown key {shown(unknown[0])} (allowed: {', '.join(sorted(allowed))})")
        missing = sorted(required - set(table))
        if missing:
            raise self.fail(where, f"missing key {missing[0]!r}")
        return table

    def text(self, value: Any, where: str, max_chars: int = MAX_TEXT_CHARS) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"expected a non-empty string, got {shown(value)}")
        if len(value) > max_chars:
            raise self.fail(where, f"{shown(value)} is longer than {max_chars} characters")
        if escape_control(value) != value:
            raise self.fail(where, f"{shown(value)} contains a control character")
        return value

    def number_text(self, value: Any, where: str) -> str:
        """The text of a numeric value (TOML integer or string), bounded before int() sees it."""
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
            raise self.fail(where, f"{shown(value)} is not a 64-bit value")
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(text, str):
            raise self.fail(where, f"expected a number, got {shown(value)}")
        if len(text) > MAX_NUMBER_CHARS:
            raise self.fail(where, f"{shown(text)} is too long to be a 64-bit value")
        return text

    def address(self, value: Any, where: str, any_ok: bool = True) -> Value:
        if any_ok and value == ANY:
            return ANY
        return self.exact_address(value, where, hint_any=any_ok)

    def exact_address(self, value: Any, where: str, hint_any: bool = False) -> int:
        """A numeric address; with `hint_any`, its error offers "any" as well."""
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise self.fail(where, f"expected an address, got {shown(value)}")
        if isinstance(value, int):
            number = value
        else:
            text = self.number_text(value, where)
            try:
                number = int(text, 0)
            except ValueError:
                hint = ' or "any"' if hint_any else ""
                raise self.fail(where, f'{shown(value)} is not an address (write it like "0xfe800000"{hint})') from None
        if not 0 <= number < 1 << 64:
            raise self.fail(where, f"{shown(value)} is not a 64-bit address (0 to 0xffffffffffffffff)")
        return number

    def size(self, value: Any, where: str) -> Value:
        if value == ANY:
            return ANY
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise self.fail(where, f"expected a size such as \"4K\" or 256, got {shown(value)}")
        try:
            size = parse_size(self.number_text(value, where))
        except SizeError:
            raise self.fail(where, f"{shown(value)} is not a size (expected e.g. \"256\", \"4K\" or "
                                   f"\"0x1000\")") from None
        if size <= 0 or size & (size - 1):
            raise self.fail(where, f"{shown(value)} is not a power of two")
        if size > MAX_BAR_BYTES:
            raise self.fail(where, f"{shown(value)} is 2^64 or more; a BAR is at most 2^63 bytes")
        return size

    def range(self, value: Any, where: str) -> tuple[Value, Value]:
        if not isinstance(value, list) or len(value) != 2:
            raise self.fail(where, "expected [first, last] (inclusive)")
        first, last = self.address(value[0], f"{where}[0]"), self.address(value[1], f"{where}[1]")
        if isinstance(first, int) and isinstance(last, int) and last < first:
            raise self.fail(where, f"last {last:#x} is below first {first:#x}")
        return first, last


def shown(value: Any) -> str:
    """A value as an error message quotes it: shortened, control characters escaped."""
    if isinstance(value, str):
        return excerpt(value)
    if isinstance(value, (dict, list)):
        return "a table" if isinstance(value, dict) else "an array"
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return escape_control(text if len(text) <= 40 else f"{text[:40]}... ({len(text)} characters)")


def load_scenario(path: str | Path) -> ScenarioSpec:
    name = str(path)
    try:
        raw = read_regular_file(name)
    except InputFileError as exc:
        raise ScenarioError(str(exc)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(f"{escape_control(name)}: not UTF-8 text") from None
    return loads_scenario(text, name)


def loads_scenario(text: str, name: str) -> ScenarioSpec:
    """A scenario from TOML text; `name` is the file name errors give."""
    shown_name = escape_control(name)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{shown_name}: TOML syntax: {escape_control(str(exc))}") from None
    except ValueError as exc:
        reason = ("a number has more digits than any 64-bit value" if "digits" in str(exc)
                  else f"TOML: {escape_control(str(exc))}")
        raise ScenarioError(f"{shown_name}: {reason}") from None
    except RecursionError:
        raise ScenarioError(f"{shown_name}: tables or arrays nest more than {MAX_NESTING} deep") from None
    return parse_scenario(data, name)


def parse_scenario(data: dict, name: str) -> ScenarioSpec:
    r = _Reader(name)
    if nesting_depth(data, MAX_NESTING) > MAX_NESTING:
        raise ScenarioError(f"{escape_control(name)}: tables or arrays nest more than {MAX_NESTING} deep")
    r.keys(data, "scenario", TOP_KEYS, {"host_bridge", "device", "event"})
    firmware = data.get("firmware", "linux")
    if not isinstance(firmware, str) or firmware not in FIRMWARES:
        raise r.fail("firmware", f"{shown(firmware)} is not one of {', '.join(FIRMWARES)}")
    pages = _page_sizes(r, data.get("page_sizes", ["4K"]))
    windows = [_host_bridge(r, t, f"host_bridge[{i}]") for i, t in enumerate(_list(r, data, "host_bridge"))]
    windows += [_bridge(r, t, f"bridge[{i}]") for i, t in enumerate(_list(r, data, "bridge"))]
    device_tables = _list(r, data, "device")
    devices = [_device(r, t, f"device[{i}]") for i, t in enumerate(device_tables)]
    fixed = [_fixed(r, t, f"fixed[{i}]") for i, t in enumerate(_list(r, data, "fixed"))]
    try:
        topology = Topology(windows, devices, fixed)
    except ScenarioError as exc:
        raise ScenarioError(escape_control(f"{name}: {exc}")) from None
    events = tuple(_event(r, t, f"event[{i}]", topology) for i, t in enumerate(_list(r, data, "event")))
    return ScenarioSpec(name, _name(r, data, name), _description(r, data),
                        r.text(data.get("policy", "linux-4.8"), "policy"), pages, firmware, topology, events,
                        _properties(r, data), _conform_arch(r, data.get("conform")),
                        {d.address: r.text(t["qemu"], f"device[{i}].qemu")
                         for i, (d, t) in enumerate(zip(devices, device_tables)) if "qemu" in t},
                        {d.address: f"device[{i}]" for i, d in enumerate(devices)})


def _name(r: _Reader, data: dict, path: str) -> str:
    if "name" in data:
        return r.text(data["name"], "name", MAX_NAME_CHARS)
    return escape_control(Path(path).stem)


def _description(r: _Reader, data: dict) -> str:
    value = data.get("description", "")
    if not isinstance(value, str):
        raise r.fail("description", f"expected a string, got {shown(value)}")
    return r.text(value, "description", 4 * MAX_TEXT_CHARS) if value else ""


def _properties(r: _Reader, data: dict) -> tuple[str, ...]:
    props = data.get("properties", [])
    if not isinstance(props, list) or not all(isinstance(p, str) for p in props):
        raise r.fail("properties", "expected a list of property ids")
    for i, prop in enumerate(props):
        if prop not in TRACE_PROPERTIES:
            raise r.fail(f"properties[{i}]", f"unknown trace property {shown(prop)} "
                                             f"(known: {', '.join(sorted(TRACE_PROPERTIES))})")
    return tuple(props)


def _conform_arch(r: _Reader, table: Any) -> str | None:
    if table is None:
        return None
    r.keys(table, "conform", {"arch"}, {"arch"})
    arch = table["arch"]
    if not isinstance(arch, str) or arch not in CONFORM_ARCHES:
        raise r.fail("conform.arch", f"{shown(arch)} is not one of {', '.join(CONFORM_ARCHES)}")
    return arch


def _page_sizes(r: _Reader, value: Any) -> tuple[int, ...]:
    items = value if isinstance(value, list) else [value]
    texts = []
    for i, item in enumerate(items):
        where = f"page_sizes[{i}]" if isinstance(value, list) else "page_sizes"
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise r.fail(where, f"expected a page size such as \"4K\", got {shown(item)}")
        texts.append(r.number_text(item, where))
    try:
        return tuple(page.size_bytes for page in parse_page_sizes(",".join(texts)))
    except (SizeError, ValueError) as exc:
        raise r.fail("page_sizes", str(exc)) from None


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
    if not isinstance(kind, str) or kind not in ("pci-bridge", "root-port"):
        raise r.fail(f"{where}.kind", f"{shown(kind)} is not pci-bridge or root-port")
    first, last = r.range(t["window"], f"{where}.window")
    mib = 1 << 20
    for value, label in ((first, "first"), (last + 1 if isinstance(last, int) else ANY, "last + 1")):
        if isinstance(value, int) and value % mib:
            raise r.fail(f"{where}.window", f"a bridge memory window is 1 MiB granular; {label} is {value:#x}")
    return WindowDecl(_pci(r, t["address"], f"{where}.address"), r.text(t["parent"], f"{where}.parent"),
                      first, last, True, kind)


def _pci(r: _Reader, value: Any, where: str) -> str:
    try:
        return str(PciAddress.parse(r.text(value, where, 32)))
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
        raise r.fail(f"{where}.index", f"{shown(index)} is not a BAR index 0..5")
    try:
        kind = BarKind.parse(r.text(t.get("kind", "mem32"), f"{where}.kind", 16))
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
        raise r.fail(f"{where}.do", f"{shown(t['do'])} is not an event ({', '.join(sorted(EVENT_NAMES))})")
    key = "bridge" if kind is EventKind.RESCAN else "device"
    if key not in t:
        raise r.fail(where, f"{kind.value} needs `{key} = \"...\"`")
    target = _pci(r, t[key], f"{where}.{key}")
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


def _event_bar(r: _Reader, t: dict, where: str, kind: EventKind, decl: Any) -> int | None:
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
    return tuple(None if v == "unassigned" else r.exact_address(v, where) for v in values)


def _ranges(r: _Reader, value: Any, where: str) -> tuple[tuple[int, int], ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise r.fail(where, "expected a list of [first, last] pairs")
    pairs = [r.range(v, f"{where}[{i}]") for i, v in enumerate(value)]
    exact = [(first, last) for first, last in pairs if isinstance(first, int) and isinstance(last, int)]
    if len(exact) != len(pairs):
        raise r.fail(where, "expected addresses, not \"any\"")
    return tuple(sorted(exact))
