"""Range queries over a machine's resources, in time that grows with the answer, not with the machine.

`MaxTree` keeps the maxima of a fixed list of numbers (a segment tree), so that the entries at least
a threshold can be found without looking at the others.  `IntervalIndex` uses it over the ends of
ranges sorted by start: the ranges that overlap [first, last] are those that start at or before
`last` (a prefix, by bisection) and end at or after `first` (found through the maxima, or by
bisection too when no range ends before an earlier one, as siblings that do not overlap).  Ranges
may overlap or nest; the answer is exact either way.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Generic, Iterable, Protocol, TypeVar


class MaxTree:
    """A fixed list of non-negative ints; finds the positions whose value is at least a threshold."""

    def __init__(self, values: list[int]) -> None:
        self.count = len(values)
        self._leaves = 1
        while self._leaves < self.count:
            self._leaves *= 2
        tree = [-1] * (2 * self._leaves)
        tree[self._leaves:self._leaves + self.count] = values
        for node in range(self._leaves - 1, 0, -1):
            tree[node] = max(tree[2 * node], tree[2 * node + 1])
        self._max = tree

    def at_least(self, end: int, threshold: int) -> list[int]:
        """Every position below `end` whose value is at least `threshold`, ascending."""
        found: list[int] = []
        stack = [(1, 0, self._leaves)]
        while stack:
            node, lo, hi = stack.pop()
            if lo >= end or self._max[node] < threshold:
                continue
            if hi - lo == 1:
                found.append(lo)
                continue
            mid = (lo + hi) // 2
            stack.append((2 * node + 1, mid, hi))
            stack.append((2 * node, lo, mid))
        return found

    def next_at_least(self, start: int, threshold: int) -> int | None:
        """The first position at or after `start` whose value is at least `threshold`."""
        stack = [(1, 0, self._leaves)]
        while stack:
            node, lo, hi = stack.pop()
            if hi <= start or self._max[node] < threshold:
                continue
            if hi - lo == 1:
                return lo
            mid = (lo + hi) // 2
            stack.append((2 * node + 1, mid, hi))
            stack.append((2 * node, lo, mid))
        return None

    def previous_at_least(self, stop: int, threshold: int) -> int | None:
        """The last position at or before `stop` whose value is at least `threshold`."""
        stack = [(1, 0, self._leaves)]
        while stack:
            node, lo, hi = stack.pop()
            if lo > stop or self._max[node] < threshold:
                continue
            if hi - lo == 1:
                return lo
            mid = (lo + hi) // 2
            stack.append((2 * node, lo, mid))
            stack.append((2 * node + 1, mid, hi))
        return None


class Ranged(Protocol):
    # Read-only, so that frozen dataclasses satisfy it.
    @property
    def first(self) -> int: ...

    @property
    def last(self) -> int: ...

    @property
    def key(self) -> int: ...


T = TypeVar("T", bound=Ranged)


class IntervalIndex(Generic[T]):
    """Items with `first`, `last` and `key`, sorted once; which of them overlap a range."""

    def __init__(self, items: Iterable[T]) -> None:
        self.items: list[T] = sorted(items, key=lambda item: (item.first, item.last, item.key))
        self._firsts = [item.first for item in self.items]
        lasts = [item.last for item in self.items]
        self._sorted_lasts = lasts if all(a <= b for a, b in zip(lasts, lasts[1:])) else None
        self._lasts = MaxTree(lasts) if self._sorted_lasts is None else None

    def overlapping(self, first: int, last: int) -> list[T]:
        """The items with a byte in [first, last], by start."""
        end = bisect_right(self._firsts, last)
        if self._sorted_lasts is not None:
            return self.items[bisect_left(self._sorted_lasts, first, 0, end):end]
        assert self._lasts is not None
        return [self.items[i] for i in self._lasts.at_least(end, first)]
