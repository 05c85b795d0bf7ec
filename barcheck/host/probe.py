"""A dump's BAR as the model's `Bar`, and the policy's probe of it under a parent with given children.

A parent may have thousands of children, so the probe is first asked with none, then with the
children that overlap the dummy it requested.  For the built-in policies that gives the same
outcome as asking with all of them: their probe reads the children only through
request_resource() of the dummy (model/policies/linux.py), whose range does not depend on the
children, and a child that does not overlap the requested range cannot make it fail, while
any child can only make it fail (model/resource_tree.py).  A policy from elsewhere is asked
with every child.
"""

from __future__ import annotations

from typing import Callable, Iterable

from barcheck.host.space import parent_range
from barcheck.host.tree import Node, Tree
from model.ops import ConcreteOps
from model.pci import Bar
from model.policies import Policy, ProbeOutcome, ProbeRequest
from model.policies.composed import Configured
from model.ranges import Range
from model.resource_tree import Child

OPS = ConcreteOps(64)
Span = tuple[int, int]


def to_model_bar(node: Node, start: int | None = None, size_bytes: int | None = None) -> Bar:
    """The BAR as vfio-pci sees it; an unknown index (/proc/iomem) is taken as BAR0."""
    bar = node.dump_bar
    index = 0 if bar.index is None else bar.index
    return Bar(index, int(bar.kind), bar.prefetchable, node.first if start is None else start,
               bar.size_bytes if size_bytes is None else size_bytes)


def probe_among(policy: Policy, page_bytes: int, bar: Bar, parent: Span, children: Iterable[Span],
                memo: dict | None = None) -> ProbeOutcome:
    """The policy's probe; with a memo, each distinct question is put to the model once."""
    spans = tuple(children)
    key = ("probe", policy, page_bytes, bar, parent, spans)
    if memo is not None and key in memo:
        return memo[key]
    kids = tuple(Child(Range(first, last), True) for first, last in spans)
    outcome = policy.probe(OPS, ProbeRequest(page_bytes, bar, Range(*parent), kids))
    if memo is not None:
        memo[key] = outcome
    return outcome


def probe_near(policy: Policy, page_bytes: int, bar: Bar, parent: Span, children_in: Callable[[int, int], list[Span]],
               all_children: Callable[[], list[Span]], memo: dict | None = None) -> ProbeOutcome:
    """The probe, given the children that overlap a range and, when needed, all of them."""
    if not _built_in(policy):
        return probe_among(policy, page_bytes, bar, parent, all_children(), memo)
    alone = probe_among(policy, page_bytes, bar, parent, (), memo)
    if not alone.dummy_held:
        return alone
    near = children_in(alone.dummy.first, alone.dummy.last)
    if not near:
        return alone
    among = probe_among(policy, page_bytes, bar, parent, near, memo)
    if (among.dummy.first, among.dummy.last) != (alone.dummy.first, alone.dummy.last):
        return probe_among(policy, page_bytes, bar, parent, all_children(), memo)
    return among


def probe(policy: Policy, tree: Tree, node: Node, page_bytes: int, bar: Bar) -> ProbeOutcome:
    """The probe with the node's parent in the dump's tree and the parent's other children."""
    return probe_near(policy, page_bytes, bar, parent_range(tree, node),
                      lambda first, last: [(s.first, s.last) for s in tree.siblings_overlapping(node.key, first, last)],
                      lambda: [(s.first, s.last) for s in tree.siblings(node.key)], tree.memo)


def mmap_window(policy: Policy, bar: Bar, page_bytes: int, memo: dict) -> Range:
    """The bytes the largest permitted mmap of the BAR reaches, asked of the model once per question."""
    key = ("window", policy, bar, page_bytes)
    if key not in memo:
        memo[key] = policy.mmap_window(OPS, bar, page_bytes)
    return memo[key]


def _built_in(policy: Policy) -> bool:
    while type(policy) is Configured:
        policy = policy.base
    return type(policy).__module__.startswith("model.policies.")
