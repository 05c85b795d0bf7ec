"""Properties over time, and the inductive invariant that proves them for all traces.

A trace property has state clauses (checked in every state of every trace)
and step clauses (checked on every transition).  Each clause is labelled so a
counterexample can name the one that failed.

The invariant is stated here, next to the properties it supports; the
checker discharges init, step and safety as separate queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from model.events import Event, EventKind, newly_placed
from model.ops import Flag, Ops
from model.pci import bar_rules
from model.policies import Policy
from model.policies.composed import Configured
from model.ranges import Range, align_down, contains, is_nonempty, overlaps, within_union
from model.system import State, Structure, bar_in_tree, bar_range, bar_view, foreign_resources, window_children

Clauses = list[tuple[str, Flag]]
StateClauses = Callable[[Ops, Policy, Structure, State], Clauses]
StepClauses = Callable[[Ops, Policy, Structure, State, Event, State], Clauses]


@dataclass(frozen=True, slots=True)
class TraceProperty:
    id: str
    title: str
    statement: str
    state_clauses: StateClauses | None = None
    step_clauses: StepClauses | None = None
    antecedent: Callable[[Ops, Structure, State], Flag] | None = None
    """A state from which the property has something to say; a proof must show one is reachable."""


def _page_hull(ops: Ops, r: Range, page_bytes) -> Range:
    """The whole pages a range touches."""
    last_page = align_down(ops, r.last, page_bytes)
    return Range(align_down(ops, r.first, page_bytes), ops.add(last_page, ops.sub(page_bytes, ops.const(1))))


def isolation_clauses(ops: Ops, policy: Policy, st: Structure, state: State) -> Clauses:
    """No mapping reaches a byte of another device's BAR or of a fixed resource."""
    clauses = []
    for b in range(len(st.bars)):
        for label, other in foreign_resources(ops, st, state, b):
            hit = ops.all_of(state.mapped[b], other.present, overlaps(ops, state.mapping[b], other.range))
            clauses.append((f"bar:{b}/{label}", ops.negate(hit)))
    return clauses


def held_while_mapped_clauses(ops: Ops, policy: Policy, st: Structure, state: State) -> Clauses:
    """A mapping reaches only its BAR, and the BAR's held dummy, as the tree has them now."""
    clauses = []
    for b in range(len(st.bars)):
        covered = ops.all_of(bar_in_tree(ops, st, state, b),
                             within_union(ops, state.mapping[b], bar_range(ops, state, b),
                                          state.dummy_held[b], state.dummy[b]))
        clauses.append((f"bar:{b}", ops.implies(state.mapped[b], covered)))
    return clauses


def no_leak_clauses(ops: Ops, policy: Policy, st: Structure, state: State) -> Clauses:
    """A dummy is held only while its device is open."""
    return [(f"bar:{b}", ops.implies(state.dummy_held[b], state.opened[st.device_of(b)]))
            for b in range(len(st.bars))]


def idempotent_clauses(ops: Ops, policy: Policy, st: Structure, before: State, event: Event,
                       after: State) -> Clauses:
    """A repeated probe changes neither mmap support nor the reservations."""
    if event.kind is not EventKind.REPROBE:
        return []
    clauses = []
    for b in st.devices[event.target].bars:
        same_dummy = ops.all_of(ops.eq(before.dummy[b].first, after.dummy[b].first),
                                ops.eq(before.dummy[b].last, after.dummy[b].last))
        unchanged = ops.all_of(ops.flag_eq(before.mmap_ok[b], after.mmap_ok[b]),
                               ops.flag_eq(before.dummy_held[b], after.dummy_held[b]),
                               ops.implies(after.dummy_held[b], same_dummy))
        clauses.append((f"bar:{b}", unchanged))
    return clauses


def hotplug_clauses(ops: Ops, policy: Policy, st: Structure, before: State, event: Event,
                    after: State) -> Clauses:
    """No BAR is placed into a page that a mapping of another device reaches."""
    if event.kind not in (EventKind.HOT_ADD, EventKind.RESCAN):
        return []
    clauses = []
    for b in range(len(st.bars)):
        for m in range(len(st.bars)):
            if st.device_of(m) == st.device_of(b):
                continue
            pages = _page_hull(ops, before.mapping[m], before.page_bytes)
            hit = ops.all_of(newly_placed(ops, st, before, after, b), before.mapped[m],
                             overlaps(ops, bar_range(ops, after, b), pages))
            clauses.append((f"bar:{b}/mapped:{m}", ops.negate(hit)))
    return clauses


def _some_mapping(ops: Ops, st: Structure, state: State) -> Flag:
    return ops.any_of(*state.mapped)


def _some_dummy(ops: Ops, st: Structure, state: State) -> Flag:
    return ops.any_of(*state.dummy_held)


def _reprobe_of_mmappable(ops: Ops, st: Structure, state: State) -> Flag:
    return ops.any_of(*(ops.all_of(state.opened[st.device_of(b)], state.mmap_ok[b]) for b in range(len(st.bars))))


def _mapping_and_absent_device(ops: Ops, st: Structure, state: State) -> Flag:
    return ops.all_of(ops.any_of(*state.mapped), ops.any_of(*(ops.negate(p) for p in state.present)))


TRACE_PROPERTIES = {
    prop.id: prop for prop in (
        TraceProperty(
            "isolation.window",
            "No user mapping reaches another device's registers, in any state of any trace",
            "In every state, the physical range each live user mapping of a BAR reaches "
            "(vfio_pci_mmap: PAGE_ALIGN(len) from start >> PAGE_SHIFT, fixed at mmap time) "
            "overlaps no BAR of another device and no fixed resource.",
            state_clauses=isolation_clauses, antecedent=_some_mapping),
        TraceProperty(
            "dummy.held-while-mapped",
            "The page remainder of a mapped sub-page BAR stays reserved while the mapping exists",
            "In every state, a live mapping reaches only its BAR as the resource tree now "
            "has it and that BAR's held \"vfio sub-page reserved\" dummy "
            "(vfio_pci_probe_mmaps() requests it; vfio_pci_core_disable() releases it).",
            state_clauses=held_while_mapped_clauses, antecedent=_some_mapping),
        TraceProperty(
            "probe.idempotent",
            "Probing twice without a close neither flips mmap support nor leaks a reservation",
            "On a repeated probe of an open device, bar_mmap_supported[] and the held dummies "
            "are unchanged (Alex Williamson on the v3 per-BAR patch: \"If we were to call this "
            "a second time, we might get a different result\").",
            step_clauses=idempotent_clauses, antecedent=_reprobe_of_mmappable),
        TraceProperty(
            "dummy.no-leak",
            "Nothing is still reserved after close",
            "In every state, a \"vfio sub-page reserved\" dummy is held only while its device is "
            "open (vfio_pci_core_disable() releases every dummy at the last close).",
            state_clauses=no_leak_clauses, antecedent=_some_dummy),
        TraceProperty(
            "hotplug.no-placement-in-mapped-page",
            "Hot-plug and rescan never place a BAR into a page another device has mapped",
            "On hot-add and rescan, no BAR is newly placed in a page reached by a live mapping "
            "of another device (pci_assign_unassigned_bus_resources() -> allocate_resource() "
            "first fit).",
            step_clauses=hotplug_clauses, antecedent=_mapping_and_absent_device),
    )
}


def invariant_clauses(ops: Ops, policy: Policy, st: Structure, state: State) -> Clauses:
    """The strengthening that makes the properties inductive under the kernel events.

    - tree: every child of every window lies inside it and children are disjoint;
    - bars: assigned BARs obey the PCI rules and belong to present devices;
    - open: an open device has all BARs assigned;
    - dummy: a held dummy belongs to an open device and is its BAR's page remainder;
    - mmap: an mmappable BAR of an open device maps inside BAR plus held dummy;
    - mapped: a live mapping is the policy's window of the BAR where it is now.
    """
    clauses: Clauses = []
    for w in range(len(st.windows)):
        clauses += _tree_clauses(ops, st, state, w)
    for b in range(len(st.bars)):
        clauses += _bar_clauses(ops, policy, st, state, b)
    for d, device in enumerate(st.devices):
        all_assigned = ops.all_of(*(state.assigned[b] for b in device.bars))
        clauses.append((f"open:{d}", ops.implies(state.opened[d], ops.all_of(state.present[d], all_assigned))))
    return clauses


def _tree_clauses(ops: Ops, st: Structure, state: State, w: int) -> Clauses:
    children = window_children(ops, st, state, w)
    clauses = [(f"tree:{w}/window", is_nonempty(ops, state.window[w]))]
    for i, (label, child) in enumerate(children):
        inside = ops.all_of(is_nonempty(ops, child.range), contains(ops, state.window[w], child.range))
        clauses.append((f"tree:{w}/{label}/inside", ops.implies(child.present, inside)))
        for other_label, other in children[i + 1:]:
            clash = ops.all_of(child.present, other.present, overlaps(ops, child.range, other.range))
            clauses.append((f"tree:{w}/{label}/{other_label}", ops.negate(clash)))
    return clauses


def reserves_at_mmap(policy: Policy) -> bool:
    """The policy has an mmap-time rule of its own: an mmappable BAR of an open device may then be
    without its reservation until the mmap requests it."""
    kernel = policy.base if isinstance(policy, Configured) else policy
    return type(kernel).at_mmap is not Policy.at_mmap


def releases_while_open(policy: Policy) -> bool:
    """munmap or reset gives the reservation back while the device stays open, so a later mmap (or a
    mapping that outlives the reset) may reach an unreserved page remainder."""
    return bool(policy.releases_dummy_at_munmap) or bool(policy.releases_dummy_at_reset)


def _bar_clauses(ops: Ops, policy: Policy, st: Structure, state: State, b: int) -> Clauses:
    d = st.device_of(b)
    bar = bar_view(ops, st, state, b)
    own = bar_range(ops, state, b)
    page = state.page_bytes
    remainder = Range(ops.add(own.last, ops.const(1)), ops.add(state.start[b], ops.sub(page, ops.const(1))))
    same_remainder = ops.all_of(ops.eq(state.dummy[b].first, remainder.first),
                                ops.eq(state.dummy[b].last, remainder.last))
    window = policy.mmap_window(ops, bar, page)
    safe_window = within_union(ops, window, own, state.dummy_held[b], state.dummy[b])
    lapses, lazy = releases_while_open(policy), reserves_at_mmap(policy)
    hull = within_union(ops, window, own, ops.true(), remainder) if lapses or lazy else safe_window
    mmap_bound = hull if lapses or lazy else safe_window
    mapped_bound = hull if lapses else safe_window
    same_mapping = ops.all_of(ops.eq(state.mapping[b].first, window.first),
                              ops.eq(state.mapping[b].last, window.last))
    clauses = [(f"bar:{b}/{rule.name}", ops.implies(state.assigned[b], rule.holds)) for rule in bar_rules(ops, bar)]
    clauses += [
        (f"bar:{b}/present", ops.implies(state.assigned[b], state.present[d])),
        (f"bar:{b}/dummy", ops.implies(state.dummy_held[b],
                                       ops.all_of(state.opened[d], state.assigned[b], same_remainder))),
        (f"bar:{b}/mmap", ops.implies(ops.all_of(state.opened[d], state.mmap_ok[b]), mmap_bound)),
        (f"bar:{b}/mapped", ops.implies(state.mapped[b],
                                        ops.all_of(state.opened[d], state.assigned[b], same_mapping, mapped_bound))),
    ]
    return clauses



TRACE_ASSUMPTION_TEXT = {
    "tree.window-nonempty": "every bridge and host-bridge window is a non-empty range",
    "tree.bridge-window-granular": "a PCI-to-PCI bridge memory window starts and ends on 1 MiB boundaries",
    "tree.top-windows-disjoint": "host-bridge windows do not overlap each other",
    "boot.idle": "at boot no device is open, nothing is mapped and nothing is reserved",
    "boot.tree-and-pci-rules": "the boot layout obeys the PCI BAR rules and kernel/resource.c nesting "
                               "(children inside their window, siblings disjoint)",
}
