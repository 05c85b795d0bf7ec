"""The resource the PCI core makes of one BAR under an alignment configuration.

Written once against `Ops`.  The order is the kernel's: the header fixups
(quirk_extend_bar_to_page) run in pci_device_add() just before
pci_reassigndev_resource_alignment(), which then applies
pci_specified_resource_alignment()'s answer to every MEM BAR that is smaller
than it.  Sources are listed in model/policies/alignment.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.ops import Flag, Ops, Word
from model.pci import Bar, BarKind, is_standard_slot, kind_is
from model.policies.alignment import PciCore, specified_alignment


@dataclass(frozen=True, slots=True)
class Realigned:
    resource: Bar
    """The BAR as its struct resource: what vfio-pci's probe and mmap see."""
    requested_align: Word
    """The alignment asked beyond the natural one, 0 when none (resize, STARTALIGN or the quirk)."""
    grown: Flag
    """The resource was enlarged (the resize path or the quirk): it keeps IORESOURCE_SIZEALIGN."""
    startalign: Flag
    """Only the start was aligned (IORESOURCE_STARTALIGN); the size is the hardware size."""
    realloc_align: Word
    """resource_alignment() after a bridge-window release; 0 means "bogus alignment", not reassigned."""


def realign(ops: Ops, core: PciCore, bar: Bar, function: Flag, page_bytes: Word) -> Realigned:
    """`function`: the BAR belongs to an ordinary function (not a VF, host bridge or fixed BAR)."""
    size = bar.size_bytes
    mem = kind_is(ops, bar, BarKind.MEM32, BarKind.MEM64, BarKind.ROM)
    quirk = _quirk_applies(ops, core, bar, function, page_bytes)
    size = ops.ite(quirk, page_bytes, size)
    request = specified_alignment(ops, core, page_bytes, named=True)
    applies = ops.all_of(function, mem, ops.ne(request.align, ops.const(0)), ops.ult(size, request.align))
    resize = ops.all_of(applies, request.resize)
    startalign = ops.all_of(applies, ops.negate(request.resize))
    resource_size = ops.ite(resize, request.align, size)
    resource = Bar(bar.index, bar.kind, bar.prefetchable, bar.start_bytes, resource_size)
    requested = ops.ite(applies, request.align, ops.ite(quirk, page_bytes, ops.const(0)))
    grown = ops.any_of(quirk, resize)
    kept = request.align if core.restores_alignment else ops.const(0)
    realloc = ops.ite(startalign, kept, resource_size)
    return Realigned(resource, requested, grown, startalign, realloc)


def _quirk_applies(ops: Ops, core: PciCore, bar: Bar, function: Flag, page_bytes: Word) -> Flag:
    """quirk_extend_bar_to_page(): BAR0-5 with IORESOURCE_MEM and `resource_size(r) < PAGE_SIZE`."""
    if not core.extends_to_page:
        return ops.false()
    mem = kind_is(ops, bar, BarKind.MEM32, BarKind.MEM64)
    return ops.all_of(function, is_standard_slot(ops, bar), mem, ops.ult(bar.size_bytes, page_bytes))


def others_align(ops: Ops, core: PciCore, page_bytes: Word) -> Word:
    """The alignment every other function's sub-alignment BAR is sure to get, 0 when none.

    Another function gets the default, unless the parameter names it too and
    gives it its own (possibly smaller) alignment; so the smaller of the two.
    """
    default = specified_alignment(ops, core, page_bytes, named=False).align
    if core.parameter_bytes is None:
        return default
    named = specified_alignment(ops, core, page_bytes, named=True).align
    return ops.ite(ops.ult(named, default), named, default)
