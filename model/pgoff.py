"""The vfio region offset encoding and the vm_pgoff split, written once against `Ops`.

Sources:
- include/linux/vfio_pci_core.h: `VFIO_PCI_OFFSET_SHIFT 40`,
  `VFIO_PCI_OFFSET_TO_INDEX(off) (off >> VFIO_PCI_OFFSET_SHIFT)`,
  `VFIO_PCI_INDEX_TO_OFFSET(index) ((u64)(index) << VFIO_PCI_OFFSET_SHIFT)`,
  `VFIO_PCI_OFFSET_MASK (((u64)(1) << VFIO_PCI_OFFSET_SHIFT) - 1)`.
- drivers/vfio/pci/vfio_pci_core.c vfio_pci_core_mmap() and vma_to_pfn()
  (gregkh/linux@1129c0011b90): `index = vma->vm_pgoff >> (VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT)`,
  `pgoff = vma->vm_pgoff & ((1U << (VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT)) - 1)`.
- drivers/vfio/platform/vfio_platform_private.h uses the same 40-bit shift
  (`VFIO_PLATFORM_OFFSET_SHIFT 40`).

Offsets are in bytes, vm_pgoff and in-region offsets in pages.  The page
shift is a Python int: every check fixes one page size.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.ops import Ops, Word

OFFSET_SHIFT_BITS = 40
REGION_SPAN_BYTES = 1 << OFFSET_SHIFT_BITS
"""1 TiB: the file offsets one region index owns."""
BAR0_INDEX = 0
ROM_INDEX = 6
"""VFIO_PCI_ROM_REGION_INDEX: the first region vfio-pci never mmaps or zaps."""


def page_shift_of(page_bytes: int) -> int:
    if page_bytes <= 0 or page_bytes & (page_bytes - 1):
        raise ValueError(f"page size {page_bytes} is not a power of two")
    shift = page_bytes.bit_length() - 1
    if shift >= OFFSET_SHIFT_BITS:
        raise ValueError(f"page size {page_bytes:#x} is not below the 1 TiB region span")
    return shift


def region_pages_shift(page_shift: int) -> int:
    """`VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT`: bits of vm_pgoff below the region index."""
    return OFFSET_SHIFT_BITS - page_shift


def index_to_offset(ops: Ops, index: Word) -> Word:
    """VFIO_PCI_INDEX_TO_OFFSET: the file offset in bytes where a region starts."""
    return ops.shl(index, OFFSET_SHIFT_BITS)


def offset_to_index(ops: Ops, offset_bytes: Word) -> Word:
    """VFIO_PCI_OFFSET_TO_INDEX."""
    return ops.lshr(offset_bytes, OFFSET_SHIFT_BITS)


def offset_in_region(ops: Ops, offset_bytes: Word) -> Word:
    """`off & VFIO_PCI_OFFSET_MASK`."""
    return ops.bit_and(offset_bytes, ops.const(REGION_SPAN_BYTES - 1))


def file_offset(ops: Ops, index: Word, in_region_bytes: Word) -> Word:
    """The mmap offset a user passes for byte `in_region_bytes` of region `index`."""
    return ops.add(index_to_offset(ops, index), in_region_bytes)


def region_pgoff(ops: Ops, index: Word, in_region_pages: Word, page_shift: int) -> Word:
    """vm_pgoff as mmap(2) sets it: the file offset in pages."""
    return ops.add(ops.shl(index, region_pages_shift(page_shift)), in_region_pages)


@dataclass(frozen=True, slots=True)
class PgoffSplit:
    index: Word
    in_region_pages: Word


def split_pgoff(ops: Ops, vm_pgoff: Word, page_shift: int) -> PgoffSplit:
    """What vfio_pci_core_mmap() and vma_to_pfn() derive from vm_pgoff."""
    shift = region_pages_shift(page_shift)
    return PgoffSplit(ops.lshr(vm_pgoff, shift), ops.bit_and(vm_pgoff, ops.const((1 << shift) - 1)))


def zap_end_pgoff(page_shift: int) -> int:
    """vfio_pci_zap_bars(): unmap_mapping_range over file offsets
    [INDEX_TO_OFFSET(BAR0), INDEX_TO_OFFSET(ROM)), here as the first page past it."""
    return (ROM_INDEX << OFFSET_SHIFT_BITS) >> page_shift
