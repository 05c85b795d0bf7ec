"""The common situation every core property reasons about, and the world's rules.

The situation makes the PCI core's resource of the scenario's BAR (its
alignment configuration applied), runs the policy's probe on it with the
foreign resource as the parent's only other child (when it already exists),
and computes the mmap window.  The assumptions are the PCI rules, the rules of
the configuration and the resource-tree rules of kernel/resource.c, each under
a stable name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from model.ops import ConcreteOps, Flag, Ops
from model.pci import RULE_TEXT, Bar, bar_rules
from model.policies import PciCore, Policy, ProbeOutcome, ProbeRequest
from model.ranges import Range, contains, is_aligned, is_nonempty, overlaps, span
from model.realign import Realigned, others_align, realign
from model.resource_tree import Child
from model.scenario import Origin, PairScenario, Relation, Shape, foreign_is_bar_shaped, granular


@dataclass(frozen=True, slots=True)
class Situation:
    bar: Bar
    """The BAR's resource, as vfio-pci sees it."""
    parent: Range
    foreign: Range
    request: ProbeRequest
    first: ProbeOutcome
    """What the probe decided (bar_mmap_supported[] and the reservation at enable)."""
    mapped: ProbeOutcome
    """What userspace gets when it mmaps: the probe's answer after the policy's mmap-time rule, which sees
    the parent's children then (a later sibling included); the same object as `first` by default."""
    window: Range
    realigned: Realigned
    core: PciCore

    def may_map(self, ops: Ops) -> Flag:
        """Userspace can mmap the BAR: the probe allowed it and the mmap-time rule did not refuse."""
        if self.mapped is self.first:
            return self.first.mmappable
        return ops.all_of(self.first.mmappable, self.mapped.mmappable)


_SHARED: ContextVar[dict[str, Any] | None] = ContextVar("shared_situations", default=None)


@contextlib.contextmanager
def shared_situations() -> Iterator[None]:
    """Inside, the concrete situation of a scenario under a policy, and its world assumptions, are
    computed once and handed to every property that asks next (the enumerator evaluates several
    properties on each scenario in turn).  Only the last scenario is kept; symbolic evaluation
    is never shared."""
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def _shared(ops: Ops) -> dict[str, Any] | None:
    memo = _SHARED.get()
    return memo if memo is not None and type(ops) is ConcreteOps else None


def situate(ops: Ops, sc: PairScenario, policy: Policy) -> Situation:
    """The situation of `sc` under `policy` (shared by consecutive properties inside `shared_situations`)."""
    memo = _shared(ops)
    if memo is None:
        return _situate(ops, sc, policy)
    if memo.get("ops") is not ops or memo.get("sc") is not sc or memo.get("policy") is not policy:
        memo.clear()
        memo.update(ops=ops, sc=sc, policy=policy, situation=_situate(ops, sc, policy))
    return memo["situation"]


def _situate(ops: Ops, sc: PairScenario, policy: Policy) -> Situation:
    function = sc.bar_origin_is(ops, Origin.FUNCTION)
    realigned = realign(ops, policy.pci_core, sc.bar(), function, sc.page_bytes)
    resource = realigned.resource
    foreign_now = Child(sc.foreign(), sc.relation_is(ops, Relation.EXISTING_SIBLING))
    request = ProbeRequest(sc.page_bytes, resource, sc.parent(), (foreign_now,))
    first = policy.probe(ops, request)
    mapped = policy.at_mmap(ops, _mmap_request(ops, sc, request), first)
    window = policy.mmap_window(ops, resource, sc.page_bytes)
    return Situation(resource, sc.parent(), sc.foreign(), request, first, mapped, window, realigned,
                     policy.pci_core)


def _mmap_request(ops: Ops, sc: PairScenario, request: ProbeRequest) -> ProbeRequest:
    """The view at mmap time: a sibling placed after the probe is there too (mmap comes last, the order
    in which a reservation made at mmap can still be refused)."""
    is_sibling = ops.negate(sc.relation_is(ops, Relation.OUTSIDE_PARENT))
    return ProbeRequest(request.page_bytes, request.bar, request.parent, (Child(sc.foreign(), is_sibling),))


def later_request(ops: Ops, sc: PairScenario, sit: Situation) -> ProbeRequest:
    """The probe's view after a later sibling has been placed."""
    is_sibling = ops.negate(sc.relation_is(ops, Relation.OUTSIDE_PARENT))
    children = (Child(sit.foreign, is_sibling),)
    return ProbeRequest(sit.request.page_bytes, sit.bar, sit.parent, children)


TREE_TEXT = {
    "tree.bar-inside-parent": "the BAR's resource lies inside its parent window (children nest in their parent)",
    "tree.parent-granular": "the parent window starts and ends on its granule (4 KiB by default)",
    "tree.foreign-nonempty": "the foreign resource is a non-empty range that does not wrap",
    "tree.decoder-granular": "the foreign resource starts and ends on its granule (DWORD, 4 bytes, by default)",
    "tree.siblings-disjoint": "siblings never overlap: a child of the parent does not overlap the BAR's resource",
    "tree.child-inside-parent": "a child of the parent lies inside the parent",
    "tree.outside-disjoint": "a resource outside the parent's subtree does not overlap the parent",
    "tree.dummy-blocks-later": "a held dummy blocks later placements: allocate/request under the parent avoid it",
}

ORIGIN_TEXT = {
    "foreign.bar-shaped": "a foreign BAR of a function, VF or host bridge is a power of two of at least 16 bytes, "
                          "naturally aligned",
    "sriov.vf-bar-page-multiple": "a VF BAR is a multiple of PAGE_SIZE (sriov_init() fails with -EIO otherwise, "
                                  "drivers/pci/iov.c)",
    "platform.no-fixed-bars": "no BAR is an Enhanced Allocation / IORESOURCE_PCI_FIXED BAR (the platform modifier "
                              "+enhanced_allocation lifts this)",
    "align.device-named": "the device is an ordinary function the configuration names (listed in "
                          "pci=resource_alignment=, or the quirked device), not a VF, host bridge or fixed BAR, "
                          "and PCI_PROBE_ONLY is not set",
    "align.placed-at-alignment": "a realigned resource is assigned at a multiple of its requested alignment "
                                 "(pci_assign_resource() -> allocate_resource() with pci_resource_alignment())",
    "align.others-realigned": "every other ordinary function's sub-alignment BAR is realigned too, on every "
                              "enumeration including hot-add (pci_device_add() -> "
                              "pci_reassigndev_resource_alignment())",
    "realloc.placed-at-alignment": "after a bridge-window release a resource is reassigned at a multiple of "
                                   "resource_alignment(), or not at all when that is 0 (\"bogus alignment\")",
}

ASSUMPTION_TEXT = {**RULE_TEXT, **TREE_TEXT, **ORIGIN_TEXT}


def world_assumptions(ops: Ops, sc: PairScenario, sit: Situation, shape: Shape) -> list[tuple[str, Flag]]:
    """The PCI rules, the configuration's rules and the resource-tree rules, by name, in a fixed order."""
    memo = _shared(ops)
    if memo is None or memo.get("situation") is not sit or memo.get("ops") is not ops or memo.get("sc") is not sc:
        return _world_assumptions(ops, sc, sit, shape)
    if memo.get("world_shape") is not shape:
        memo.update(world_shape=shape, world=_world_assumptions(ops, sc, sit, shape))
    return list(memo["world"])


def _world_assumptions(ops: Ops, sc: PairScenario, sit: Situation, shape: Shape) -> list[tuple[str, Flag]]:
    sibling = ops.negate(sc.relation_is(ops, Relation.OUTSIDE_PARENT))
    later = sc.relation_is(ops, Relation.LATER_SIBLING)
    outside = sc.relation_is(ops, Relation.OUTSIDE_PARENT)
    bar_range = sit.bar.range(ops)
    fixed = sc.bar_origin_is(ops, Origin.FIXED)
    named = [(rule.name, rule.holds) for rule in bar_rules(ops, sc.bar(), fixed, shape.fixed_granule_bytes)]
    named += origin_assumptions(ops, sc, sit)
    named += [
        ("tree.bar-inside-parent", ops.all_of(is_nonempty(ops, sit.parent), contains(ops, sit.parent, bar_range))),
        ("tree.parent-granular", granular(ops, sit.parent, shape.window_granule_bytes)),
        ("tree.foreign-nonempty", is_nonempty(ops, sit.foreign)),
        ("tree.decoder-granular", granular(ops, sit.foreign, shape.decoder_granule_bytes)),
        ("tree.siblings-disjoint", ops.implies(sibling, ops.negate(overlaps(ops, sit.foreign, bar_range)))),
        ("tree.child-inside-parent", ops.implies(sibling, contains(ops, sit.parent, sit.foreign))),
        ("tree.outside-disjoint", ops.implies(outside, ops.negate(overlaps(ops, sit.foreign, sit.parent)))),
        ("tree.dummy-blocks-later", ops.implies(ops.all_of(later, sit.first.dummy_held),
                                                ops.negate(overlaps(ops, sit.foreign, sit.first.dummy)))),
    ]
    return named


def origin_assumptions(ops: Ops, sc: PairScenario, sit: Situation) -> list[tuple[str, Flag]]:
    """What each origin of the BAR and of the foreign resource implies, and the configuration's rules."""
    core, page = sit.core, sc.page_bytes
    foreign_size = ops.add(ops.sub(sc.foreign_last, sc.foreign_first), ops.const(1))
    is_bar = ops.any_of(*(sc.foreign_origin_is(ops, o) for o in (Origin.FUNCTION, Origin.VIRTUAL_FUNCTION,
                                                               Origin.HOST_BRIDGE)))
    vf_rule = ops.all_of(
        ops.implies(sc.bar_origin_is(ops, Origin.VIRTUAL_FUNCTION), ops.uge(sc.bar_size, page)),
        ops.implies(sc.foreign_origin_is(ops, Origin.VIRTUAL_FUNCTION), ops.uge(foreign_size, page)))
    named = [("foreign.bar-shaped", ops.implies(is_bar, foreign_is_bar_shaped(ops, sc))),
             ("sriov.vf-bar-page-multiple", vf_rule)]
    if not core.enhanced_allocation:
        named.append(("platform.no-fixed-bars", ops.all_of(
            ops.negate(sc.bar_origin_is(ops, Origin.FIXED)), ops.negate(sc.foreign_origin_is(ops, Origin.FIXED)))))
    if core.parameter_bytes is not None or core.extends_to_page:
        named.append(("align.device-named", sc.bar_origin_is(ops, Origin.FUNCTION)))
    if core.realigns:
        requested = sit.realigned.requested_align
        named.append(("align.placed-at-alignment", ops.implies(
            ops.ne(requested, ops.const(0)), is_aligned(ops, sc.bar_start, requested))))
    if core.default is not None:
        others = others_align(ops, core, page)
        named.append(("align.others-realigned", ops.implies(
            ops.all_of(sc.foreign_origin_is(ops, Origin.FUNCTION), ops.ne(others, ops.const(0))),
            is_aligned(ops, sc.foreign_first, others))))
    return named


def realloc_assumption(ops: Ops, sc: PairScenario, sit: Situation) -> tuple[str, Flag]:
    align = sit.realigned.realloc_align
    moved = span(ops, sc.realloc_start, sit.bar.size_bytes)
    return ("realloc.placed-at-alignment", ops.implies(
        ops.ne(align, ops.const(0)), ops.all_of(is_aligned(ops, sc.realloc_start, align), is_nonempty(ops, moved))))


def outcome_facts(sit: Situation) -> list[tuple[str, object]]:
    return [
        ("mmappable", sit.mapped.mmappable),
        ("dummy_held", sit.mapped.dummy_held),
        ("dummy_start", sit.mapped.dummy.first),
        ("dummy_end", sit.mapped.dummy.last),
        ("window_start", sit.window.first),
        ("window_end", sit.window.last),
        ("resource_size", sit.bar.size_bytes),
        ("requested_align", sit.realigned.requested_align),
    ]
