"""A PCI system over time: a fixed structure and a state of `Ops` values.

The structure (which windows, devices, BARs and fixed resources exist as
slots, and how they nest) is plain Python and never symbolic.  The state holds
every quantity that changes over time or that a proof quantifies over
(addresses, sizes, open/mapped flags, the dummy reservations) as `Ops` words
and flags, so one transition function serves the concrete simulation and the
symbolic unrolling.

Resource-tree view (kernel/resource.c): the direct children of a window are
the assigned BARs of present devices behind it, the held "vfio sub-page
reserved" dummies of those BARs (vfio requests them under `res->parent`), the
fixed resources placed in it, and the windows nested in it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from model.ops import Flag, Ops, Word
from model.pci import Bar, BarKind
from model.ranges import Range, span
from model.resource_tree import Child


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """A host-bridge window or a PCI-to-PCI bridge memory window."""

    name: str
    parent: int | None = None
    """Index of the enclosing window (this window is then one of its children)."""
    bridge: bool = False
    """A PCI-to-PCI bridge window: 1 MiB aligned and granular."""


@dataclass(frozen=True, slots=True)
class BarSpec:
    device: int
    index: int
    kind: BarKind = BarKind.MEM32
    prefetchable: bool = False


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    name: str
    """The device's PCI address, e.g. 0000:01:01.0."""
    window: int
    bars: tuple[int, ...]
    """BAR slots, in allocation order (decreasing size, as pdev_sort_resources orders them)."""


@dataclass(frozen=True, slots=True)
class FixedSpec:
    """A resource that never moves: another device's registers, a platform decoder."""

    name: str
    window: int


@dataclass(frozen=True, slots=True)
class Structure:
    windows: tuple[WindowSpec, ...]
    devices: tuple[DeviceSpec, ...]
    bars: tuple[BarSpec, ...]
    fixed: tuple[FixedSpec, ...] = ()

    def device_of(self, bar: int) -> int:
        return self.bars[bar].device

    def bars_in(self, window: int) -> list[int]:
        return [b for b, spec in enumerate(self.bars) if self.devices[spec.device].window == window]

    def nested_in(self, window: int) -> list[int]:
        return [w for w, spec in enumerate(self.windows) if spec.parent == window]

    def fixed_in(self, window: int) -> list[int]:
        return [f for f, spec in enumerate(self.fixed) if spec.window == window]

    def label(self, bar: int) -> str:
        spec = self.bars[bar]
        return f"{self.devices[spec.device].name} BAR{spec.index}"


@dataclass(frozen=True, slots=True)
class State:
    """Everything that varies; tuples are indexed like the structure's slots."""

    page_bytes: Word
    window: tuple[Range, ...]
    fixed: tuple[Range, ...]
    size: tuple[Word, ...]
    present: tuple[Flag, ...]
    """Per device: plugged in (not yet hot-added, or hot-removed, when false)."""
    opened: tuple[Flag, ...]
    """Per device: enabled by vfio-pci (the device fd is open)."""
    assigned: tuple[Flag, ...]
    start: tuple[Word, ...]
    mmap_ok: tuple[Flag, ...]
    """bar_mmap_supported[] as vfio-pci last computed it."""
    dummy_held: tuple[Flag, ...]
    """The BAR's "vfio sub-page reserved" dummy is in the resource tree."""
    dummy: tuple[Range, ...]
    mapped: tuple[Flag, ...]
    mapping: tuple[Range, ...]
    """Physical bytes the user's mapping of the BAR reaches (fixed at mmap time)."""

    def replace(self, **changes: Any) -> "State":
        return dataclasses.replace(self, **changes)


def with_item(values: tuple, index: int, value: Any) -> tuple:
    return values[:index] + (value,) + values[index + 1:]


def bar_view(ops: Ops, st: Structure, state: State, b: int) -> Bar:
    spec = st.bars[b]
    return Bar(ops.const(spec.index), ops.const(int(spec.kind)),
               ops.true() if spec.prefetchable else ops.false(), state.start[b], state.size[b])


def bar_range(ops: Ops, state: State, b: int) -> Range:
    return span(ops, state.start[b], state.size[b])


def bar_in_tree(ops: Ops, st: Structure, state: State, b: int) -> Flag:
    return ops.all_of(state.present[st.device_of(b)], state.assigned[b])


def window_children(ops: Ops, st: Structure, state: State, w: int,
                    exclude_bar: int | None = None) -> list[tuple[str, Child]]:
    """The direct children of window `w`, labelled, in slot order."""
    children: list[tuple[str, Child]] = []
    for b in st.bars_in(w):
        if b != exclude_bar:
            children.append((f"bar:{b}", Child(bar_range(ops, state, b), bar_in_tree(ops, st, state, b))))
        children.append((f"dummy:{b}", Child(state.dummy[b], state.dummy_held[b])))
    for f in st.fixed_in(w):
        children.append((f"fixed:{f}", Child(state.fixed[f], ops.true())))
    for nested in st.nested_in(w):
        children.append((f"window:{nested}", Child(state.window[nested], ops.true())))
    return children


def foreign_resources(ops: Ops, st: Structure, state: State, b: int) -> list[tuple[str, Child]]:
    """Registers that do not belong to BAR b's device: other devices' BARs, fixed resources."""
    own = st.device_of(b)
    foreign = [(f"bar:{o}", Child(bar_range(ops, state, o), bar_in_tree(ops, st, state, o)))
               for o in range(len(st.bars)) if st.device_of(o) != own]
    foreign += [(f"fixed:{f}", Child(state.fixed[f], ops.true())) for f in range(len(st.fixed))]
    return foreign


def standard_structure(devices: int = 3, bars_per_device: int = 1) -> Structure:
    """The proof structure: a host-bridge window holding a PCI-to-PCI bridge window and a fixed
    resource; devices alternate between the bridge (first) and the root bus.

    Both kinds of parent vfio requests dummies under are present, and every
    device can contend with every other for a page behind the bridge.
    """
    if devices < 1 or bars_per_device < 1:
        raise ValueError("a structure needs at least one device with one BAR")
    windows = (WindowSpec("PCI Bus 0000:00", None, False), WindowSpec("PCI Bus 0000:01", 0, True))
    specs: list[DeviceSpec] = []
    bars: list[BarSpec] = []
    for d in range(devices):
        behind_bridge = d % 2 == 0
        name = f"0000:01:{d // 2 + 1:02x}.0" if behind_bridge else f"0000:00:{d // 2 + 3:02x}.0"
        slots = tuple(range(len(bars), len(bars) + bars_per_device))
        bars += [BarSpec(d, i) for i in range(bars_per_device)]
        specs.append(DeviceSpec(name, 1 if behind_bridge else 0, slots))
    return Structure(windows, tuple(specs), tuple(bars), (FixedSpec("platform decoder", 0),))
