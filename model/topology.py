"""A PCI topology as a networkx graph, and the boot placement of its BARs.

Nodes are host bridges (with a memory window), PCI-to-PCI bridges and root
ports (with a memory window, 1 MiB aligned and granular), and devices with
their BARs.  Edges go from a bus's upstream window to what sits on the bus.

Boot placement (concrete, through the kernel-faithful tree in model/iomem.py):
- a BAR with a start given is claimed there (pci_claim_resource() ->
  request_resource_conflict() under the window it sits in);
- a BAR without a start is placed by the firmware the scenario names:
  - `linux`: the kernel assigns it (pdev_sort_resources() order: decreasing
    alignment, ties in device and BAR order; allocate_resource() first fit at
    natural alignment), so small BARs of different devices pack into one page;
  - `seabios`: SeaBIOS src/fw/pciinit.c pads every memory BAR below
    PCI_DEVICE_MEM_MIN (4 KiB) to a 4 KiB slot; Linux then claims the BAR at
    its real size, so the rest of that page is free in the kernel's tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

import networkx as nx

from model import iomem
from model.pci import BarKind, ScenarioError
from model.system import BarSpec, DeviceSpec, FixedSpec, Structure, WindowSpec
from model.units import KIB

ANY = "any"
Value = Union[int, str]
"""An int, or ANY for a value the checker searches over."""

FIRMWARES = ("linux", "seabios", "as-given")
SEABIOS_MEM_MIN_BYTES = 4 * KIB


@dataclass(frozen=True, slots=True)
class BarDecl:
    index: int
    size_bytes: Value
    start: Value | None
    """None: the firmware places it."""
    kind: BarKind = BarKind.MEM32
    prefetchable: bool = False


@dataclass(frozen=True, slots=True)
class WindowDecl:
    name: str
    """The host bridge's name or the bridge's PCI address."""
    parent: str | None
    first: Value
    last: Value
    bridge: bool
    kind: str = "host-bridge"


@dataclass(frozen=True, slots=True)
class DeviceDecl:
    address: str
    parent: str
    bars: tuple[BarDecl, ...]
    present: bool = True


@dataclass(frozen=True, slots=True)
class FixedDecl:
    name: str
    parent: str
    first: Value
    last: Value


@dataclass
class Topology:
    windows: list[WindowDecl]
    devices: list[DeviceDecl]
    fixed: list[FixedDecl] = field(default_factory=list)
    graph: nx.DiGraph = field(default_factory=nx.DiGraph)

    def __post_init__(self) -> None:
        self.graph = _build_graph(self)

    def window_order(self) -> list[str]:
        """Windows parents first, siblings by name: the order of the structure's window slots."""
        roots = sorted(w.name for w in self.windows if w.parent is None)
        order: list[str] = []
        for root in roots:
            order += [n for n in nx.dfs_preorder_nodes(self.graph, root, sort_neighbors=sorted)
                      if self.graph.nodes[n]["role"] == "window"]
        return order

    def device_order(self) -> list[str]:
        return sorted(d.address for d in self.devices)


def _build_graph(topo: Topology) -> nx.DiGraph:
    graph = nx.DiGraph()
    for w in topo.windows:
        if w.name in graph:
            raise ScenarioError(f"window {w.name!r} is declared twice")
        graph.add_node(w.name, role="window", decl=w)
    for d in topo.devices:
        if d.address in graph:
            raise ScenarioError(f"device {d.address!r} is declared twice")
        graph.add_node(d.address, role="device", decl=d)
    for f in topo.fixed:
        graph.add_node(f"fixed:{f.name}", role="fixed", decl=f)
    for name, parent in _edges(topo):
        if parent not in graph or graph.nodes[parent]["role"] != "window":
            raise ScenarioError(f"{name}: parent {parent!r} is not a declared host bridge or bridge")
        graph.add_edge(parent, name)
    if not nx.is_directed_acyclic_graph(graph):
        raise ScenarioError("bridges form a cycle")
    return graph


def _edges(topo: Topology) -> list[tuple[str, str]]:
    edges = [(w.name, w.parent) for w in topo.windows if w.parent is not None]
    edges += [(d.address, d.parent) for d in topo.devices]
    edges += [(f"fixed:{f.name}", f.parent) for f in topo.fixed]
    return edges


@dataclass(frozen=True, slots=True)
class Layout:
    """A topology flattened into structure slots, with the boot values (ints or ANY)."""

    structure: Structure
    windows: tuple[tuple[Value, Value], ...]
    fixed: tuple[tuple[Value, Value], ...]
    sizes: tuple[Value, ...]
    starts: tuple[Value | None, ...]
    """None: unassigned at boot (the device is absent, or firmware found no room)."""
    present: tuple[bool, ...]
    device_index: dict[str, int]
    bar_index: dict[tuple[str, int], int]
    window_index: dict[str, int]


def flatten(topo: Topology) -> tuple[Structure, dict[str, int], dict[str, int], dict[tuple[str, int], int]]:
    window_names = topo.window_order()
    window_index = {name: i for i, name in enumerate(window_names)}
    decls = {w.name: w for w in topo.windows}
    windows = tuple(WindowSpec(n, window_index.get(decls[n].parent) if decls[n].parent else None, decls[n].bridge)
                    for n in window_names)
    devices, bars, device_index, bar_index = [], [], {}, {}
    by_address = {d.address: d for d in topo.devices}
    for address in topo.device_order():
        decl = by_address[address]
        d = len(devices)
        device_index[address] = d
        ordered = sorted((bar for bar in decl.bars if bar.kind is not BarKind.IO), key=_allocation_key)
        slots = []
        for bar in ordered:
            bar_index[(address, bar.index)] = len(bars)
            slots.append(len(bars))
            bars.append(BarSpec(d, bar.index, bar.kind, bar.prefetchable))
        devices.append(DeviceSpec(address, window_index[decl.parent], tuple(slots)))
    fixed = tuple(FixedSpec(f.name, window_index[f.parent]) for f in topo.fixed)
    return Structure(windows, tuple(devices), tuple(bars), fixed), window_index, device_index, bar_index


def _allocation_key(bar: BarDecl) -> tuple:
    size = bar.size_bytes if isinstance(bar.size_bytes, int) else 0
    return (-size, bar.index)


def boot_layout(topo: Topology, firmware: str) -> Layout:
    if firmware not in FIRMWARES:
        raise ScenarioError(f"firmware {firmware!r} is not one of {', '.join(FIRMWARES)}")
    st, window_index, device_index, bar_index = flatten(topo)
    starts: dict[tuple[str, int], Value | None] = {}
    for window in topo.window_order():
        starts.update(_place_window(topo, window, firmware))
    by_address = {d.address: d for d in topo.devices}
    ordered_bars = [(st.devices[spec.device].name, spec.index) for spec in st.bars]
    sizes = tuple(_bar_decl(by_address, key).size_bytes for key in ordered_bars)
    decls = {w.name: w for w in topo.windows}
    return Layout(
        structure=st,
        windows=tuple((decls[s.name].first, decls[s.name].last) for s in st.windows),
        fixed=tuple((f.first, f.last) for f in topo.fixed),
        sizes=sizes,
        starts=tuple(starts.get(key) for key in ordered_bars),
        present=tuple(by_address[d.name].present for d in st.devices),
        device_index=device_index, bar_index=bar_index, window_index=window_index,
    )


def _bar_decl(by_address: dict[str, DeviceDecl], key: tuple[str, int]) -> BarDecl:
    return next(bar for bar in by_address[key[0]].bars if bar.index == key[1])


def _place_window(topo: Topology, window: str, firmware: str) -> dict[tuple[str, int], Value | None]:
    """Claim the given BARs of present devices, then let the firmware place the rest."""
    decl = next(w for w in topo.windows if w.name == window)
    members = [d for d in topo.devices if d.parent == window and d.present]
    bars = [(d.address, bar) for d in members for bar in d.bars if bar.kind is not BarKind.IO]
    placed: dict[tuple[str, int], Value | None] = {(a, bar.index): bar.start for a, bar in bars}
    unplaced = [(a, bar) for a, bar in bars if bar.start is None]
    if not unplaced:
        if not _has_open_values(topo, decl, bars):
            _concrete_window(topo, decl, bars)
        return placed
    if firmware == "as-given":
        a, bar = unplaced[0]
        raise ScenarioError(f"device {a} BAR{bar.index}: start is required with firmware = \"as-given\"")
    concrete = _concrete_window(topo, decl, bars)
    for address, bar in sorted(unplaced, key=lambda item: _firmware_key(item, firmware)):
        placed[(address, bar.index)] = _allocate(concrete, address, bar, firmware)
    return placed


def _firmware_key(item: tuple[str, BarDecl], firmware: str) -> tuple:
    address, bar = item
    size = bar.size_bytes
    if firmware == "seabios":
        size = max(size, SEABIOS_MEM_MIN_BYTES)
    return (-size, address, bar.index)


def _has_open_values(topo: Topology, decl: WindowDecl, bars: list[tuple[str, BarDecl]]) -> bool:
    values = [decl.first, decl.last] + [bar.size_bytes for _, bar in bars] + [bar.start for _, bar in bars]
    values += [v for w in topo.windows if w.parent == decl.name for v in (w.first, w.last)]
    values += [v for f in topo.fixed if f.parent == decl.name for v in (f.first, f.last)]
    return ANY in values


def _concrete_window(topo: Topology, decl: WindowDecl, bars: list[tuple[str, BarDecl]]) -> iomem.Resource:
    """The window's subtree as the firmware sees it, checked like pci_claim_resource() would."""
    if _has_open_values(topo, decl, bars):
        raise ScenarioError(f"window {decl.name}: a BAR without a start needs every other value in its window "
                            f"concrete (no \"any\")")
    root = iomem.Resource(decl.name, decl.first, decl.last)
    children = [(f"{a} BAR{bar.index}", bar.start, bar.start + bar.size_bytes - 1) for a, bar in bars
                if bar.start is not None]
    children += [(w.name, w.first, w.last) for w in topo.windows if w.parent == decl.name]
    children += [(f.name, f.first, f.last) for f in topo.fixed if f.parent == decl.name]
    for name, first, last in children:
        if iomem.request_resource(root, iomem.Resource(name, first, last)) is not None:
            raise ScenarioError(f"{name} [{first:#x}-{last:#x}] does not fit in window {decl.name} "
                                f"or overlaps another resource there")
    return root


def _allocate(root: iomem.Resource, address: str, bar: BarDecl, firmware: str) -> int | None:
    slot_bytes = bar.size_bytes
    if firmware == "seabios":
        slot_bytes = max(slot_bytes, SEABIOS_MEM_MIN_BYTES)
    top = (1 << 32) - 1 if bar.kind is not BarKind.MEM64 else iomem.U64_MASK
    slot = iomem.Resource(f"{address} BAR{bar.index}", 0, slot_bytes - 1)
    if not iomem.allocate_resource(root, slot, slot_bytes, root.start, min(root.end, top), slot_bytes):
        return None
    return slot.start
