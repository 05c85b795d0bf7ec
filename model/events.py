"""Events and the transition function, written once against `Ops`.

Each event has a guard (when the kernel lets it happen) and an effect.  The
vfio-pci parts of the effects come from the policy (probe at enable, what is
released at close and at reset, what a repeated probe does); the PCI-core
parts (placement on hot-add and rescan) come from model/placement.py.

Kernel sources (see the policy modules for the vfio ones):
- open: vfio_pci_core_enable() -> pci_enable_device() (refuses a device with an
  unassigned memory BAR), then vfio_pci_probe_mmaps() at first open only.
- close: the last reference to the device fd, vfio_pci_core_disable(), which
  releases every dummy.  A vma holds a file reference, so the last close
  cannot happen while a mapping exists.
- hot-remove: vfio_unregister_group_dev() waits until the device is closed.
- hot-add: pci_rescan_bus() -> pci_assign_unassigned_bus_resources():
  existing BARs keep their place, new ones get first-fit slots.
- rescan with realloc: pci_bridge_release_resources() ->
  release_child_resources() detaches every descendant of the bridge window
  (BARs and vfio's dummies alike) and resets it to [0, size-1]; the BARs are
  then assigned again, in allocation order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Sequence

from model.ops import Flag, Ops, Word
from model.pci import BarKind
from model.placement import FIRST_FIT, place
from model.policies.base import Policy, ProbeOutcome, ProbeRequest
from model.system import (State, Structure, bar_in_tree, bar_range, bar_view, window_children, with_item)


class EventKind(str, enum.Enum):
    OPEN = "open"
    CLOSE = "close"
    MMAP = "mmap"
    MUNMAP = "munmap"
    RESET = "reset"
    REPROBE = "reprobe"
    HOT_ADD = "hot-add"
    HOT_REMOVE = "hot-remove"
    RESCAN = "rescan"

    @property
    def target_kind(self) -> str:
        if self in (EventKind.MMAP, EventKind.MUNMAP):
            return "bar"
        if self is EventKind.RESCAN:
            return "window"
        return "device"


ALL_EVENTS = tuple(EventKind)
KERNEL_EVENTS = tuple(kind for kind in EventKind if kind is not EventKind.RESCAN)
"""The events of the default trace proofs; rescan-with-realloc is checked on its own."""


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    target: int


@dataclass(frozen=True, slots=True)
class Step:
    enabled: Flag
    after: State


def targets(st: Structure, kind: EventKind) -> list[int]:
    """Rescan-with-realloc releases PCI-to-PCI bridge windows only, never a host bridge's."""
    if kind.target_kind == "window":
        return [w for w, spec in enumerate(st.windows) if spec.bridge]
    counts = {"bar": len(st.bars), "device": len(st.devices)}
    return list(range(counts[kind.target_kind]))


def all_events(st: Structure, kinds: Sequence[EventKind] = KERNEL_EVENTS) -> list[Event]:
    return [Event(kind, t) for kind in kinds for t in targets(st, kind)]


def _probe_request(ops: Ops, st: Structure, state: State, b: int) -> ProbeRequest:
    w = st.devices[st.device_of(b)].window
    children = tuple(child for _, child in window_children(ops, st, state, w, exclude_bar=b))
    return ProbeRequest(state.page_bytes, bar_view(ops, st, state, b), state.window[w], children)


def _open(ops: Ops, policy: Policy, st: Structure, state: State, d: int) -> Step:
    bars = st.devices[d].bars
    enabled = ops.all_of(state.present[d], ops.negate(state.opened[d]), *(state.assigned[b] for b in bars))
    after = state
    for b in bars:
        outcome = policy.probe(ops, _probe_request(ops, st, after, b))
        after = _with_outcome(after, b, outcome)
    return Step(enabled, after.replace(opened=with_item(after.opened, d, ops.true())))


def _with_outcome(state: State, b: int, outcome: ProbeOutcome) -> State:
    return state.replace(mmap_ok=with_item(state.mmap_ok, b, outcome.mmappable),
                         dummy_held=with_item(state.dummy_held, b, outcome.dummy_held),
                         dummy=with_item(state.dummy, b, outcome.dummy))


def _release_dummies(ops: Ops, state: State, bars: Sequence[int], release: bool) -> State:
    if not release:
        return state
    held = state.dummy_held
    for b in bars:
        held = with_item(held, b, ops.false())
    return state.replace(dummy_held=held)


def _close(ops: Ops, policy: Policy, st: Structure, state: State, d: int) -> Step:
    bars = st.devices[d].bars
    enabled = ops.all_of(state.opened[d], *(ops.negate(state.mapped[b]) for b in bars))
    after = _release_dummies(ops, state, bars, policy.releases_dummy_at_close)
    return Step(enabled, after.replace(opened=with_item(after.opened, d, ops.false())))


def _reset(ops: Ops, policy: Policy, st: Structure, state: State, d: int) -> Step:
    return Step(state.opened[d], _release_dummies(ops, state, st.devices[d].bars, policy.releases_dummy_at_reset))


def _reprobe(ops: Ops, policy: Policy, st: Structure, state: State, d: int) -> Step:
    after = state
    for b in st.devices[d].bars:
        current = ProbeOutcome(after.mmap_ok[b], after.dummy_held[b], after.dummy[b])
        after = _with_outcome(after, b, policy.reprobe(ops, _probe_request(ops, st, after, b), current))
    return Step(state.opened[d], after)


def _mmap(ops: Ops, policy: Policy, st: Structure, state: State, b: int) -> Step:
    """bar_mmap_supported[] must allow it, then the policy's mmap-time rule may reserve (or refuse)."""
    d = st.device_of(b)
    current = ProbeOutcome(state.mmap_ok[b], state.dummy_held[b], state.dummy[b])
    outcome = policy.at_mmap(ops, _probe_request(ops, st, state, b), current)
    allowed = state.mmap_ok[b] if outcome is current else ops.all_of(state.mmap_ok[b], outcome.mmappable)
    enabled = ops.all_of(state.opened[d], state.assigned[b], allowed, ops.negate(state.mapped[b]))
    window = policy.mmap_window(ops, bar_view(ops, st, state, b), state.page_bytes)
    reserved = state if outcome is current else state.replace(
        dummy_held=with_item(state.dummy_held, b, outcome.dummy_held), dummy=with_item(state.dummy, b, outcome.dummy))
    return Step(enabled, reserved.replace(mapped=with_item(state.mapped, b, ops.true()),
                                          mapping=with_item(state.mapping, b, window)))


def _munmap(ops: Ops, policy: Policy, st: Structure, state: State, b: int) -> Step:
    after = _release_dummies(ops, state, (b,), policy.releases_dummy_at_munmap)
    return Step(state.mapped[b], after.replace(mapped=with_item(after.mapped, b, ops.false())))


def _assign(ops: Ops, st: Structure, state: State, bars: Sequence[int], placement: str,
            choices: Sequence[Word] | None) -> State:
    """Assign `bars` one after another, each seeing the ones placed before it."""
    after = state
    for b in bars:
        w = st.devices[st.device_of(b)].window
        children = [child for _, child in window_children(ops, st, after, w, exclude_bar=b)]
        choice = choices[b] if choices is not None else None
        below_4g = st.bars[b].kind is not BarKind.MEM64
        slot = place(ops, placement, after.window[w], children, after.size[b], choice, below_4g)
        ok = ops.all_of(after.present[st.device_of(b)], slot.ok)
        after = after.replace(assigned=with_item(after.assigned, b, ok),
                              start=with_item(after.start, b, ops.ite(ok, slot.start, after.start[b])))
    return after


def _hot_add(ops: Ops, st: Structure, state: State, d: int, placement: str,
             choices: Sequence[Word] | None) -> Step:
    bars = st.devices[d].bars
    plugged = state.replace(present=with_item(state.present, d, ops.true()),
                            assigned=_cleared(ops, state.assigned, bars))
    return Step(ops.negate(state.present[d]), _assign(ops, st, plugged, bars, placement, choices))


def _cleared(ops: Ops, flags: tuple, indices: Sequence[int]) -> tuple:
    for i in indices:
        flags = with_item(flags, i, ops.false())
    return flags


def _hot_remove(ops: Ops, st: Structure, state: State, d: int) -> Step:
    bars = st.devices[d].bars
    enabled = ops.all_of(state.present[d], ops.negate(state.opened[d]))
    after = state.replace(present=with_item(state.present, d, ops.false()),
                          assigned=_cleared(ops, state.assigned, bars),
                          dummy_held=_cleared(ops, state.dummy_held, bars),
                          mmap_ok=_cleared(ops, state.mmap_ok, bars))
    return Step(enabled, after)


def _rescan(ops: Ops, st: Structure, state: State, w: int, placement: str,
            choices: Sequence[Word] | None) -> Step:
    """Fixed resources and nested windows stay where they are (IORESOURCE_PCI_FIXED-like)."""
    bars = st.bars_in(w)
    detached = state.replace(assigned=_cleared(ops, state.assigned, bars),
                             dummy_held=_cleared(ops, state.dummy_held, bars))
    return Step(ops.true(), _assign(ops, st, detached, bars, placement, choices))


def transition(ops: Ops, policy: Policy, st: Structure, state: State, event: Event,
               placement: str = FIRST_FIT, choices: Sequence[Word] | None = None) -> Step:
    """The guard and the successor state of one event."""
    t = event.target
    if event.kind in _VFIO_EVENTS:
        return _VFIO_EVENTS[event.kind](ops, policy, st, state, t)
    if event.kind is EventKind.HOT_ADD:
        return _hot_add(ops, st, state, t, placement, choices)
    if event.kind is EventKind.HOT_REMOVE:
        return _hot_remove(ops, st, state, t)
    if event.kind is EventKind.RESCAN:
        return _rescan(ops, st, state, t, placement, choices)
    raise ValueError(f"unknown event {event.kind!r}")


_VFIO_EVENTS = {
    EventKind.OPEN: _open, EventKind.CLOSE: _close, EventKind.MMAP: _mmap, EventKind.MUNMAP: _munmap,
    EventKind.RESET: _reset, EventKind.REPROBE: _reprobe,
}
"""Events whose effect the vfio-pci policy decides."""


def newly_placed(ops: Ops, st: Structure, before: State, after: State, b: int) -> Flag:
    """BAR b is in the tree after the step at a place it did not hold before."""
    moved = ops.any_of(ops.negate(bar_in_tree(ops, st, before, b)), ops.ne(before.start[b], after.start[b]))
    return ops.all_of(bar_in_tree(ops, st, after, b), moved)


__all__ = ["ALL_EVENTS", "KERNEL_EVENTS", "Event", "EventKind", "Step", "all_events", "bar_range",
           "newly_placed", "targets", "transition"]
