"""Guest properties: what a guest reaches through the VMM's mapping of sub-page BARs."""

from __future__ import annotations

from typing import Any, Mapping

from model.ops import Flag, Ops
from model.pci import MIN_MEM_BAR_BYTES
from model.policies import Policy
from model.ranges import Range, align_down, at_least, contains_byte, fits, is_aligned, is_nonempty, is_pow2, \
    overlaps, span
from model.scenario import PairScenario, Shape
from model.units import KIB, size_name
from model.vmm import GuestBar, Vmm, beats, host_reach
from properties.record import RecordOptions, RecordProperty, register_record
from properties.registry import Evaluation, Property, register
from properties.situation import outcome_facts, situate, world_assumptions

MIN_GUEST_PAGE_BYTES = 4 * KIB
GUEST_ANCHOR = 0xFE000000

GUEST_ASSUMPTION_TEXT = {
    "guest.bar-shaped": "each guest BAR is a power of two of at least 16 bytes at a multiple of its size, below the "
                        "top of the address space (the BAR register decodes it so)",
    "guest.bars-disjoint": "the guest programs non-overlapping BARs (PCI leaves overlapping BARs undefined)",
    "guest.page-size": "the guest page is a power of two of at least 4 KiB, independent of the host page",
    "guest.page-aligned-bars": "when the guest aligns small BARs to its page (guest_aligns), a BAR smaller than a "
                               "guest page starts on one and no other BAR shares that guest page",
}


def _needs_vmm(policy: Policy) -> str:
    return "" if policy.vmm is not None else (f"{policy.name} describes the host only; compose a VMM, "
                                              f"e.g. {policy.name}+qemu-subpage")


def _bar(rec: Mapping[str, Any], name: str, mapped_last: Flag) -> GuestBar:
    return GuestBar(rec[f"{name}_start"], rec[f"{name}_size"], rec[f"{name}_whole_mmap"], mapped_last)


def _bar_shaped(ops: Ops, bar: GuestBar) -> Flag:
    return ops.all_of(is_pow2(ops, bar.size_bytes), at_least(ops, bar.size_bytes, MIN_MEM_BAR_BYTES),
                      is_aligned(ops, bar.start_bytes, bar.size_bytes), is_nonempty(ops, bar.range(ops)))


def _alone_in_guest_page(ops: Ops, bar: GuestBar, other: GuestBar, guest_page) -> Flag:
    small = ops.ult(bar.size_bytes, guest_page)
    page = span(ops, align_down(ops, bar.start_bytes, guest_page), guest_page)
    return ops.implies(small, ops.all_of(is_aligned(ops, bar.start_bytes, guest_page),
                                         ops.negate(overlaps(ops, page, other.range(ops)))))


def _routing_evaluate(ops: Ops, rec: Mapping[str, Any], policy: Policy, page_bytes: int,
                      options: RecordOptions) -> Evaluation:
    host_page, guest_page = ops.const(page_bytes), rec["guest_page"]
    a = _bar(rec, "a", rec["a_mapped_last"])
    b = _bar(rec, "b", ops.negate(rec["a_mapped_last"]))
    min_page = ops.uge(guest_page, ops.const(MIN_GUEST_PAGE_BYTES)) if fits(ops, MIN_GUEST_PAGE_BYTES) else ops.true()
    assumptions = (
        ("guest.bar-shaped", ops.all_of(_bar_shaped(ops, a), _bar_shaped(ops, b))),
        ("guest.bars-disjoint", ops.negate(overlaps(ops, a.range(ops), b.range(ops)))),
        ("guest.page-size", ops.all_of(is_pow2(ops, guest_page), min_page)),
        ("guest.page-aligned-bars", ops.implies(rec["guest_aligns"], ops.all_of(
            _alone_in_guest_page(ops, a, b, guest_page), _alone_in_guest_page(ops, b, a, guest_page)))),
    )
    vmm: Vmm | None = policy.vmm
    access = rec["access"]
    antecedent = ops.all_of(ops.true() if vmm is not None else ops.false(), contains_byte(ops, b.range(ops), access))
    if vmm is None:
        return Evaluation(assumptions, antecedent, ops.true(), ())
    a_window = vmm.window(ops, host_page, a)
    stolen = ops.all_of(contains_byte(ops, a_window, access), beats(ops, vmm, host_page, a, b))
    facts = (("a_expanded", vmm.expands(ops, host_page, a)), ("a_window_last", a_window.last),
             ("a_priority", vmm.priority(ops, host_page, a)), ("b_priority", vmm.priority(ops, host_page, b)),
             ("kvm_memslot", _memslot_would_cover(ops, host_page, a_window, access)))
    return Evaluation(assumptions, antecedent, ops.implies(antecedent, ops.negate(stolen)), facts)


def _memslot_would_cover(ops: Ops, host_page, window: Range, access) -> Flag:
    """kvm_align_section(): the host page around the access lies wholly in the winning window."""
    page = span(ops, align_down(ops, access, host_page), host_page)
    return ops.all_of(ops.ule(window.first, page.first), ops.ule(page.last, window.last))


def _routing_describe(rec: Mapping[str, Any], facts: Mapping[str, Any], policy_name: str, page_bytes: int) -> list[str]:
    a_last = rec["a_start"] + rec["a_size"] - 1
    b_last = rec["b_start"] + rec["b_size"] - 1
    order = "A's BAR was written after B's" if rec["a_mapped_last"] else "B's BAR was written after A's"
    path = "a KVM memslot" if facts["kvm_memslot"] else "QEMU's dispatch (no whole host page for a memslot)"
    return [
        f"Under {policy_name} with {size_name(page_bytes)} host pages, the guest's access to {rec['access']:#x} in BAR B "
        f"reaches BAR A's expanded window instead: the expansion of the sub-page BAR A to the host page covers B and "
        f"wins at equal priority, so B's registers are unreachable and the access lands in A's host page.",
        f"guest BAR A [{rec['a_start']:#x}-{a_last:#x}] ({size_name(rec['a_size'])}), window "
        f"[{rec['a_start']:#x}-{facts['a_window_last']:#x}] expanded={facts['a_expanded']} "
        f"priority {facts['a_priority']}",
        f"guest BAR B [{rec['b_start']:#x}-{b_last:#x}] ({size_name(rec['b_size'])}), priority {facts['b_priority']}",
        f"guest page {size_name(rec['guest_page'])}, guest aligns small BARs to its page: {rec['guest_aligns']}; "
        f"{order}",
        f"the access is served by {path}",
    ]


GUEST_WORDS = ("a_start", "a_size", "b_start", "b_size", "guest_page", "access")
GUEST_FLAGS = ("a_whole_mmap", "b_whole_mmap", "a_mapped_last", "guest_aligns")


def _routing_preferences(ops: Ops, rec: Mapping[str, Any]) -> list[Flag]:
    """Show the failure with a guest that aligns its small BARs and a 4 KiB guest page when it can."""
    four_k = [ops.eq(rec["guest_page"], ops.const(MIN_GUEST_PAGE_BYTES))] if fits(ops, MIN_GUEST_PAGE_BYTES) else []
    return [rec["guest_aligns"], *four_k]


BAR_ROUTING = register_record(RecordProperty(
    id="guest.bar-routing",
    title="A guest access to a guest BAR reaches the device that owns that BAR",
    statement=(
        "For every pair of guest BARs the guest programs, an access to an address of BAR B is answered by B's own "
        "memory region, never by the window the VMM made for another BAR A, in particular the host-page "
        "expansion of a sub-page BAR (QEMU hw/vfio/pci.c vfio_sub_page_bar_update_mapping())."
    ),
    scope=("Unbounded over the {width}-bit guest-physical space: two guest BARs of any power-of-two size and "
           "natural alignment, either of them host-exclusive and mmapped whole or not, mapped in either order, "
           "any guest page size of at least 4 KiB (aligning small BARs to it or not), and any address of B. "
           "Pairwise argument: an access is misrouted exactly when some one other window covers it and beats "
           "its own, so two BARs cover any number."),
    words=GUEST_WORDS,
    flags=GUEST_FLAGS,
    evaluate=_routing_evaluate,
    objectives=(("a_size", 0), ("b_size", 0), ("a_start", GUEST_ANCHOR), ("b_start", GUEST_ANCHOR),
                ("access", GUEST_ANCHOR), ("guest_page", 0)),
    describe=_routing_describe,
    preferences=_routing_preferences,
    applies=_needs_vmm,
    needs_vmm=True,
))


def _foreign_evaluate(ops: Ops, sc: PairScenario, policy: Policy, shape: Shape) -> Evaluation:
    """The host bytes behind the guest window of the BAR, the guest BAR at a host-page-aligned address."""
    sit = situate(ops, sc, policy)
    vmm: Vmm | None = policy.vmm
    has_vmm = ops.true() if vmm is not None else ops.false()
    antecedent = ops.all_of(has_vmm, sit.may_map(ops))
    assumptions = tuple(world_assumptions(ops, sc, sit, shape))
    if vmm is None:
        return Evaluation(assumptions, antecedent, ops.true(), tuple(outcome_facts(sit)))
    guest = GuestBar(ops.const(0), sit.bar.size_bytes, sit.may_map(ops), ops.true())
    window = vmm.window(ops, sc.page_bytes, guest)
    reach = host_reach(ops, sc.page_bytes, sit.bar.start_bytes, ops.add(ops.sub(window.last, window.first),
                                                                        ops.const(1)))
    leak = overlaps(ops, reach, sit.foreign)
    facts = tuple(outcome_facts(sit)) + (("reach_start", reach.first), ("reach_end", reach.last))
    return Evaluation(assumptions, antecedent, ops.implies(antecedent, ops.negate(leak)), facts)


def _foreign_explain(sc: PairScenario, facts: dict[str, Any], policy_name: str) -> str:
    last = sc.bar_start + sc.bar_size - 1
    return (f"Under {policy_name} at {size_name(sc.page_bytes)} host pages, the guest's window on BAR "
            f"{sc.bar_index} [{sc.bar_start:#x}-{last:#x}] maps host bytes [{facts['reach_start']:#x}-"
            f"{facts['reach_end']:#x}] (the mmap starts at the page holding the BAR), which include the foreign "
            f"resource [{sc.foreign_first:#x}-{sc.foreign_last:#x}] of a device the guest was not given.")


NO_FOREIGN_HOST_PAGE = register(Property(
    id="guest.no-foreign-host-page",
    title="No guest-physical page maps host bytes of a device that is not assigned to the guest",
    statement=(
        "For every BAR the host kernel lets the VMM mmap, the host-physical bytes behind the guest window the VMM "
        "builds for it (the mmap from the page holding the BAR, as vma_to_pfn() computes it, over the BAR size or, "
        "for an expanded sub-page BAR, the host page) contain no byte of another device's resource."
    ),
    scope=("As for the pair properties (unbounded over the {width}-bit physical address space, one arbitrary "
           "foreign resource in every relation to the parent), with the guest BAR at a host-page-aligned guest "
           "address: the VMM expands a sub-page BAR only there, and the window it maps elsewhere is a prefix of the "
           "expanded one, so that case covers every guest address."),
    evaluate=_foreign_evaluate,
    explain=_foreign_explain,
    needs_vmm=True,
))
