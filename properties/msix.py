"""MSI-X properties: who can write the table, and how much of the MSI-X BAR userspace can map."""

from __future__ import annotations

from typing import Any, Mapping

from model.msix import (MSIX_MAX_ENTRIES, TABLE_OFFSET_ALIGN_BYTES, MsixLayout, MsixMmap, Platform,
                        area_bytes_in_bar, vfio_admits)
from model.ops import Flag, Ops, Word
from model.pci import MIN_MEM_BAR_BYTES, Bar, BarKind
from model.policies import Policy, ProbeRequest
from model.policies.base import may_map_alone
from model.ranges import Range, align_down, align_up, at_least, contains_byte, fits, is_aligned, is_nonempty, \
    is_pow2, overlaps, span
from model.units import size_name
from properties.record import RecordOptions, RecordProperty, register_record
from properties.registry import Evaluation

LAYOUT_WORDS = ("bar_start", "bar_size", "table_offset", "table_entries")
PLATFORM_FLAGS = ("msi_isolated", "allow_unsafe_interrupts")
MMIO_ANCHOR = 0xFE000000

MSIX_ASSUMPTION_TEXT = {
    "msix.table-qword-aligned": "the table offset is a multiple of 8 (PCI_MSIX_TABLE_OFFSET masks the BIR bits)",
    "msix.table-entries": "a table has 1 to 2048 entries of 16 bytes (QSIZE is 11 bits, N-1 encoded)",
    "msix.table-inside-bar": "the table lies inside its BAR",
    "mmap.request-page-granular": "an mmap request starts on a page and is a non-zero number of pages "
                                  "(vm_pgoff and the vma length are page-granular)",
    "vfio.no-unsafe-interrupts": "vfio_iommu_type1 and iommufd run with allow_unsafe_interrupts=0, the module "
                                 "default, so they refuse a platform without MSI isolation (the sPAPR TCE backend "
                                 "has no such check; its IODA host bridges filter MSIs per PE)",
}


def layout_of(rec: Mapping[str, Any]) -> MsixLayout:
    return MsixLayout(rec["bar_size"], rec["table_offset"], rec["table_entries"])


def platform_of(rec: Mapping[str, Any]) -> Platform:
    return Platform(rec["msi_isolated"], rec["allow_unsafe_interrupts"])


def msix_bar(rec: Mapping[str, Any]) -> Bar:
    return Bar(0, int(BarKind.MEM64), False, rec["bar_start"], rec["bar_size"])


def layout_assumptions(ops: Ops, rec: Mapping[str, Any], options: RecordOptions) -> list[tuple[str, Flag]]:
    layout = layout_of(rec)
    size, offset, entries = layout.bar_size_bytes, layout.table_offset_bytes, layout.table_entries
    max_entries = ops.ule(entries, ops.const(MSIX_MAX_ENTRIES)) if fits(ops, MSIX_MAX_ENTRIES) else ops.true()
    named = [
        ("pci.bar-size-pow2", is_pow2(ops, size)),
        ("pci.bar-min-size", at_least(ops, size, MIN_MEM_BAR_BYTES)),
        ("pci.bar-natural-alignment", is_aligned(ops, rec["bar_start"], size)),
        ("pci.bar-no-wrap", is_nonempty(ops, span(ops, rec["bar_start"], size))),
        ("msix.table-qword-aligned", is_aligned(ops, offset, ops.const(TABLE_OFFSET_ALIGN_BYTES))),
        ("msix.table-entries", ops.all_of(ops.ne(entries, ops.const(0)), max_entries)),
        ("msix.table-inside-bar", ops.all_of(ops.ule(offset, size),
                                             ops.ule(layout.table_bytes(ops), ops.sub(size, offset)))),
    ]
    if options.no_unsafe_interrupts:
        named.append(("vfio.no-unsafe-interrupts", ops.negate(rec["allow_unsafe_interrupts"])))
    if options.max_bar_bytes is not None and fits(ops, options.max_bar_bytes):
        named.append(("bar.max-size", ops.ule(size, ops.const(options.max_bar_bytes))))
    return named


def probe_mmappable(ops: Ops, rec: Mapping[str, Any], policy: Policy, page_bytes: int) -> Flag:
    """The probe's answer for the MSI-X BAR when nothing else claims its page (the dummy succeeds)."""
    whole_space = Range(ops.const(0), ops.const((1 << ops.width) - 1))
    req = ProbeRequest(ops.const(page_bytes), msix_bar(rec), whole_space, ())
    return may_map_alone(ops, policy, req)


def request_accepted(ops: Ops, policy: Policy, req: MsixMmap) -> Flag:
    """vfio_pci_mmap()'s checks: `req_start + req_len <= PAGE_ALIGN(len)`, then the MSI-X rule."""
    phys_len = align_up(ops, req.layout.bar_size_bytes, req.page_bytes)
    fits_bar = ops.all_of(ops.ule(req.req_len_bytes, phys_len),
                          ops.ule(req.req_start_bytes, ops.sub(phys_len, req.req_len_bytes)))
    return ops.all_of(fits_bar, policy.msix_mmap_ok(ops, req))


def _usable(ops: Ops, rec: Mapping[str, Any], policy: Policy, page_bytes: int) -> Flag:
    """Userspace holds the device (vfio attached its group) and the MSI-X BAR is mmappable."""
    has_msix = ops.true() if policy.has_msix else ops.false()
    return ops.all_of(has_msix, vfio_admits(ops, platform_of(rec)), probe_mmappable(ops, rec, policy, page_bytes))


def platform_preferences(ops: Ops, rec: Mapping[str, Any]) -> list[Flag]:
    """A counterexample shows the default allow_unsafe_interrupts=0 and interrupt remapping when it can."""
    return [ops.negate(rec["allow_unsafe_interrupts"]), rec["msi_isolated"]]


def _protected_evaluate(ops: Ops, rec: Mapping[str, Any], policy: Policy, page_bytes: int,
                        options: RecordOptions) -> Evaluation:
    page = ops.const(page_bytes)
    req = MsixMmap(page, layout_of(rec), platform_of(rec), rec["req_start"], rec["req_len"])
    granular = ops.all_of(is_aligned(ops, rec["req_start"], page), is_aligned(ops, rec["req_len"], page),
                          ops.ne(rec["req_len"], ops.const(0)))
    assumptions = layout_assumptions(ops, rec, options) + [("mmap.request-page-granular", granular)]
    accepted = ops.all_of(_usable(ops, rec, policy, page_bytes), request_accepted(ops, policy, req))
    reaches_table = overlaps(ops, req.request(ops), req.layout.table(ops))
    holds = ops.implies(accepted, ops.any_of(rec["msi_isolated"], ops.negate(reaches_table)))
    facts = (("accepted", accepted), ("reaches_table", reaches_table), ("admitted", vfio_admits(ops, req.platform)))
    return Evaluation(tuple(assumptions), accepted, holds, facts)


def _bar_line(rec: Mapping[str, Any], page_bytes: int) -> str:
    last = rec["bar_start"] + rec["bar_size"] - 1
    table_last = rec["table_offset"] + 16 * rec["table_entries"] - 1
    return (f"MSI-X BAR [{rec['bar_start']:#x}-{last:#x}] ({size_name(rec['bar_size'])}), table at offsets "
            f"[{rec['table_offset']:#x}-{table_last:#x}] ({rec['table_entries']} entries), {size_name(page_bytes)} pages")


def _platform_line(rec: Mapping[str, Any]) -> str:
    remap = "interrupt remapping (MSI isolation)" if rec["msi_isolated"] else "no interrupt remapping"
    unsafe = "allow_unsafe_interrupts=1" if rec["allow_unsafe_interrupts"] else "allow_unsafe_interrupts=0"
    return f"platform: {remap}, {unsafe}"


def _protected_describe(rec: Mapping[str, Any], facts: Mapping[str, Any], policy_name: str, page_bytes: int) -> list[str]:
    req_last = rec["req_start"] + rec["req_len"] - 1
    return [
        f"Under {policy_name}, vfio_pci_mmap() accepts an mmap of region offsets [{rec['req_start']:#x}-{req_last:#x}] "
        f"of the MSI-X BAR, which covers the MSI-X table, on a platform that does not isolate MSIs: userspace can "
        f"write message addresses and data the IOMMU will not check."
        + (" vfio attached the group only because allow_unsafe_interrupts=1: with the default 0, "
           "vfio_iommu_type1_attach_group() and iommufd_device_bind() refuse a platform without MSI isolation "
           "(-EPERM)." if rec["allow_unsafe_interrupts"] and not rec["msi_isolated"] else ""),
        _bar_line(rec, page_bytes),
        _platform_line(rec),
        f"mmap request: offsets [{rec['req_start']:#x}-{req_last:#x}] accepted={facts['accepted']}",
    ]


TABLE_PROTECTED = register_record(RecordProperty(
    id="msix.table-protected",
    title="Userspace cannot write the MSI-X table directly unless the platform isolates MSIs",
    statement=(
        "On a platform whose IOMMU does not isolate MSIs (no interrupt remapping), no mmap request "
        "vfio_pci_mmap() accepts on the MSI-X BAR of a device userspace holds covers a byte of the MSI-X "
        "table. The read/write path (vfio_pci_bar_rw()) skips the table in every version, so an mmap is the "
        "only direct way in. A device is held only if vfio_iommu_type1 (or iommufd) attached its group, "
        "which needs MSI isolation or allow_unsafe_interrupts=1."
    ),
    scope=("Unbounded over the {width}-bit address space: every MSI-X BAR (power-of-two size of at least 16 "
           "bytes, naturally aligned, its page free so a sub-page BAR gets its dummy), every table placement "
           "(8-byte aligned offset, 1-2048 entries, inside the BAR), every page-granular mmap request and both "
           "platform attributes. vfio no-IOMMU mode is outside the model: it hands userspace DMA to all memory."),
    words=(*LAYOUT_WORDS, "req_start", "req_len"),
    flags=PLATFORM_FLAGS,
    evaluate=_protected_evaluate,
    objectives=(("bar_size", 0), ("table_entries", 0), ("table_offset", 0), ("req_len", 0), ("req_start", 0),
                ("bar_start", MMIO_ANCHOR)),
    describe=_protected_describe,
    preferences=platform_preferences,
    applies=lambda policy: "" if policy.has_msix else f"{policy.name} passes no MSI-X device through",
))


def _mappable_evaluate(ops: Ops, rec: Mapping[str, Any], policy: Policy, page_bytes: int,
                       options: RecordOptions) -> Evaluation:
    page = ops.const(page_bytes)
    layout, offset = layout_of(rec), rec["offset"]
    assumptions = layout_assumptions(ops, rec, options)
    away_from_table = ops.negate(contains_byte(ops, layout.table_isolation_range(ops), offset))
    antecedent = ops.all_of(_usable(ops, rec, policy, page_bytes), ops.ult(offset, layout.bar_size_bytes),
                            away_from_table)
    req = MsixMmap(page, layout, platform_of(rec), align_down(ops, offset, page), page)
    accepted = request_accepted(ops, policy, req)
    return Evaluation(tuple(assumptions), antecedent, ops.implies(antecedent, accepted),
                      (("page_accepted", accepted), ("page_first", req.req_start_bytes)))


def _mappable_describe(rec: Mapping[str, Any], facts: Mapping[str, Any], policy_name: str, page_bytes: int) -> list[str]:
    page_last = facts["page_first"] + page_bytes - 1
    return [
        f"Under {policy_name} at {size_name(page_bytes)} pages, byte {rec['offset']:#x} of the MSI-X BAR lies in no "
        f"4 KiB range of the MSI-X table, yet the page [{facts['page_first']:#x}-{page_last:#x}] holding it cannot be "
        f"mmapped because the page also holds table bytes: every access to it is trapped and emulated.",
        _bar_line(rec, page_bytes),
        _platform_line(rec),
    ]


NON_TABLE_MAPPABLE = register_record(RecordProperty(
    id="msix.non-table-mappable",
    title="Outside the 4 KiB ranges of the MSI-X table, every byte of an mmappable MSI-X BAR can be mmapped",
    statement=(
        "For an MSI-X BAR that vfio-pci lets userspace mmap, every byte outside the naturally aligned 4 KiB "
        "ranges holding the MSI-X table (which PCIe 6.1 section 7.7.2 keeps free of other registers) lies in a "
        "page vfio_pci_mmap() accepts. A performance property: where it fails, QEMU traps and emulates those "
        "registers (kernel-facts B11; a32295c612c5 names 64K pages)."
    ),
    scope=("Unbounded over the {width}-bit address space: every MSI-X BAR (power-of-two size of at least 16 "
           "bytes, naturally aligned, its page free), every table placement (8-byte aligned offset, 1-2048 "
           "entries, inside the BAR), every byte of the BAR and both platform attributes. A byte is mappable when "
           "the one-page mmap at its page is accepted; each rule modelled accepts a request exactly when it "
           "accepts each of its pages."),
    words=(*LAYOUT_WORDS, "offset"),
    flags=PLATFORM_FLAGS,
    evaluate=_mappable_evaluate,
    objectives=(("bar_size", 0), ("table_entries", 0), ("table_offset", 0), ("offset", 0),
                ("bar_start", MMIO_ANCHOR)),
    describe=_mappable_describe,
    preferences=platform_preferences,
    applies=lambda policy: "" if policy.has_msix else f"{policy.name} passes no MSI-X device through",
))


def mappable_bytes(ops: Ops, policy: Policy, page_bytes: int, rec: Mapping[str, Any]) -> Word:
    """Bytes of the MSI-X BAR inside the advertised mmap areas (0 when the BAR is not mmappable)."""
    layout = layout_of(rec)
    areas = policy.msix_areas(ops, ops.const(page_bytes), layout, platform_of(rec))
    total = ops.const(0)
    for area in areas:
        total = ops.add(total, area_bytes_in_bar(ops, area, layout.bar_size_bytes))
    return ops.ite(_usable(ops, rec, policy, page_bytes), total, ops.const(0))
