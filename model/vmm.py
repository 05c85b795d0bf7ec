"""The VMM on the guest side: how a sub-page BAR's host mmap is laid into guest-physical space.

A guest BAR is a window in QEMU's memory tree: priority decides which window
answers an address where two overlap, and among equal priorities the window
mapped last wins.  Sources (legoater/qemu, a current tree: hw/vfio/pci.c
@0bdfd5427037, hw/pci/pci.c @16e0db98bc54, system/memory.c @0cabef72e3e4,
accel/kvm/kvm-all.c @33bd16af9af7, hw/pci/msix.c @ce384341ea7a):
- hw/vfio/pci.c vfio_sub_page_bar_update_mapping(): when the region has one
  mmap covering it and the guest BAR address is host-page aligned
  (`!(bar_addr & ~qemu_real_host_page_mask())`), base_mr, region_mr and
  mmap_mr are resized to the host page and re-added with
  `memory_region_add_subregion_overlap(r->address_space, bar_addr, base_mr, 0)`;
  otherwise they shrink back to the BAR size.  vfio_pci_write_config() calls
  it for a BAR whose address changed when `0 < size < host page size`.
- hw/pci/pci.c pci_update_mappings(): every BAR is mapped with
  `memory_region_add_subregion_overlap(r->address_space, new_addr, r->memory, 1)`.
- system/memory.c memory_region_update_container_subregions(): a subregion is
  inserted before the first one of lower *or equal* priority, and
  render_memory_region() lets earlier subregions win, so the newest of equal
  priority answers.
- accel/kvm/kvm-all.c kvm_align_section(): a memslot starts at the section
  start rounded up to the host page and is a whole number of host pages; the
  rest of a section is served by QEMU's own dispatch to the same mmap.
- hw/pci/msix.c msix_init() overlays the emulated table inside the BAR, so a
  guest never writes the host's MSI-X table, whatever the host lets QEMU map.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from model.ops import Flag, Ops, Word
from model.ranges import Range, align_down, is_aligned, span

BAR_PRIORITY = 1
"""pci_update_mappings() maps every BAR at priority 1."""


@dataclass(frozen=True, slots=True)
class GuestBar:
    """A guest BAR of an assigned device, as the VMM sees it."""

    start_bytes: Word
    """The guest-physical address the guest programmed."""
    size_bytes: Word
    whole_mmap: Flag
    """The host region has one mmap covering it (FLAG_MMAP granted, no MSI-X split)."""
    mapped_last: Flag
    """Its window was (re)mapped after the other window (a later BAR or COMMAND write)."""

    def range(self, ops: Ops) -> Range:
        return span(ops, self.start_bytes, self.size_bytes)


class Vmm:
    """QEMU's rule: expand to the host page, at priority 0, so other guest BARs win."""

    name: ClassVar[str] = "qemu-subpage"
    title: ClassVar[str] = ("QEMU: a host-exclusive sub-page BAR at a host-page-aligned guest address is expanded "
                            "to the host page as a priority-0 window, so other guest BARs in that page win")
    vmm_ref: ClassVar[str] = ("qemu/qemu hw/vfio/pci.c vfio_sub_page_bar_update_mapping(), vfio_pci_write_config(); "
                              "hw/pci/pci.c pci_update_mappings(); system/memory.c "
                              "memory_region_update_container_subregions()")

    def expands(self, ops: Ops, host_page_bytes: Word, bar: GuestBar) -> Flag:
        sub_page = ops.all_of(ops.ne(bar.size_bytes, ops.const(0)), ops.ult(bar.size_bytes, host_page_bytes))
        return ops.all_of(sub_page, bar.whole_mmap, is_aligned(ops, bar.start_bytes, host_page_bytes))

    def window(self, ops: Ops, host_page_bytes: Word, bar: GuestBar) -> Range:
        """The guest-physical bytes the BAR's memory region answers."""
        size = ops.ite(self.expands(ops, host_page_bytes, bar), host_page_bytes, bar.size_bytes)
        return span(ops, bar.start_bytes, size)

    def priority(self, ops: Ops, host_page_bytes: Word, bar: GuestBar) -> Word:
        return ops.ite(self.expands(ops, host_page_bytes, bar), ops.const(0), ops.const(BAR_PRIORITY))


class VmmNoPriority(Vmm):
    """A VMM that expands like QEMU but keeps the expanded window at the BAR priority."""

    name = "vmm-no-priority"
    title = ("A VMM that expands a host-exclusive sub-page BAR to the host page like QEMU, but at the ordinary "
             "BAR priority, so the expanded window can cover another guest BAR in that page")
    vmm_ref = "derived from qemu/qemu hw/vfio/pci.c vfio_sub_page_bar_update_mapping() without its priority 0"

    def priority(self, ops: Ops, host_page_bytes: Word, bar: GuestBar) -> Word:
        return ops.const(BAR_PRIORITY)


VMMS: dict[str, Vmm] = {vmm.name: vmm for vmm in (Vmm(), VmmNoPriority())}


def beats(ops: Ops, vmm: Vmm, host_page_bytes: Word, a: GuestBar, b: GuestBar) -> Flag:
    """At an address both windows answer, a's window wins over b's."""
    pa, pb = vmm.priority(ops, host_page_bytes, a), vmm.priority(ops, host_page_bytes, b)
    return ops.any_of(ops.ugt(pa, pb), ops.all_of(ops.eq(pa, pb), a.mapped_last))


def host_reach(ops: Ops, host_page_bytes: Word, bar_start_host: Word, window_bytes: Word) -> Range:
    """The host-physical bytes behind a window: the mmap starts at the page holding the BAR (vma_to_pfn())."""
    return span(ops, align_down(ops, bar_start_host, host_page_bytes), window_bytes)
