"""A dump's BAR as the model's `Bar`, and the policy's probe of it under a parent with given children."""

from __future__ import annotations

from typing import Iterable

from barcheck.hostcheck.space import parent_range
from barcheck.hostcheck.tree import Node, Tree
from model.ops import ConcreteOps
from model.pci import Bar
from model.policies import Policy, ProbeOutcome, ProbeRequest
from model.ranges import Range
from model.resource_tree import Child

OPS = ConcreteOps(64)


def to_model_bar(node: Node, start: int | None = None, size_bytes: int | None = None) -> Bar:
    """The BAR as vfio-pci sees it; an unknown index (/proc/iomem) is taken as BAR0."""
    bar = node.bar
    index = 0 if bar.index is None else bar.index
    return Bar(index, int(bar.kind), bar.prefetchable, node.first if start is None else start,
               bar.size_bytes if size_bytes is None else size_bytes)


def probe_among(policy: Policy, page_bytes: int, bar: Bar, parent: tuple[int, int],
                children: Iterable[tuple[int, int]]) -> ProbeOutcome:
    kids = tuple(Child(Range(first, last), True) for first, last in children)
    return policy.probe(OPS, ProbeRequest(page_bytes, bar, Range(*parent), kids))


def probe(policy: Policy, tree: Tree, node: Node, page_bytes: int, bar: Bar) -> ProbeOutcome:
    """The probe with the node's parent in the dump's tree and the parent's other children."""
    siblings = ((s.first, s.last) for s in tree.siblings(node.key))
    return probe_among(policy, page_bytes, bar, parent_range(tree, node), siblings)
