"""Free space under a parent resource, and the slots a newly placed BAR could take there."""

from __future__ import annotations

from typing import Iterable

from barcheck.hostcheck.tree import TOP_BYTES, Node, Tree

MIN_BAR_BYTES = 16
"""The smallest memory BAR (PCI 3.0 6.2.5.1): what a hot-added device needs at least."""


def parent_range(tree: Tree, node: Node) -> tuple[int, int]:
    parent = tree.node(tree.parent[node.key])
    return (0, TOP_BYTES) if parent is None else (parent.first, parent.last)


def free_gaps(first: int, last: int, taken: Iterable[Node]) -> list[tuple[int, int]]:
    """The maximal ranges of [first, last] that no node in `taken` covers."""
    gaps, cursor = [], first
    for node in sorted(taken, key=lambda n: (n.first, n.last)):
        if node.last < cursor or node.first > last:
            continue
        if node.first > cursor:
            gaps.append((cursor, node.first - 1))
        cursor = max(cursor, node.last + 1)
        if cursor > last:
            return gaps
    if cursor <= last:
        gaps.append((cursor, last))
    return gaps


def first_slots(gap: tuple[int, int], size_bytes: int, align_bytes: int, limit: int = 2) -> list[int]:
    """The first `limit` starts, multiples of the alignment, where size_bytes fit inside the gap."""
    start = -(-gap[0] // align_bytes) * align_bytes
    slots = []
    while len(slots) < limit and start + size_bytes - 1 <= gap[1]:
        slots.append(start)
        start += align_bytes
    return slots
