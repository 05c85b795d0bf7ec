"""kernel/resource.c request semantics, written against `Ops`.

Source: torvalds/linux kernel/resource.c @ 0092908d16c6, __request_resource():
the new resource fails if `end < start`, `start < root->start` or
`end > root->end`; otherwise it fails on the first direct child it overlaps
(busy or not; grandchildren are never examined).  request_resource() turns
that conflict into -EBUSY.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from model.ops import Flag, Ops
from model.ranges import Range, contains, is_nonempty, overlaps


@dataclass(frozen=True, slots=True)
class Child:
    """A direct child of a parent resource; `present` says whether it exists now."""

    range: Range
    present: Flag


def fits_in_parent(ops: Ops, parent: Range, new: Range) -> Flag:
    return ops.all_of(is_nonempty(ops, new), contains(ops, parent, new))


def request_resource(ops: Ops, parent: Range, children: Sequence[Child], new: Range) -> Flag:
    """True when request_resource(parent, new) succeeds, i.e. returns 0."""
    free = [ops.implies(child.present, ops.negate(overlaps(ops, child.range, new))) for child in children]
    return ops.all_of(fits_in_parent(ops, parent, new), *free)
