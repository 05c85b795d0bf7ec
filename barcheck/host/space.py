"""Free space under a parent resource, and the slots a newly placed BAR could take there."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Iterable

from barcheck.host.intervals import MaxTree
from barcheck.host.tree import TOP_BYTES, Node, Scope, Tree

MIN_BAR_BYTES = 16
"""The smallest memory BAR (PCI 3.0 6.2.5.1): what a hot-added device needs at least."""

Gap = tuple[int, int]


def parent_range(tree: Tree, node: Node) -> tuple[int, int]:
    parent = tree.node(tree.parent[node.key])
    return (0, TOP_BYTES) if parent is None else (parent.first, parent.last)


def pages_of(start: int, size_bytes: int, page_bytes: int) -> tuple[int, int]:
    """The first and last byte of the pages a range [start, start + size_bytes) touches."""
    first = start - start % page_bytes
    return first, min(-(-(start + size_bytes) // page_bytes) * page_bytes - 1, TOP_BYTES)


def free_gaps(first: int, last: int, taken: Iterable[Node]) -> list[Gap]:
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


def first_slots(gap: Gap, size_bytes: int, align_bytes: int, limit: int = 2) -> list[int]:
    """The first `limit` starts, multiples of the alignment, where size_bytes fit inside the gap."""
    start = -(-gap[0] // align_bytes) * align_bytes
    slots: list[int] = []
    while len(slots) < limit and start + size_bytes - 1 <= gap[1]:
        slots.append(start)
        start += align_bytes
    return slots


def slot_order(home: int):
    """Nearest `home` first, the lower start on a tie."""
    return lambda slot: (abs(slot - home), slot)


class FreeSpace:
    """The free gaps under one parent once all its direct children are in place, indexed by position and width."""

    def __init__(self, first: int, last: int, children: list[Node]) -> None:
        self.gaps = free_gaps(first, last, children)
        self._starts = [gap[0] for gap in self.gaps]
        self._widths = MaxTree([gap[1] - gap[0] + 1 for gap in self.gaps])

    def left_of(self, position: int) -> int:
        """How many gaps start before `position`."""
        return bisect_left(self._starts, position)

    def containing(self, position: int) -> Gap | None:
        index = bisect_right(self._starts, position) - 1
        if index >= 0 and self.gaps[index][1] >= position:
            return self.gaps[index]
        return None

    def wide_right(self, index: int, width: int) -> int | None:
        """The first gap at or after `index` at least `width` bytes wide."""
        found = self._widths.next_at_least(index, width)
        return None if found is None or found >= len(self.gaps) else found

    def wide_left(self, index: int, width: int) -> int | None:
        """The last gap at or before `index` at least `width` bytes wide."""
        return None if index < 0 else self._widths.previous_at_least(index, width)


def free_space(tree: Tree, scope: Scope, node: Node) -> FreeSpace:
    """The free space of the node's parent with every child in place (cached per parent)."""
    key = ("free-space", scope)
    if key not in tree.memo:
        first, last = parent_range(tree, node)
        tree.memo[key] = FreeSpace(first, last, tree.scope_index(scope).items)
    return tree.memo[key]


def least_distance(gap: Gap, size_bytes: int, home: int) -> int:
    """A lower bound on the distance from `home` of any start in the gap where size_bytes fit, which
    grows with every gap farther from `home` on the same side (so a walk outward may stop at it)."""
    if gap[0] >= home:
        return gap[0] - home
    return max(0, home - (gap[1] - size_bytes + 1))


def nearest_free_slots(tree: Tree, node: Node, size_bytes: int, align_bytes: int, count: int) -> list[int]:
    """The `count` starts nearest the node's own among: the first two aligned slots of every free gap
    of its parent once the node itself has left, and the first two from its aligned-down start on.

    The gaps far from the node are the parent's free space with every child in place; only the
    node's own range and the gaps next to it change when it leaves."""
    space = free_space(tree, tree.scope(node.key), node)
    middle, left_end, right_start = _gaps_around(tree, space, node)
    home = node.first - node.first % align_bytes
    found = {slot for gap in middle for slot in first_slots(gap, size_bytes, align_bytes)}
    home_gap = next((gap for gap in middle if gap[0] <= home <= gap[1]), None) or space.containing(home)
    if home_gap is not None:
        found.update(first_slots((home, home_gap[1]), size_bytes, align_bytes))
    order = slot_order(node.first)

    def enough(gap: Gap) -> bool:
        if len(found) < count:
            return False
        worst = sorted(found, key=order)[count - 1]
        return least_distance(gap, size_bytes, node.first) > abs(worst - node.first)

    start = right_start
    while (index := space.wide_right(start, size_bytes)) is not None and not enough(space.gaps[index]):
        found.update(first_slots(space.gaps[index], size_bytes, align_bytes))
        start = index + 1
    start = left_end - 1
    while (index := space.wide_left(start, size_bytes)) is not None and not enough(space.gaps[index]):
        found.update(first_slots(space.gaps[index], size_bytes, align_bytes))
        start = index - 1
    return sorted(found, key=order)[:count]


def _gaps_around(tree: Tree, space: FreeSpace, node: Node) -> tuple[list[Gap], int, int]:
    """The gaps the node's leaving opens (merged with the free gaps that touch it), and the indices
    of the parent's gaps left of them (below left_end) and right of them (from right_start)."""
    others = tree.siblings_overlapping(node.key, node.first, node.last)
    middle = free_gaps(node.first, node.last, others)
    left_end = right_start = space.left_of(node.first)
    gaps = space.gaps
    if middle and middle[0][0] == node.first and left_end and gaps[left_end - 1][1] == node.first - 1:
        left_end -= 1
        middle[0] = (gaps[left_end][0], middle[0][1])
    if middle and middle[-1][1] == node.last and right_start < len(gaps) and gaps[right_start][0] == node.last + 1:
        middle[-1] = (middle[-1][0], gaps[right_start][1])
        right_start += 1
    return middle, left_end, right_start


class Carving:
    """Free gaps of one parent that shrink as whole resources are placed in them."""

    def __init__(self, gaps: list[Gap]) -> None:
        self.gaps = list(gaps)
        self._starts = [gap[0] for gap in self.gaps]

    def nearest_slot(self, home: int, size_bytes: int, align_bytes: int) -> int | None:
        """The slot nearest `home` among the first two aligned slots of every gap and the first two
        from `home` aligned down on, in the gap that holds it."""
        order = slot_order(home)
        aligned_home = home - home % align_bytes
        best: int | None = None
        split = bisect_left(self._starts, home)
        for indices in (range(split, len(self.gaps)), range(split - 1, -1, -1)):
            for index in indices:
                gap = self.gaps[index]
                if best is not None and least_distance(gap, size_bytes, home) > abs(best - home):
                    break
                slots = first_slots(gap, size_bytes, align_bytes)
                if gap[0] <= aligned_home <= gap[1]:
                    slots += first_slots((aligned_home, gap[1]), size_bytes, align_bytes)
                for slot in slots:
                    if best is None or order(slot) < order(best):
                        best = slot
        return best

    def take(self, first: int, last: int) -> None:
        """Remove [first, last], which lies inside one gap."""
        index = bisect_right(self._starts, first) - 1
        lo, hi = self.gaps[index]
        pieces = [piece for piece in ((lo, first - 1), (last + 1, hi)) if piece[0] <= piece[1]]
        self.gaps[index:index + 1] = pieces
        self._starts[index:index + 1] = [piece[0] for piece in pieces]
