"""Scenario-file topology tables: host bridges, bridges, devices with their BARs, and fixed ranges."""

from __future__ import annotations

from typing import Any

from barcheck.scenario.fields import FieldReader, shown
from model.pci import BarKind, PciAddress, ScenarioError
from model.topology import ANY, BarDecl, DeviceDecl, FixedDecl, WindowDecl


def read_host_bridge(r: FieldReader, t: Any, where: str) -> WindowDecl:
    r.keys(t, where, {"name", "window"}, {"name", "window"})
    first, last = r.range(t["window"], f"{where}.window")
    return WindowDecl(r.text(t["name"], f"{where}.name"), None, first, last, False, "host-bridge")


def read_bridge(r: FieldReader, t: Any, where: str) -> WindowDecl:
    r.keys(t, where, {"address", "parent", "window", "kind"}, {"address", "parent", "window"})
    kind = t.get("kind", "pci-bridge")
    if not isinstance(kind, str) or kind not in ("pci-bridge", "root-port"):
        raise r.fail(f"{where}.kind", f"{shown(kind)} is not pci-bridge or root-port")
    first, last = r.range(t["window"], f"{where}.window")
    mib = 1 << 20
    for value, label in ((first, "first"), (last + 1 if isinstance(last, int) else ANY, "last + 1")):
        if isinstance(value, int) and value % mib:
            raise r.fail(f"{where}.window", f"a bridge memory window is 1 MiB granular; {label} is {value:#x}")
    return WindowDecl(read_pci_address(r, t["address"], f"{where}.address"), r.text(t["parent"], f"{where}.parent"),
                      first, last, True, kind)


def read_pci_address(r: FieldReader, value: Any, where: str) -> str:
    try:
        return str(PciAddress.parse(r.text(value, where, 32)))
    except ScenarioError as exc:
        raise r.fail(where, str(exc)) from None


def read_device(r: FieldReader, t: Any, where: str) -> DeviceDecl:
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
    return DeviceDecl(read_pci_address(r, t["address"], f"{where}.address"), r.text(t["parent"], f"{where}.parent"),
                      decls, present)


def _bar(r: FieldReader, t: Any, where: str) -> BarDecl:
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


def read_fixed(r: FieldReader, t: Any, where: str) -> FixedDecl:
    r.keys(t, where, {"name", "parent", "range"}, {"name", "parent", "range"})
    first, last = r.range(t["range"], f"{where}.range")
    return FixedDecl(r.text(t["name"], f"{where}.name"), r.text(t["parent"], f"{where}.parent"), first, last)
