"""Policies that differ from linux-4.8 only in the MSI-X table's mmap rule."""

from __future__ import annotations

from model.msix import Area, MsixLayout, MsixMmap, Platform, sparse_areas, table_untouched, whole_bar
from model.ops import Flag, Ops, Word
from model.policies.linux import Linux48


class Linux416(Linux48):
    """a32295c612c5 "vfio-pci: Allow mapping MSIX BAR" (v4.16).

    The overlap check left vfio_pci_mmap(); msix_sparse_mmap_cap() became
    msix_mmappable_cap(), which adds VFIO_REGION_INFO_CAP_MSIX_MAPPABLE ("the
    entire BAR can be mmapped") whenever the MSI-X BAR is mmappable.  No
    IOMMU or interrupt-remapping condition; the read/write path still skips
    the table.  Read at Rtoax/linux-5.10.13@411c0a3d0374 (vfio_pci.c) and
    torvalds/linux@0886196ca881 (vfio_pci_core.c vfio_pci_core_mmap(), no
    MSI-X condition at all).
    """

    name = "linux-4.16"
    title = "v4.16-v5.7: linux-4.8's probe; the whole MSI-X BAR is mmappable (VFIO_REGION_INFO_CAP_MSIX_MAPPABLE)"
    msix_ref = ("drivers/vfio/pci/vfio_pci.c vfio_pci_mmap() and msix_mmappable_cap(), a32295c612c5 (v4.16); "
                "vfio_pci_core.c vfio_pci_core_mmap() at torvalds/linux@0886196ca881")

    def msix_mmap_ok(self, ops: Ops, req: MsixMmap) -> Flag:
        return ops.true()

    def msix_areas(self, ops: Ops, page_bytes: Word, layout: MsixLayout, platform: Platform) -> tuple[Area, ...]:
        return whole_bar(ops, layout)


class MsixRemap2016(Linux48):
    """Yongji Xie's 2016 series (seed 004), patch "vfio-pci: Allow to mmap MSI-X table if
    IOMMU_CAP_INTR_REMAP was set": the table may be mmapped only when the IOMMU
    remaps interrupts; otherwise the v3.6-v4.15 exclusion stays.  Based on
    linux-4.8's sub-page probe (the series' patch 5).  Never merged upstream.
    The form read is the IBM OpenPOWER backport (open-power-host-os/linux
    @2edb74537d44, vfio_pci_mmap(), msix_sparse_mmap_cap() and vfio_pci_bar_rw()),
    gated on the bus flag PCI_BUS_FLAGS_MSI_REMAP instead of the IOMMU
    capability; the IOMMU_CAP_INTR_REMAP text of v4 was not found.  Both mean
    "the platform isolates MSIs", which is what the model tests.
    """

    name = "msix-remap-2016"
    title = "2016 proposal: the MSI-X table is mmappable only with interrupt remapping (IOMMU_CAP_INTR_REMAP)"
    kernel_ref = Linux48.kernel_ref
    msix_ref = ("[PATCH v4 6/7] vfio-pci: Allow to mmap MSI-X table if IOMMU_CAP_INTR_REMAP was set "
                "(Yongji Xie, March 2016, seed 004); read in the backport open-power-host-os/linux@2edb74537d44 "
                "drivers/vfio/pci/vfio_pci.c vfio_pci_mmap(); not merged upstream")

    def msix_mmap_ok(self, ops: Ops, req: MsixMmap) -> Flag:
        return ops.any_of(req.platform.msi_isolated, table_untouched(ops, req))

    def msix_areas(self, ops: Ops, page_bytes: Word, layout: MsixLayout, platform: Platform) -> tuple[Area, ...]:
        whole, = whole_bar(ops, layout)
        low, high = sparse_areas(ops, page_bytes, layout)
        isolated = platform.msi_isolated
        return (Area(ops.flag_ite(isolated, whole.present, low.present), ops.ite(isolated, whole.first, low.first),
                     ops.ite(isolated, whole.end, low.end)),
                Area(ops.all_of(ops.negate(isolated), high.present), high.first, high.end))
