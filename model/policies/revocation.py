"""Kernel versions and proposals that differ in how mappings are populated and revoked.

Every one keeps linux-4.8's vfio_pci_probe_mmaps() rule and linux-4.16's
MSI-X rule, except vfio-platform, which is another bus driver with its own
mmap rule and no MSI-X.
"""

from __future__ import annotations

from model.ops import Ops, Word
from model.pci import Bar, is_memory
from model.policies.base import (PGOFF_REGION, POPULATE_AT_FAULT, REVOKE_MAPPING_RANGE, REVOKE_VMA_LIST,
                                 ProbeOutcome, ProbeRequest)
from model.policies.linux import Linux47, Linux48
from model.policies.msix import Linux416
from model.ranges import Range, is_aligned, span


class Linux58(Linux416):
    """The CVE-2020-12888 fix (v5.8): fault-driven mappings on a vma_list, zapped on revocation.

    11c4cd07ba11 "vfio-pci: Fault mmaps to enable vma tracking": mmap stores
    `vma->vm_pgoff = (pci_resource_start(pdev, index) >> PAGE_SHIFT) + pgoff`
    and no longer calls remap_pfn_range(); vfio_pci_mmap_fault() SIGBUSes
    while memory is disabled, else io_remap_pfn_range()s the whole vma and adds
    it to vdev->vma_list.  abafbc551fdd "vfio-pci: Invalidate mmaps and block
    MMIO access on disabled memory": vfio_pci_zap_and_vma_lock() zaps every
    vma on the list on COMMAND memory clear, reset, hot reset and D3hot.
    Present until v6.9 (verified in @c61302aa48f7 and @0886196ca881 per
    kernel-facts section 2.3).
    """

    name = "linux-5.8"
    title = "v5.8-v6.9: pfn in vm_pgoff, fault-populated vmas on a vma_list, every listed vma zapped on revocation"
    kernel_ref = Linux48.kernel_ref
    populates_at = POPULATE_AT_FAULT
    revokes_by = REVOKE_VMA_LIST
    revocation_ref = ("drivers/vfio/pci/vfio_pci.c vfio_pci_mmap(), vfio_pci_mmap_fault(), "
                      "vfio_pci_zap_and_vma_lock(): 11c4cd07ba11, abafbc551fdd (v5.8)")


class Linux610(Linux416):
    """aac6db75a9fc "vfio/pci: Use unmap_mapping_range()" (v6.10).

    vfio_pci_core_mmap() leaves vm_pgoff as the region encoding; vma_to_pfn()
    computes `(pci_resource_start(pdev, index) >> PAGE_SHIFT) + pgoff` from it
    in the fault handler; vfio_pci_zap_bars() calls unmap_mapping_range() on
    the device inode over file offsets [INDEX_TO_OFFSET(BAR0), INDEX_TO_OFFSET(ROM)).
    Read at gregkh/linux@1129c0011b90 drivers/vfio/pci/vfio_pci_core.c.
    """

    name = "linux-6.10"
    title = "v6.10+: region encoding kept in vm_pgoff, pfn computed at fault, unmap_mapping_range over BAR0-BAR5 offsets"
    kernel_ref = Linux48.kernel_ref
    pgoff_holds = PGOFF_REGION
    populates_at = POPULATE_AT_FAULT
    revokes_by = REVOKE_MAPPING_RANGE
    revocation_ref = ("drivers/vfio/pci/vfio_pci_core.c vfio_pci_core_mmap(), vma_to_pfn(), "
                      "vfio_pci_mmap_huge_fault(), vfio_pci_zap_bars() (aac6db75a9fc; gregkh/linux@1129c0011b90)")


class Rfc2021(Linux416):
    """The February 2021 RFC "vfio: Device memory DMA mapping improvements" (seed 002).

    Patch "vfio/pci: Use vfio_device_unmap_mapping_range()" replaced the
    vma_list with unmap_mapping_range() over
    [INDEX_TO_OFFSET(BAR0), INDEX_TO_OFFSET(ROM)) but kept
    `vma->vm_pgoff = (pci_resource_start(pdev, index) >> PAGE_SHIFT) + pgoff`.
    Jason Gunthorpe (lore 20210225000610.GP4247@nvidia.com): "Those three
    indexes are in the vm_pgoff numberspace and so vm_pgoff must always be
    set to the same thing".  Alex Williamson: it "only worked in testing
    because I mmap'd BAR0".
    """

    name = "rfc-2021"
    title = "2021 RFC: pfn in vm_pgoff, but unmap_mapping_range over the region-encoded BAR offsets"
    kernel_ref = Linux48.kernel_ref
    populates_at = POPULATE_AT_FAULT
    revokes_by = REVOKE_MAPPING_RANGE
    revocation_ref = ("[RFC PATCH 03/10] vfio/pci: Use vfio_device_unmap_mapping_range() (Alex Williamson, "
                      "22 Feb 2021); review lore 20210225000610.GP4247@nvidia.com")


class VfioPlatform(Linux47):
    """vfio-platform's (and fsl-mc's) mmap: pfn in vm_pgoff, remap_pfn_range() at mmap, no zap.

    drivers/vfio/platform/vfio_platform_common.c (gregkh/linux@f21636f24b67):
    vfio_platform_regions_init() sets VFIO_REGION_INFO_FLAG_MMAP only when
    `!(addr & ~PAGE_MASK) && !(size & ~PAGE_MASK)`; vfio_platform_mmap_mmio()
    rejects `region.size < PAGE_SIZE || req_start + req_len > region.size`,
    sets `vma->vm_pgoff = (region.addr >> PAGE_SHIFT) + pgoff` and calls
    remap_pfn_range(); VFIO_DEVICE_RESET calls the reset handler and zaps
    nothing.  A platform device has no COMMAND register, PM capability or
    bus reset.  The same pattern is in drivers/vfio/fsl-mc
    vfio_fsl_mc_mmap_mmio().
    """

    name = "vfio-platform"
    title = "vfio-platform / fsl-mc pattern: page-granular regions only, pfn in vm_pgoff, remap at mmap, no revocation"
    kernel_ref = ("drivers/vfio/platform/vfio_platform_common.c vfio_platform_regions_init(), "
                  "vfio_platform_mmap_mmio() (gregkh/linux@f21636f24b67)")
    has_command_register = False
    placed_by_pci_core = False
    has_msix = False
    revocation_ref = kernel_ref

    def probe(self, ops: Ops, req: ProbeRequest) -> ProbeOutcome:
        bar, page = req.bar, req.page_bytes
        mmappable = ops.all_of(is_memory(ops, bar), ops.uge(bar.size_bytes, page),
                               is_aligned(ops, bar.start_bytes, page), is_aligned(ops, bar.size_bytes, page))
        return ProbeOutcome(mmappable, ops.false(), Range(ops.const(0), ops.const(0)))

    def mmap_window(self, ops: Ops, bar: Bar, page_bytes: Word) -> Range:
        """The region itself: its start and size are page multiples whenever it is mmappable."""
        return span(ops, bar.start_bytes, bar.size_bytes)
