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
from barcheck.inputs.textsafe import escape_control
from barcheck.scenario.event_tables import EventDecl, read_event
from barcheck.scenario.fields import MAX_BAR_BYTES, MAX_NAME_CHARS, MAX_TEXT_CHARS, FieldReader, shown
from barcheck.scenario.topology_tables import read_bridge, read_device, read_fixed, read_host_bridge
from model.pci import ScenarioError
from model.topology import FIRMWARES, Topology
from model.units import SizeError, parse_page_sizes
from properties.trace import TRACE_PROPERTIES

__all__ = ["MAX_BAR_BYTES", "TOP_KEYS", "EventDecl", "ScenarioSpec", "load_scenario", "loads_scenario",
           "parse_scenario"]

TOP_KEYS = {"name", "description", "policy", "page_sizes", "firmware", "host_bridge", "bridge", "device",
            "fixed", "event", "properties", "conform"}
CONFORM_ARCHES = ("x86_64", "ppc64le")
MAX_NESTING = 16
"""Tables and arrays nest at most 4 deep in a scenario; anything deeper is refused before it is walked."""


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
    r = FieldReader(name)
    if nesting_depth(data, MAX_NESTING) > MAX_NESTING:
        raise ScenarioError(f"{escape_control(name)}: tables or arrays nest more than {MAX_NESTING} deep")
    r.keys(data, "scenario", TOP_KEYS, {"host_bridge", "device", "event"})
    firmware = data.get("firmware", "linux")
    if not isinstance(firmware, str) or firmware not in FIRMWARES:
        raise r.fail("firmware", f"{shown(firmware)} is not one of {', '.join(FIRMWARES)}")
    pages = _page_sizes(r, data.get("page_sizes", ["4K"]))
    windows = [read_host_bridge(r, t, f"host_bridge[{i}]") for i, t in enumerate(_list(r, data, "host_bridge"))]
    windows += [read_bridge(r, t, f"bridge[{i}]") for i, t in enumerate(_list(r, data, "bridge"))]
    device_tables = _list(r, data, "device")
    devices = [read_device(r, t, f"device[{i}]") for i, t in enumerate(device_tables)]
    fixed = [read_fixed(r, t, f"fixed[{i}]") for i, t in enumerate(_list(r, data, "fixed"))]
    try:
        topology = Topology(windows, devices, fixed)
    except ScenarioError as exc:
        raise ScenarioError(escape_control(f"{name}: {exc}")) from None
    events = tuple(read_event(r, t, f"event[{i}]", topology) for i, t in enumerate(_list(r, data, "event")))
    return ScenarioSpec(name, _name(r, data, name), _description(r, data),
                        r.text(data.get("policy", "linux-4.8"), "policy"), pages, firmware, topology, events,
                        _properties(r, data), _conform_arch(r, data.get("conform")),
                        {d.address: r.text(t["qemu"], f"device[{i}].qemu")
                         for i, (d, t) in enumerate(zip(devices, device_tables)) if "qemu" in t},
                        {d.address: f"device[{i}]" for i, d in enumerate(devices)})


def _name(r: FieldReader, data: dict, path: str) -> str:
    if "name" in data:
        return r.text(data["name"], "name", MAX_NAME_CHARS)
    return escape_control(Path(path).stem)


def _description(r: FieldReader, data: dict) -> str:
    value = data.get("description", "")
    if not isinstance(value, str):
        raise r.fail("description", f"expected a string, got {shown(value)}")
    return r.text(value, "description", 4 * MAX_TEXT_CHARS) if value else ""


def _properties(r: FieldReader, data: dict) -> tuple[str, ...]:
    props = data.get("properties", [])
    if not isinstance(props, list) or not all(isinstance(p, str) for p in props):
        raise r.fail("properties", "expected a list of property ids")
    for i, prop in enumerate(props):
        if prop not in TRACE_PROPERTIES:
            raise r.fail(f"properties[{i}]", f"unknown trace property {shown(prop)} "
                                             f"(known: {', '.join(sorted(TRACE_PROPERTIES))})")
    return tuple(props)


def _conform_arch(r: FieldReader, table: Any) -> str | None:
    if table is None:
        return None
    r.keys(table, "conform", {"arch"}, {"arch"})
    arch = table["arch"]
    if not isinstance(arch, str) or arch not in CONFORM_ARCHES:
        raise r.fail("conform.arch", f"{shown(arch)} is not one of {', '.join(CONFORM_ARCHES)}")
    return arch


def _page_sizes(r: FieldReader, value: Any) -> tuple[int, ...]:
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


def _list(r: FieldReader, data: dict, key: str) -> list:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise r.fail(key, f"expected an array of tables ([[{key}]])")
    return value
