"""The mutant catalogue: plausible kernel (and VMM) bugs, each one rule of a built-in policy changed.

A mutant derives from the policy it breaks and overrides one rule, exactly as
a patch would change one line.  The self-test must kill every one: find a
property and an input on which the mutant breaks the property while the
unmutated policy, replayed on the very same input, keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from model.msix import Area, MsixLayout, MsixMmap, Platform, table_untouched
from model.ops import Flag, Ops, Word
from model.pci import Bar
from model.policies import BUILTIN, Policy, get_policy
from model.policies.alignment import PciCore, Request
from model.policies.base import POPULATE_AT_MMAP, REVOKE_NONE, PGOFF_PFN, ProbeOutcome, ProbeRequest
from model.policies.composed import Configured
from model.policies.linux import Linux48, V3PerBar
from model.policies.msix import MsixRemap2016
from model.policies.revocation import Linux58, Linux610
from model.pgoff import OFFSET_SHIFT_BITS
from model.ranges import Range, align_down, align_up, contains, is_aligned, overlaps, span
from model.resource_tree import fits_in_parent, request_resource
from model.vmm import GuestBar, Vmm

PROBE, LIFETIME, MSIX, MAPPING, ALIGNMENT, GUEST = "probe", "lifetime", "msix", "mapping", "alignment", "guest"
ASPECTS = (PROBE, LIFETIME, MSIX, MAPPING, ALIGNMENT, GUEST)


@dataclass(frozen=True, slots=True)
class Mutant:
    slug: str
    base: str
    """The built-in (or configured) policy the mutant breaks."""
    aspect: str
    """Which part of the model the change touches; its properties are tried first."""
    bug: str
    """The bug, as a patch reviewer would describe it."""
    policy: Policy
    expect: str
    """The property expected to kill it: tried first, then every other one."""
    equivalent: str = ""
    """Why no property can tell it from its base (an equivalent mutant); empty for a mutant that must die."""


# --- vfio_pci_probe_mmaps(): the sub-page rule -------------------------------------------------

class DummyOneByteShort(Linux48):
    name = "mutant-dummy-end-short"
    title = "linux-4.8 with the dummy's end off by one (res->start + PAGE_SIZE - 2)"

    def dummy_range(self, ops: Ops, bar: Bar, page_bytes: Word) -> Range:
        full = super().dummy_range(ops, bar, page_bytes)
        return Range(full.first, ops.sub(full.last, ops.const(1)))


class DummyOneByteLong(Linux48):
    name = "mutant-dummy-end-long"
    title = "linux-4.8 with the dummy ending at res->start + PAGE_SIZE, one byte into the next page"

    def dummy_range(self, ops: Ops, bar: Bar, page_bytes: Word) -> Range:
        full = super().dummy_range(ops, bar, page_bytes)
        return Range(full.first, ops.add(full.last, ops.const(1)))


class DummyFromBarStart(Linux48):
    name = "mutant-dummy-from-bar-start"
    title = "linux-4.8 with the dummy starting at res->start instead of res->end + 1"

    def dummy_range(self, ops: Ops, bar: Bar, page_bytes: Word) -> Range:
        return Range(bar.start_bytes, super().dummy_range(ops, bar, page_bytes).last)


class NoAlignmentCheck(Linux48):
    name = "mutant-no-alignment-check"
    title = "linux-4.8 without the `!(res->start & ~PAGE_MASK)` test"

    def may_reserve(self, ops: Ops, bar: Bar, page_bytes: Word) -> Flag:
        return ops.true()


class AlignmentTestOnEnd(Linux48):
    name = "mutant-alignment-test-on-end"
    title = "linux-4.8 testing `!((res->end + 1) & ~PAGE_MASK)`: the alignment of the end, not the start"

    def may_reserve(self, ops: Ops, bar: Bar, page_bytes: Word) -> Flag:
        return is_aligned(ops, ops.add(bar.range(ops).last, ops.const(1)), page_bytes)


class NoDummy(Linux48):
    name = "mutant-no-dummy"
    title = "linux-4.8 that never requests the dummy and maps every page-aligned sub-page BAR"

    def request_dummy(self, ops: Ops, req: ProbeRequest, dummy: Range) -> Flag:
        return ops.true()

    def probe(self, ops: Ops, req: ProbeRequest) -> ProbeOutcome:
        outcome = super().probe(ops, req)
        return ProbeOutcome(outcome.mmappable, ops.false(), outcome.dummy)


class DummyUnderBar(Linux48):
    name = "mutant-dummy-under-bar"
    title = "linux-4.8 requesting the dummy under res instead of res->parent"

    def request_dummy(self, ops: Ops, req: ProbeRequest, dummy: Range) -> Flag:
        return request_resource(ops, req.bar.range(ops), (), dummy)


class DummyInserted(Linux48):
    name = "mutant-dummy-inserted"
    title = "linux-4.8 with insert_resource() for the dummy: it adopts resources it covers instead of failing"

    def request_dummy(self, ops: Ops, req: ProbeRequest, dummy: Range) -> Flag:
        """insert_resource() fails only on a partial overlap; a child wholly inside becomes the dummy's child."""
        ok = [ops.implies(child.present, ops.any_of(ops.negate(overlaps(ops, child.range, dummy)),
                                                    contains(ops, dummy, child.range)))
              for child in self.dummy_children(ops, req)[1:]]
        own = ops.negate(overlaps(ops, req.bar.range(ops), dummy))
        return ops.all_of(fits_in_parent(ops, req.parent, dummy), own, *ok)


class WholePagesOnly(Linux48):
    name = "mutant-mmap-without-page-align"
    title = "linux-4.8's probe with vfio_pci_mmap() missing PAGE_ALIGN(): phys_len = pci_resource_len()"

    def mmap_window(self, ops: Ops, bar: Bar, page_bytes: Word) -> Range:
        """Whole pages of the BAR only; no page-multiple request fits a sub-page BAR (an empty window)."""
        first = align_down(ops, bar.start_bytes, page_bytes)
        length = align_down(ops, bar.size_bytes, page_bytes)
        some = ops.ne(length, ops.const(0))
        window = span(ops, first, length)
        return Range(ops.ite(some, window.first, ops.const(1)), ops.ite(some, window.last, ops.const(0)))


# --- how long the reservation lives ------------------------------------------------------------

class ReprobeWithoutRelease(Linux48):
    name = "mutant-reprobe-without-release"
    title = "linux-4.8 that runs vfio_pci_probe_mmaps() again on a region-info query without releasing its dummies"

    query = V3PerBar.query
    _again = V3PerBar._again
    reprobe = V3PerBar.reprobe


class KeepsDummyAtClose(Linux48):
    name = "mutant-keeps-dummy-at-close"
    title = "linux-4.8 whose vfio_pci_disable() forgets to release the sub-page dummies"
    releases_dummy_at_close = False


class ReleaseOnReset(Linux48):
    name = "mutant-release-on-reset"
    title = "linux-4.8 that releases the sub-page reservation on VFIO_DEVICE_RESET while the BAR may be mapped"
    releases_dummy_at_reset = True


class ReleaseAtMunmap(Linux48):
    name = "mutant-release-at-munmap"
    title = "linux-4.8 that releases a BAR's dummy when its mapping goes, while the device stays open"
    releases_dummy_at_munmap = True


# --- the MSI-X table -------------------------------------------------------------------------------

class MsixHighAreaRoundedDown(Linux48):
    name = "mutant-msix-end-rounded-down"
    title = "linux-4.8 whose sparse area after the MSI-X table starts at (msix_offset + msix_size) & PAGE_MASK"

    def msix_areas(self, ops: Ops, page_bytes: Word, layout: MsixLayout, platform: Platform) -> tuple[Area, ...]:
        low, high = super().msix_areas(ops, page_bytes, layout, platform)
        start = align_down(ops, layout.table_end(ops), page_bytes)
        return low, Area(ops.ult(start, layout.bar_size_bytes), start, layout.bar_size_bytes)

    def msix_mmap_ok(self, ops: Ops, req: MsixMmap) -> Flag:
        start = align_down(ops, req.layout.table_end(ops), req.page_bytes)
        return ops.any_of(ops.uge(req.req_start_bytes, start), super().msix_mmap_ok(ops, req))


class MsixLowAreaRoundedUp(Linux48):
    name = "mutant-msix-start-rounded-up"
    title = "linux-4.8 whose sparse area before the MSI-X table ends at PAGE_ALIGN(msix_offset)"

    def msix_areas(self, ops: Ops, page_bytes: Word, layout: MsixLayout, platform: Platform) -> tuple[Area, ...]:
        low, high = super().msix_areas(ops, page_bytes, layout, platform)
        end = align_up(ops, layout.table_offset_bytes, page_bytes)
        return Area(ops.ne(end, ops.const(0)), ops.const(0), end), high

    def msix_mmap_ok(self, ops: Ops, req: MsixMmap) -> Flag:
        end = align_up(ops, req.layout.table_offset_bytes, req.page_bytes)
        below = ops.ule(ops.add(req.req_start_bytes, req.req_len_bytes), end)
        return ops.any_of(below, super().msix_mmap_ok(ops, req))


class MsixTableOneEntryShort(Linux48):
    name = "mutant-msix-size-one-entry-short"
    title = "linux-4.8 computing msix_size as (flags & PCI_MSIX_FLAGS_QSIZE) * 16, one entry short"

    @staticmethod
    def _short(ops: Ops, layout: MsixLayout) -> MsixLayout:
        return MsixLayout(layout.bar_size_bytes, layout.table_offset_bytes,
                          ops.sub(layout.table_entries, ops.const(1)))

    def msix_areas(self, ops: Ops, page_bytes: Word, layout: MsixLayout, platform: Platform) -> tuple[Area, ...]:
        return super().msix_areas(ops, page_bytes, self._short(ops, layout), platform)

    def msix_mmap_ok(self, ops: Ops, req: MsixMmap) -> Flag:
        return table_untouched(ops, replace(req, layout=self._short(ops, req.layout)))


class MsixCheckInclusiveEnd(Linux48):
    name = "mutant-msix-check-inclusive-end"
    title = "linux-4.8 refusing req_start == msix_offset + msix_size (`>` for `>=` in the overlap test)"

    def msix_mmap_ok(self, ops: Ops, req: MsixMmap) -> Flag:
        layout = req.layout
        return ops.any_of(ops.ugt(req.req_start_bytes, layout.table_end(ops)),
                          ops.ule(ops.add(req.req_start_bytes, req.req_len_bytes), layout.table_offset_bytes))


class MsixRemapChecksUnsafe(MsixRemap2016):
    name = "mutant-msix-remap-tests-unsafe-interrupts"
    title = "msix-remap-2016 testing allow_unsafe_interrupts where it means the platform's MSI isolation"

    def msix_mmap_ok(self, ops: Ops, req: MsixMmap) -> Flag:
        swapped = Platform(req.platform.allow_unsafe_interrupts, req.platform.msi_isolated)
        return super().msix_mmap_ok(ops, replace(req, platform=swapped))

    def msix_areas(self, ops: Ops, page_bytes: Word, layout: MsixLayout, platform: Platform) -> tuple[Area, ...]:
        swapped = Platform(platform.allow_unsafe_interrupts, platform.msi_isolated)
        return super().msix_areas(ops, page_bytes, layout, swapped)


# --- vm_pgoff and revocation -----------------------------------------------------------------------

class PfnInRegionKernel(Linux610):
    name = "mutant-pgoff-pfn-in-6.10"
    title = "linux-6.10 storing the pfn in vm_pgoff, as before, while it still zaps by region offsets"
    pgoff_holds = PGOFF_PFN


class NoZap(Linux58):
    name = "mutant-5.8-no-zap"
    title = "linux-5.8 whose vfio_pci_zap_and_vma_lock() is never called: nothing is revoked"
    revokes_by = REVOKE_NONE


class RemapAtMmap(Linux58):
    name = "mutant-5.8-remap-at-mmap"
    title = "linux-5.8 that still calls remap_pfn_range() in mmap, so the vma never reaches the vma_list"
    populates_at = POPULATE_AT_MMAP


class ZapRangeOneRegionShort(Linux610):
    name = "mutant-zap-range-misses-bar5"
    title = "linux-6.10 zapping [INDEX_TO_OFFSET(BAR0), INDEX_TO_OFFSET(BAR5)): BAR5's mappings survive"

    def zap_end_pgoff(self, page_shift: int) -> int:
        return (5 << OFFSET_SHIFT_BITS) >> page_shift


# --- the PCI core's alignment ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StartAlignOnly(PciCore):
    """pci_specified_resource_alignment() that forgets `*resize = true` for a matching entry."""

    def request(self, ops: Ops, page_bytes: Word, named: bool) -> Request:
        asked = PciCore.request(self, ops, page_bytes, named)
        return Request(asked.align, ops.false())


def _configured(base: str, core: PciCore, spelling: str, name: str) -> Policy:
    return Configured(BUILTIN[base], core, (spelling,), name=name)


# --- the VMM ---------------------------------------------------------------------------------------

class QemuPriorityAboveBars(Vmm):
    name = "mutant-qemu-priority-2"
    title = "QEMU mapping the expanded sub-page window at priority 2, above the guest's other BARs"

    def priority(self, ops: Ops, host_page_bytes: Word, bar: GuestBar) -> Word:
        return ops.ite(self.expands(ops, host_page_bytes, bar), ops.const(2), ops.const(1))


class QemuExpandsUnaligned(Vmm):
    name = "mutant-qemu-expands-unaligned"
    title = "QEMU expanding a sub-page BAR at any guest address, without the host-page alignment test"

    def expands(self, ops: Ops, host_page_bytes: Word, bar: GuestBar) -> Flag:
        sub_page = ops.all_of(ops.ne(bar.size_bytes, ops.const(0)), ops.ult(bar.size_bytes, host_page_bytes))
        return ops.all_of(sub_page, bar.whole_mmap)


class QemuExpandsShared(Vmm):
    name = "mutant-qemu-expands-shared"
    title = "QEMU expanding a sub-page BAR whose host region has no single covering mmap"

    def expands(self, ops: Ops, host_page_bytes: Word, bar: GuestBar) -> Flag:
        sub_page = ops.all_of(ops.ne(bar.size_bytes, ops.const(0)), ops.ult(bar.size_bytes, host_page_bytes))
        return ops.all_of(sub_page, is_aligned(ops, bar.start_bytes, host_page_bytes))


def _with_vmm(vmm: Vmm) -> Policy:
    host = get_policy("qemu-subpage")
    if not isinstance(host, Configured):
        raise TypeError(f"policy {host.name} is not a configured host policy")
    return Configured(host.base, PciCore(), (), vmm=vmm, name=vmm.name)


def _mutants() -> tuple[Mutant, ...]:
    mutants = [Mutant(policy.name.removeprefix("mutant-"), base, aspect, bug, policy, expect)
               for policy, base, aspect, bug, expect in _kernel_rows() + _configured_rows()]
    return tuple(replace(m, equivalent=EQUIVALENT.get(m.slug, "")) for m in mutants)


def _kernel_rows() -> list[tuple[Policy, str, str, str, str]]:
    """The mutants of a built-in kernel policy: probe, lifetime, MSI-X and mapping bugs."""
    return [
        (DummyOneByteShort(), "linux-4.8", PROBE, "the dummy's end is off by one: the page's last byte is not reserved", "mmap.window-within-bar-or-dummy"),
        (DummyOneByteLong(), "linux-4.8", PROBE, "the dummy reaches one byte into the next page", "mmap.subpage-available"),
        (DummyFromBarStart(), "linux-4.8", PROBE, "the dummy starts at the BAR's start and overlaps the BAR itself", "mmap.subpage-available"),
        (NoAlignmentCheck(), "linux-4.8", PROBE, "the page-alignment test of the BAR's start is missing", "isolation.window"),
        (AlignmentTestOnEnd(), "linux-4.8", PROBE, "the alignment test is made on the BAR's end, not its start", "isolation.window"),
        (NoDummy(), "linux-4.8", PROBE, "no dummy is requested: the rest of the page is never reserved", "isolation.window"),
        (DummyUnderBar(), "linux-4.8", PROBE, "the dummy is requested under the wrong parent: the BAR's own "
                                              "resource instead of its parent window", "mmap.subpage-available"),
        (DummyInserted(), "linux-4.8", PROBE, "insert_resource() instead of request_resource(): the dummy "
                                              "swallows a resource in the page instead of failing", "isolation.window"),
        (WholePagesOnly(), "linux-4.8", PROBE, "PAGE_ALIGN omitted in vfio_pci_mmap(): a sub-page BAR is "
                                               "reported mmappable but no mmap of it fits", "mmap.window-covers-bar"),
        (ReprobeWithoutRelease(), "linux-4.8", LIFETIME, "a re-probe without a release: the second request "
                                                         "conflicts with the first dummy", "probe.idempotent"),
        (KeepsDummyAtClose(), "linux-4.8", LIFETIME, "the dummies are never released: they leak past close", "dummy.no-leak"),
        (ReleaseOnReset(), "linux-4.8", LIFETIME, "the reservation is released at reset, before munmap", "dummy.held-while-mapped"),
        (ReleaseAtMunmap(), "linux-4.8", LIFETIME, "the reservation is released at munmap while the device stays "
                                                   "open and may map the page again", "dummy.held-while-mapped"),
        (MsixHighAreaRoundedDown(), "linux-4.8", MSIX, "the MSI-X table's end is rounded down instead of up", "msix.table-protected"),
        (MsixLowAreaRoundedUp(), "linux-4.8", MSIX, "the MSI-X table's start is rounded up instead of down", "msix.table-protected"),
        (MsixTableOneEntryShort(), "linux-4.8", MSIX, "the MSI-X table size forgets the +1 of the QSIZE field", "msix.table-protected"),
        (MsixCheckInclusiveEnd(), "linux-4.8", MSIX, "the MSI-X overlap test refuses a request starting right "
                                                     "after the table", "msix.non-table-mappable"),
        (MsixRemapChecksUnsafe(), "msix-remap-2016", MSIX, "the MSI-X table is opened by the unsafe-interrupts "
                                                           "switch instead of MSI isolation", "msix.table-protected"),
        (PfnInRegionKernel(), "linux-6.10", MAPPING, "pfn and region encoding mixed up: the pfn is stored where "
                                                     "the fault handler and the zap expect the region encoding", "pgoff.region-of-vma"),
        (NoZap(), "linux-5.8", MAPPING, "memory-disable, reset and D3 no longer zap the mappings", "revoke.complete"),
        (RemapAtMmap(), "linux-5.8", MAPPING, "PTEs are made at mmap time, so the vma never joins the vma_list "
                                              "the zap walks", "revoke.complete"),
        (ZapRangeOneRegionShort(), "linux-6.10", MAPPING, "the zap's file range ends one region early", "revoke.complete"),
    ]


def _configured_rows() -> list[tuple[Policy, str, str, str, str]]:
    """The mutants of a configured policy: an alignment modifier or the VMM changed."""
    align_small = get_policy("linux-4.8+align_small_bars").pci_core
    resource = get_policy("linux-4.8+resource_alignment").pci_core
    return [
        (_configured("linux-4.8", replace(align_small, restores_alignment=False), "+align_small_bars",
                     "mutant-align-small-bars-no-restore"), "linux-4.8+align_small_bars", ALIGNMENT,
         "the realloc path forgets STARTALIGN: a released BAR comes back with no alignment", "alignment.preserved-across-realloc"),
        (_configured("linux-4.8", StartAlignOnly(parameter_bytes=resource.parameter_bytes),
                     "+resource_alignment", "mutant-resource-alignment-no-resize"),
         "linux-4.8+resource_alignment", ALIGNMENT,
         "resource_alignment= forgets to resize: the BAR is only start-aligned and stays sub-page",
         "alignment.preserved-across-realloc"),
        (_with_vmm(QemuPriorityAboveBars()), "qemu-subpage", GUEST,
         "the expanded sub-page window is mapped above the other guest BARs", "guest.bar-routing"),
        (_with_vmm(QemuExpandsUnaligned()), "qemu-subpage", GUEST,
         "the host-page alignment test of the guest BAR address is missing", "guest.bar-routing"),
        (_with_vmm(QemuExpandsShared()), "qemu-subpage", GUEST,
         "a BAR without a single covering mmap is expanded too", "guest.no-foreign-host-page"),
    ]


EQUIVALENT = {
    "qemu-expands-shared": (
        "without one mmap covering the region QEMU serves the expanded window through the region's "
        "read/write handlers, which vfio_pci_bar_rw() (drivers/vfio/pci/vfio_pci_rdwr.c) bounds to the BAR, "
        "so no host byte beyond the BAR is reached; and the expanded window keeps priority 0, so every other "
        "guest BAR still wins its addresses. Both guest properties therefore hold for it exactly as for QEMU."),
}
"""Mutants no property can kill, each with the reason it is equivalent to its base."""


MUTANTS: tuple[Mutant, ...] = _mutants()


def get_mutant(slug: str) -> Mutant:
    for mutant in MUTANTS:
        if mutant.slug == slug:
            return mutant
    raise KeyError(slug)
