"""The boot layout the guest kernel produced, as a model topology.

Every window, BAR start and size comes from the guest (sysfs `resource`
files and /proc/iomem), never from the scenario.  Whatever else the kernel
placed in those windows (the machine's built-in devices, bridges' own BARs,
prefetchable windows) becomes a fixed resource, so placement and the dummy
reservations see the same neighbours as the kernel did.

What the scenario declared concretely (BAR starts, bridge windows) is
compared with what the guest shows; a difference is a scenario mismatch, not
a model defect.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from barcheck.conform.devices import QEMU_DEVICES
from barcheck.conform.observe import IORESOURCE_MEM_64, IORESOURCE_PREFETCH, Node, Observation, \
    ObservationError, iomem_children
from barcheck.scenario.file import ScenarioSpec
from model.pci import BarKind
from model.topology import ANY, BarDecl, DeviceDecl, FixedDecl, Topology, Value, WindowDecl

FOUR_GIB = 1 << 32


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A scenario-declared value that the guest does not show."""

    what: str
    declared: str
    kernel: str


@dataclass
class Observed:
    topology: Topology
    mismatches: list[Mismatch] = field(default_factory=list)
    guest_addresses: dict[str, str] = field(default_factory=dict)
    """Scenario address -> the guest's address, where they differ."""


def observed_topology(spec: ScenarioSpec, obs: Observation) -> Observed:
    out = Observed(Topology([], []))
    bridges = [w for w in spec.topology.windows if w.parent is not None]
    root = next(w for w in spec.topology.windows if w.parent is None)
    windows = {w.name: _bridge_window(w, obs, out) for w in bridges}
    devices = [_device(spec, d, obs, out) for d in spec.topology.devices]
    windows[root.name] = _root_window(root, obs, windows, devices, spec)
    _compare_window(out, f"window of host bridge {root.name}", root, windows[root.name])
    decls = [WindowDecl(root.name, None, *windows[root.name], False, root.kind)]
    decls += [WindowDecl(w.name, w.parent, *windows[w.name], True, w.kind) for w in bridges]
    fixed = [f for w in decls for f in _fixed_in(w, decls, devices, obs)]
    out.topology = Topology(decls, devices, fixed)
    return out


def _bridge_window(w: WindowDecl, obs: Observation, out: Observed) -> tuple[int, int]:
    node = obs.bridges.get(w.name)
    if node is None:
        raise ObservationError(f"bridge {w.name} is not in the guest")
    window = node.memory_window()
    if window is None:
        raise ObservationError(f"bridge {w.name} has no memory window in the guest")
    _note_address(out, w.name, node)
    _compare_window(out, f"window of bridge {w.name}", w, (window.first, window.last))
    return window.first, window.last


def _compare_window(out: Observed, what: str, w: WindowDecl, seen: tuple[int, int]) -> None:
    for end, declared, kernel in (("first", w.first, seen[0]), ("last", w.last, seen[1])):
        if declared != ANY and declared != kernel:
            out.mismatches.append(Mismatch(f"{what} ({end})", f"{declared:#x}", f"{kernel:#x}"))


def _note_address(out: Observed, name: str, node: Node) -> None:
    if node.bdf and node.bdf != name:
        out.guest_addresses[name] = node.bdf


def _device(spec: ScenarioSpec, d: DeviceDecl, obs: Observation, out: Observed) -> DeviceDecl:
    if not d.present:
        return DeviceDecl(d.address, d.parent, tuple(_absent_bar(spec, d, bar) for bar in d.bars), False)
    node = obs.devices.get(d.address)
    if node is None:
        raise ObservationError(f"device {d.address} is not in the guest")
    _note_address(out, d.address, node)
    seen = node.memory_bars()
    bars = []
    for bar in d.bars:
        res = seen.get(bar.index)
        if res is None:
            raise ObservationError(f"device {d.address}: the guest shows no memory BAR{bar.index}")
        if bar.start is not None and bar.start != ANY and bar.start != res.first:
            out.mismatches.append(Mismatch(f"start of {d.address} BAR{bar.index}", f"{bar.start:#x}",
                                           f"{res.first:#x}"))
        kind = BarKind.MEM64 if res.flags & IORESOURCE_MEM_64 or res.last >= FOUR_GIB else bar.kind
        bars.append(BarDecl(bar.index, res.size_bytes, res.first, kind, bool(res.flags & IORESOURCE_PREFETCH)))
    return DeviceDecl(d.address, d.parent, tuple(bars), True)


def _absent_bar(spec: ScenarioSpec, d: DeviceDecl, bar: BarDecl) -> BarDecl:
    size = bar.size_bytes
    if size == ANY:
        size = QEMU_DEVICES[spec.qemu_models[d.address]].memory_bars[bar.index]
    return BarDecl(bar.index, size, None, bar.kind, bar.prefetchable)


def _root_window(root: WindowDecl, obs: Observation, windows: dict[str, tuple[int, int]],
                 devices: list[DeviceDecl], spec: ScenarioSpec) -> tuple[int, int]:
    """The smallest top-level /proc/iomem entry holding the root bus's BARs and bridge windows.

    x86 names it "PCI Bus 0000:00"; on pseries it is the PHB's device-tree
    node ("pci@800000020000000").
    """
    inside = [windows[w.name] for w in spec.topology.windows if w.parent == root.name]
    inside += [_bar_span(d, bar) for d in devices if d.parent == root.name and d.present for bar in d.bars]
    candidates = [e for e in obs.iomem if e.depth == 0 and "RAM" not in e.name and inside
                  and all(e.first <= first and last <= e.last for first, last in inside)]
    if candidates:
        best = min(candidates, key=lambda e: e.last - e.first)
        return best.first, best.last
    raise ObservationError("no host bridge window in /proc/iomem holds every root-bus BAR and bridge window")


def _fixed_in(window: WindowDecl, windows: list[WindowDecl], devices: list[DeviceDecl],
              obs: Observation) -> list[FixedDecl]:
    known = {(w.first, w.last) for w in windows if w.parent == window.name}
    known |= {_bar_span(d, bar) for d in devices if d.parent == window.name and d.present for bar in d.bars}
    children = iomem_children(obs.iomem, _seen(window.first, f"first of window {window.name}"),
                              _seen(window.last, f"last of window {window.name}"))
    return [FixedDecl(f"{c.name} [{c.first:#x}-{c.last:#x}]", window.name, c.first, c.last)
            for c in children if (c.first, c.last) not in known]


def _bar_span(d: DeviceDecl, bar: BarDecl) -> tuple[int, int]:
    """[first, last] of a BAR of a present device, as the guest placed it."""
    start = _seen(bar.start, f"start of {d.address} BAR{bar.index}")
    return start, start + _seen(bar.size_bytes, f"size of {d.address} BAR{bar.index}") - 1


def _seen(value: Value | None, what: str) -> int:
    """A value of the observed topology: the guest's number, never "any" or unassigned."""
    if not isinstance(value, int):
        raise TypeError(f"{what} is {value!r}, not a value read from the guest")
    return value
