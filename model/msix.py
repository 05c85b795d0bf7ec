"""The MSI-X table inside its BAR, the platform's MSI isolation, and vfio's admission rule.

Offsets are in-region: byte 0 is the BAR's first byte, as in the file
offsets vfio-pci decodes.  Sources (repository @ commit of the copy read):
- vfio_pci_enable(), drivers/vfio/pci/vfio_pci.c (WindRiver-Labs/kernel-4.8.x
  @a3c9595e75bd): `msix_bar = table & PCI_MSIX_TABLE_BIR; msix_offset = table &
  PCI_MSIX_TABLE_OFFSET; msix_size = ((flags & PCI_MSIX_FLAGS_QSIZE) + 1) * 16`.
  PCI_MSIX_TABLE_OFFSET is 0xfffffff8 and QSIZE is 11 bits: 1 to 2048 entries.
- msix_sparse_mmap_cap(), same copy: area [0, msix_offset & PAGE_MASK) when
  that is non-zero, and [PAGE_ALIGN(msix_offset + msix_size), end) with end =
  pci_resource_len() when that is shorter than end.
- vfio_pci_bar_rw(), drivers/vfio/pci/vfio_pci_rdwr.c (torvalds/linux
  @0604aa87b098): reads and writes skip [msix_offset, msix_offset + msix_size)
  in every version, so an mmap is the only direct way to the table.
- vfio_iommu_type1_attach_group(), drivers/vfio/vfio_iommu_type1.c: without
  `irq_domain_check_msi_remap() || iommu_capable(bus, IOMMU_CAP_INTR_REMAP)`
  (torvalds/linux @009b982d9c59), later `iommu_group_has_isolated_msi()`, the
  group is refused with -EPERM ("No interrupt remapping support") unless the
  module parameter allow_unsafe_interrupts (default false) is set.
  iommufd_device_bind(), drivers/iommu/iommufd/device.c (torvalds/linux
  @03c9b102bea6), has the same parameter and -EPERM.
- drivers/vfio/vfio_iommu_spapr_tce.c has no such check (torvalds/linux
  @00663d4ee05d and a v6.x copy); POWER IODA host bridges filter MSIs per PE,
  the basis of seed 004, so the model counts such a platform as isolating.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.ops import Flag, Ops, Word
from model.ranges import Range, align_down, align_up, fits, span

MSIX_ENTRY_BYTES = 16
MSIX_MAX_ENTRIES = 2048
TABLE_OFFSET_ALIGN_BYTES = 8
PCIE_MSIX_ISOLATION_BYTES = 4096
"""PCIe 6.1 section 7.7.2: nothing else usable shares a naturally aligned 4 KiB range with the MSI-X structures."""


@dataclass(frozen=True, slots=True)
class MsixLayout:
    """The MSI-X BAR and the table in it."""

    bar_size_bytes: Word
    table_offset_bytes: Word
    table_entries: Word

    def table_bytes(self, ops: Ops) -> Word:
        return ops.shl(self.table_entries, 4)

    def table(self, ops: Ops) -> Range:
        """[msix_offset, msix_offset + msix_size - 1]."""
        return span(ops, self.table_offset_bytes, self.table_bytes(ops))

    def table_end(self, ops: Ops) -> Word:
        """msix_offset + msix_size: the first byte after the table."""
        return ops.add(self.table_offset_bytes, self.table_bytes(ops))

    def table_isolation_range(self, ops: Ops) -> Range:
        """The naturally aligned 4 KiB ranges the table touches (nothing else usable lives there).

        Below 13-bit words (the reduced-width cross-checks) the granule is the top bit's value.
        """
        granule = PCIE_MSIX_ISOLATION_BYTES if fits(ops, 2 * PCIE_MSIX_ISOLATION_BYTES) else 1 << (ops.width - 1)
        four_k = ops.const(granule)
        first = align_down(ops, self.table_offset_bytes, four_k)
        return Range(first, ops.sub(align_up(ops, self.table_end(ops), four_k), ops.const(1)))


@dataclass(frozen=True, slots=True)
class Platform:
    msi_isolated: Flag
    """The IOMMU isolates MSIs (interrupt remapping, IOMMU_CAP_INTR_REMAP, an isolated-MSI irq domain)."""
    allow_unsafe_interrupts: Flag
    """vfio_iommu_type1 / iommufd module parameter allow_unsafe_interrupts (default 0)."""


def vfio_admits(ops: Ops, platform: Platform) -> Flag:
    """The IOMMU backend attaches the group: MSIs are isolated, or the administrator allowed unsafe interrupts."""
    return ops.any_of(platform.msi_isolated, platform.allow_unsafe_interrupts)


@dataclass(frozen=True, slots=True)
class MsixMmap:
    """One mmap request on the MSI-X BAR, as vfio_pci_mmap() sees it (req_start, req_len)."""

    page_bytes: Word
    layout: MsixLayout
    platform: Platform
    req_start_bytes: Word
    req_len_bytes: Word

    def request(self, ops: Ops) -> Range:
        return span(ops, self.req_start_bytes, self.req_len_bytes)


def table_untouched(ops: Ops, req: MsixMmap) -> Flag:
    """`req_start >= msix_offset + msix_size || req_start + req_len <= msix_offset`."""
    layout = req.layout
    return ops.any_of(ops.uge(req.req_start_bytes, layout.table_end(ops)),
                      ops.ule(ops.add(req.req_start_bytes, req.req_len_bytes), layout.table_offset_bytes))


@dataclass(frozen=True, slots=True)
class Area:
    """One mmap area advertised to userspace (a sparse-mmap area, or the whole BAR)."""

    present: Flag
    first: Word
    end: Word
    """One past the last byte (the kernel's offset + size)."""


def sparse_areas(ops: Ops, page_bytes: Word, layout: MsixLayout) -> tuple[Area, Area]:
    """msix_sparse_mmap_cap(): [0, msix_offset & PAGE_MASK) and [PAGE_ALIGN(msix_offset + msix_size), BAR end)."""
    start = align_down(ops, layout.table_offset_bytes, page_bytes)
    end = align_up(ops, layout.table_end(ops), page_bytes)
    bar_end = layout.bar_size_bytes
    return (Area(ops.ne(start, ops.const(0)), ops.const(0), start),
            Area(ops.ult(end, bar_end), end, bar_end))


def whole_bar(ops: Ops, layout: MsixLayout) -> tuple[Area]:
    """The whole BAR (VFIO_REGION_INFO_CAP_MSIX_MAPPABLE: "the entire BAR can be mmapped")."""
    return (Area(ops.true(), ops.const(0), layout.bar_size_bytes),)


def area_bytes_in_bar(ops: Ops, area: Area, bar_size_bytes: Word) -> Word:
    """How many bytes of [0, BAR size) the area covers (0 when absent or empty)."""
    end = ops.ite(ops.ule(area.end, bar_size_bytes), area.end, bar_size_bytes)
    nonempty = ops.all_of(area.present, ops.ult(area.first, end))
    return ops.ite(nonempty, ops.sub(end, area.first), ops.const(0))


def in_area(ops: Ops, area: Area, offset_bytes: Word) -> Flag:
    return ops.all_of(area.present, ops.ule(area.first, offset_bytes), ops.ult(offset_bytes, area.end))
