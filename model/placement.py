"""Where the PCI core puts a BAR it assigns, written against `Ops`.

Source: kernel/resource.c __find_resource_space() (formerly __find_resource())
and allocate_resource(), reached from pci_assign_resource() ->
pci_bus_alloc_resource() with `align = resource_size` for a BAR
(IORESOURCE_SIZEALIGN).  The kernel walks the gaps between the parent's
children in address order and takes, in the first gap that fits, the start
ALIGN(gap_start, align).  That is the lowest aligned start whose span fits in
the parent and overlaps no child.  Such a start is either the aligned window
start or the aligned end+1 of some child (if s - align were also free, s would
not be lowest; if it is not free, the child it hits ends in [s - align, s)),
so first fit is the least feasible candidate among those n + 1 addresses.

Two modes:
- `first_fit`: exactly the kernel's choice (tested against the concrete
  allocator in model/iomem.py);
- `any_free`: any aligned free slot given by a free input, or failure.  Its
  behaviours include the kernel's, so a proof under it covers any first-fit
  variant (arch alignf hooks, other sort orders, other hot-plug drivers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from model.ops import Flag, Ops, Word
from model.ranges import Range, align_up, contains, is_aligned, last_below, overlaps, span
from model.units import GIB

FOUR_GIB = 4 * GIB
from model.resource_tree import Child

FIRST_FIT = "first-fit"
ANY_FREE = "any-free"
PLACEMENTS = (FIRST_FIT, ANY_FREE)


@dataclass(frozen=True, slots=True)
class Placement:
    ok: Flag
    start: Word


def slot_is_free(ops: Ops, parent: Range, children: Sequence[Child], start: Word, size: Word,
                 below_4g: bool = False) -> Flag:
    """[start, start+size-1] is aligned to size, does not wrap, fits, and overlaps no present child.

    `below_4g`: a 32-bit BAR; pci_bus_alloc_resource() caps `max` at
    PCIBIOS_MAX_MEM_32 unless the resource is IORESOURCE_MEM_64.
    """
    new = span(ops, start, size)
    clear = [ops.implies(c.present, ops.negate(overlaps(ops, c.range, new))) for c in children]
    cap = last_below(ops, new.last, FOUR_GIB) if below_4g else ops.true()
    return ops.all_of(is_aligned(ops, start, size), ops.ule(new.first, new.last),
                      contains(ops, parent, new), cap, *clear)


def _candidates(ops: Ops, parent: Range, children: Sequence[Child], size: Word) -> list[tuple[Flag, Word]]:
    top = ops.const((1 << ops.width) - 1)
    found = [(ops.ule(parent.first, align_up(ops, parent.first, size)), align_up(ops, parent.first, size))]
    for child in children:
        after = ops.add(child.range.last, ops.const(1))
        start = align_up(ops, after, size)
        valid = ops.all_of(child.present, ops.ne(child.range.last, top), ops.ule(after, start))
        found.append((valid, start))
    return found


def first_fit(ops: Ops, parent: Range, children: Sequence[Child], size: Word,
              below_4g: bool = False) -> Placement:
    """The lowest free start aligned to `size`, as allocate_resource() picks it."""
    ok, best = ops.false(), ops.const(0)
    for valid, start in _candidates(ops, parent, children, size):
        usable = ops.all_of(valid, slot_is_free(ops, parent, children, start, size, below_4g))
        better = ops.all_of(usable, ops.any_of(ops.negate(ok), ops.ult(start, best)))
        best = ops.ite(better, start, best)
        ok = ops.any_of(ok, usable)
    return Placement(ok, best)


def any_free(ops: Ops, parent: Range, children: Sequence[Child], size: Word, choice: Word,
             below_4g: bool = False) -> Placement:
    """The slot at `choice` if it is free, else an allocation failure."""
    ok = slot_is_free(ops, parent, children, choice, size, below_4g)
    return Placement(ok, choice)


def place(ops: Ops, mode: str, parent: Range, children: Sequence[Child], size: Word,
          choice: Word | None, below_4g: bool = False) -> Placement:
    if mode == FIRST_FIT:
        return first_fit(ops, parent, children, size, below_4g)
    if mode == ANY_FREE:
        if choice is None:
            raise ValueError("any-free placement needs a choice")
        return any_free(ops, parent, children, size, choice, below_4g)
    raise ValueError(f"unknown placement {mode!r} (known: {', '.join(PLACEMENTS)})")
