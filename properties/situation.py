"""The common situation every core property reasons about, and the world's rules.

The situation runs the policy's probe on the scenario's BAR with the foreign
resource as the parent's only other child (when it already exists), and
computes the mmap window.  The assumptions are the PCI rules and the
resource-tree rules of kernel/resource.c, each under a stable name.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.ops import Flag, Ops
from model.pci import RULE_TEXT, Bar, bar_rules
from model.policies import Policy, ProbeOutcome, ProbeRequest
from model.ranges import Range, contains, is_nonempty, overlaps
from model.resource_tree import Child
from model.scenario import PairScenario, Relation, Shape, granular


@dataclass(frozen=True, slots=True)
class Situation:
    bar: Bar
    parent: Range
    foreign: Range
    request: ProbeRequest
    first: ProbeOutcome
    window: Range


def situate(ops: Ops, sc: PairScenario, policy: Policy) -> Situation:
    foreign_now = Child(sc.foreign(), sc.relation_is(ops, Relation.EXISTING_SIBLING))
    request = ProbeRequest(sc.page_bytes, sc.bar(), sc.parent(), (foreign_now,))
    first = policy.probe(ops, request)
    window = policy.mmap_window(ops, sc.bar(), sc.page_bytes)
    return Situation(sc.bar(), sc.parent(), sc.foreign(), request, first, window)


def later_request(ops: Ops, sc: PairScenario, sit: Situation) -> ProbeRequest:
    """The probe's view after a later sibling has been placed."""
    is_sibling = ops.negate(sc.relation_is(ops, Relation.OUTSIDE_PARENT))
    children = (Child(sit.foreign, is_sibling),)
    return ProbeRequest(sit.request.page_bytes, sit.bar, sit.parent, children)


TREE_TEXT = {
    "tree.bar-inside-parent": "the BAR lies inside its parent window (children nest in their parent)",
    "tree.parent-granular": "the parent window starts and ends on its granule (4 KiB by default)",
    "tree.foreign-nonempty": "the foreign resource is a non-empty range that does not wrap",
    "tree.decoder-granular": "the foreign resource starts and ends on its granule (DWORD, 4 bytes, by default)",
    "tree.siblings-disjoint": "siblings never overlap: a child of the parent does not overlap the BAR",
    "tree.child-inside-parent": "a child of the parent lies inside the parent",
    "tree.outside-disjoint": "a resource outside the parent's subtree does not overlap the parent",
    "tree.dummy-blocks-later": "a held dummy blocks later placements: allocate/request under the parent avoid it",
}

ASSUMPTION_TEXT = {**RULE_TEXT, **TREE_TEXT}


def world_assumptions(ops: Ops, sc: PairScenario, sit: Situation, shape: Shape) -> list[tuple[str, Flag]]:
    """The PCI rules and resource-tree rules, by name, in a fixed order."""
    sibling = ops.negate(sc.relation_is(ops, Relation.OUTSIDE_PARENT))
    later = sc.relation_is(ops, Relation.LATER_SIBLING)
    outside = sc.relation_is(ops, Relation.OUTSIDE_PARENT)
    bar_range = sit.bar.range(ops)
    named = [(rule.name, rule.holds) for rule in bar_rules(ops, sit.bar)]
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


def outcome_facts(sit: Situation) -> list[tuple[str, object]]:
    return [
        ("mmappable", sit.first.mmappable),
        ("dummy_held", sit.first.dummy_held),
        ("dummy_start", sit.first.dummy.first),
        ("dummy_end", sit.first.dummy.last),
        ("window_start", sit.window.first),
        ("window_end", sit.window.last),
    ]
