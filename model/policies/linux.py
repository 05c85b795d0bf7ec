"""Kernel-version policies of the vfio-pci BAR mmap rule.

Sources (file, function, commit of the copy read):
- pre-sub-page vfio_pci_mmap(): drivers/vfio/pci/vfio_pci.c; the index holds no
  upstream copy older than 4.8, so it was read in the 3.18-based
  MoKee/android_kernel_nubia_msm8996 @ 722ccb830c36 (same lines in
  LineageOS/android_kernel_samsung_k3gxx @ 4fdad67a55c9).
- vfio_pci_probe_mmaps() and the PAGE_ALIGN mmap: drivers/vfio/pci/vfio_pci.c,
  upstream 05f0c03fbac1 "vfio-pci: Allow to mmap sub-page MMIO BARs if the mmio
  page is exclusive", read at torvalds/linux @ 01be83eea08d; unchanged in
  drivers/vfio/pci/vfio_pci_core.c (gregkh/linux @ 1129c0011b90), where
  vma_to_pfn() computes the pfn as `(pci_resource_start >> PAGE_SHIFT) + pgoff`.
"""

from __future__ import annotations

from model.ops import Flag, Ops, Word
from model.msix import Area, MsixLayout, MsixMmap, Platform, sparse_areas, table_untouched
from model.pci import Bar, is_memory, is_standard_slot
from model.policies.base import Policy, ProbeOutcome, ProbeRequest
from model.ranges import Range, align_down, align_up, is_aligned, span
from model.resource_tree import Child, request_resource


class Linux47(Policy):
    """vfio_pci_mmap() before sub-page support: only BARs of at least a page.

    `if (!(pci_resource_flags(pdev, index) & IORESOURCE_MEM)) return -EINVAL;`
    `phys_len = pci_resource_len(pdev, index);`
    `if (phys_len < PAGE_SIZE || req_start + req_len > phys_len) return -EINVAL;`
    `vma->vm_pgoff = (pci_resource_start(pdev, index) >> PAGE_SHIFT) + pgoff;`
    """

    name = "linux-4.7"
    title = "vfio-pci before sub-page mmap: a BAR is mmappable only when size >= PAGE_SIZE"
    kernel_ref = (
        "drivers/vfio/pci/vfio_pci.c vfio_pci_mmap() before 05f0c03fbac1 "
        "(read at MoKee/android_kernel_nubia_msm8996@722ccb830c36, 3.18-based)"
    )
    revocation_ref = ("drivers/vfio/pci/vfio_pci.c vfio_pci_mmap(): vm_pgoff = (pci_resource_start >> PAGE_SHIFT) "
                      "+ pgoff and remap_pfn_range() at mmap; nothing is zapped before v5.8 (CVE-2020-12888)")

    msix_ref = ("drivers/vfio/pci/vfio_pci.c vfio_pci_mmap() (MSI-X table overlap check, v3.6-v4.15) and "
                "msix_sparse_mmap_cap() (v4.6-v4.15), read at WindRiver-Labs/kernel-4.8.x@a3c9595e75bd")

    def msix_mmap_ok(self, ops: Ops, req: MsixMmap) -> Flag:
        """`if (index == vdev->msix_bar) { if (!(req_start >= msix_offset + msix_size ||
        req_start + req_len <= msix_offset)) return -EINVAL; }`: no request may touch the table."""
        return table_untouched(ops, req)

    def msix_areas(self, ops: Ops, page_bytes: Word, layout: MsixLayout, platform: Platform) -> tuple[Area, ...]:
        """The sparse-mmap areas around the page-rounded table."""
        return sparse_areas(ops, page_bytes, layout)

    def eligible(self, ops: Ops, bar: Bar) -> Flag:
        """BAR0-5 with IORESOURCE_MEM and a non-zero size; I/O BARs and the ROM never map."""
        return ops.all_of(
            is_standard_slot(ops, bar),
            is_memory(ops, bar),
            ops.ne(bar.size_bytes, ops.const(0)),
        )

    def whole_pages(self, ops: Ops, bar: Bar, page_bytes: Word) -> Flag:
        """`resource_size(res) >= PAGE_SIZE`."""
        return ops.uge(bar.size_bytes, page_bytes)

    def probe(self, ops: Ops, req: ProbeRequest) -> ProbeOutcome:
        mmappable = ops.all_of(self.eligible(ops, req.bar), self.whole_pages(ops, req.bar, req.page_bytes))
        return ProbeOutcome(mmappable, ops.false(), Range(ops.const(0), ops.const(0)))

    def mmap_window(self, ops: Ops, bar: Bar, page_bytes: Word) -> Range:
        """pfn = start >> PAGE_SHIFT; page-multiple requests with req_start + req_len <= len."""
        first = align_down(ops, bar.start_bytes, page_bytes)
        return span(ops, first, align_down(ops, bar.size_bytes, page_bytes))


class Linux48(Linux47):
    """vfio_pci_probe_mmaps(): sub-page BARs map when their page can be reserved.

    For BAR0-5: not IORESOURCE_MEM or size 0 -> no mmap; size >= PAGE_SIZE ->
    mmap; page-aligned start -> request a dummy "vfio sub-page reserved"
    [res->end + 1, res->start + PAGE_SIZE - 1] with request_resource(res->parent)
    and mmap iff it succeeds; otherwise no mmap.  vfio_pci_mmap() then allows
    `PAGE_ALIGN(pci_resource_len)` bytes from the page holding the BAR start.
    Runs once per enable (first open); the result is cached in
    bar_mmap_supported[] and the dummy is held until vfio_pci_disable().
    The issue contract names this `linux-4.8`; the stable tag of the later
    fix 16b8fe4caf49 reads "v4.7+", so the first release is not confirmed.
    """

    name = "linux-4.8"
    title = "vfio_pci_probe_mmaps: size >= PAGE_SIZE, or page-aligned sub-page BAR whose page remainder is reserved"
    kernel_ref = (
        "drivers/vfio/pci/vfio_pci.c vfio_pci_probe_mmaps() and vfio_pci_mmap(), 05f0c03fbac1 "
        "(read at torvalds/linux@01be83eea08d; same in vfio_pci_core.c, gregkh/linux@1129c0011b90)"
    )

    def may_reserve(self, ops: Ops, bar: Bar, page_bytes: Word) -> Flag:
        """`!(res->start & ~PAGE_MASK)`: only a page-aligned sub-page BAR gets a dummy."""
        return is_aligned(ops, bar.start_bytes, page_bytes)

    def dummy_range(self, ops: Ops, bar: Bar, page_bytes: Word) -> Range:
        """`start = res->end + 1; end = res->start + PAGE_SIZE - 1`."""
        bar_last = bar.range(ops).last
        return Range(ops.add(bar_last, ops.const(1)), ops.add(bar.start_bytes, ops.sub(page_bytes, ops.const(1))))

    def dummy_children(self, ops: Ops, req: ProbeRequest) -> tuple[Child, ...]:
        """The children request_resource(res->parent, ...) checks against: the BAR's own resource
        (`res` is a child of `res->parent`) and the parent's other children."""
        return (Child(req.bar.range(ops), ops.true()),) + req.children

    def request_dummy(self, ops: Ops, req: ProbeRequest, dummy: Range) -> Flag:
        return request_resource(ops, req.parent, self.dummy_children(ops, req), dummy)

    def probe(self, ops: Ops, req: ProbeRequest) -> ProbeOutcome:
        bar, page = req.bar, req.page_bytes
        eligible = self.eligible(ops, bar)
        whole = ops.all_of(eligible, self.whole_pages(ops, bar, page))
        wants_dummy = ops.all_of(eligible, ops.negate(whole), self.may_reserve(ops, bar, page))
        dummy = self.dummy_range(ops, bar, page)
        held = ops.all_of(wants_dummy, self.request_dummy(ops, req, dummy))
        return ProbeOutcome(ops.any_of(whole, held), held, dummy)

    def mmap_window(self, ops: Ops, bar: Bar, page_bytes: Word) -> Range:
        """`phys_len = PAGE_ALIGN(pci_resource_len)` from pfn `start >> PAGE_SHIFT`."""
        first = align_down(ops, bar.start_bytes, page_bytes)
        return span(ops, first, align_up(ops, bar.size_bytes, page_bytes))


class V3PerBar(Linux48):
    """The v3 patch (seed 001): vfio_pci_bar_mmap_supported(vdev, index).

    Same rules as vfio_pci_probe_mmaps(), but a per-BAR function that requests
    the dummy as a side effect of being asked.  Alex Williamson's review (lore,
    20 May 2016): "If we were to call this a second time, we might get a
    different result."  A second call sees its own dummy as a conflicting
    child and answers no.
    """

    name = "v3-per-bar"
    title = "v3 patch: per-BAR vfio_pci_bar_mmap_supported() that reserves the page as a side effect of asking"
    kernel_ref = "[PATCH v3] vfio-pci: Allow to mmap sub-page MMIO BARs if the mmio page is exclusive (Yongji Xie, May 2016), vfio_pci_bar_mmap_supported()"

    def query(self, ops: Ops, req: ProbeRequest, first: ProbeOutcome) -> Flag:
        return self._again(ops, req, first).mmappable

    def _again(self, ops: Ops, req: ProbeRequest, first: ProbeOutcome) -> ProbeOutcome:
        own_dummy = Child(first.dummy, first.dummy_held)
        again = ProbeRequest(req.page_bytes, req.bar, req.parent, req.children + (own_dummy,))
        return self.probe(ops, again)

    def reprobe(self, ops: Ops, req: ProbeRequest, current: ProbeOutcome) -> ProbeOutcome:
        """The new request either conflicts with the held dummy or becomes the held one."""
        again = self._again(ops, req, current)
        held = ops.any_of(current.dummy_held, again.dummy_held)
        dummy = Range(ops.ite(again.dummy_held, again.dummy.first, current.dummy.first),
                      ops.ite(again.dummy_held, again.dummy.last, current.dummy.last))
        return ProbeOutcome(again.mmappable, held, dummy)


