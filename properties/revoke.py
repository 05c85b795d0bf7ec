"""Properties of user mappings over time: revocation and what vm_pgoff says, with their invariant.

A property has state clauses (every state of every trace) and step clauses
(every transition), each labelled so a counterexample names the one that
failed.  The invariant that proves them is stated here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from model.ops import Flag, Ops
from model.pci import MIN_MEM_BAR_BYTES, Bar, BarKind
from model.pgoff import region_pages_shift, split_pgoff
from model.policies import Policy
from model.policies.base import POPULATE_AT_FAULT, REVOKE_VMA_LIST, ProbeRequest, may_map_alone
from model.ranges import Range, at_least, fits, is_aligned, is_pow2, last_below, span
from model.vma import (RESET_EVENTS, VmaEvent, VmaState, VmaStructure, memory_enabled, region_pages,
                       stored_pgoff)

Clauses = list[tuple[str, Flag]]


@dataclass(frozen=True, slots=True)
class VmaProperty:
    id: str
    title: str
    statement: str
    state_clauses: Callable[[Ops, Policy, VmaStructure, VmaState], Clauses] | None = None
    step_clauses: Callable[[Ops, Policy, VmaStructure, VmaState, VmaEvent, VmaState], Clauses] | None = None
    antecedent: Callable[[Ops, VmaStructure, VmaState], Flag] | None = None
    strengthening: Callable[[Ops, Policy, VmaStructure, VmaState], Clauses] | None = None
    """Clauses this property adds to the shared invariant."""


def revoked_clauses(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState) -> Clauses:
    """No live PTE of a device's vma while its memory is disabled or it is in D3hot."""
    return [(f"bar:{b}", ops.implies(s.pte_live[b], memory_enabled(ops, s, st.device_of(b))))
            for b in range(len(st.bar_device))]


def reset_clauses(ops: Ops, policy: Policy, st: VmaStructure, before: VmaState, event: VmaEvent,
                  after: VmaState) -> Clauses:
    """Right after a reset, no PTE of a reset device is live (they refault once the reset is over)."""
    if event.kind not in RESET_EVENTS:
        return []
    devices = st.set_of(event.target) if event.kind.value == "hot-reset" else [event.target]
    return [(f"bar:{b}/{event.kind.value}", ops.negate(after.pte_live[b]))
            for d in devices for b in st.devices[d].bars]


def region_clauses(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState) -> Clauses:
    """The region index vm_pgoff decodes to is the index of the BAR the vma maps."""
    clauses = []
    for b in range(len(st.bar_device)):
        decoded = split_pgoff(ops, s.vm_pgoff[b], s.page_shift).index
        clauses.append((f"bar:{b}", ops.implies(s.mapped[b], ops.eq(decoded, s.index[b]))))
    return clauses


def _some_live_pte(ops: Ops, st: VmaStructure, s: VmaState) -> Flag:
    return ops.any_of(*s.pte_live)


def _some_mapping(ops: Ops, st: VmaStructure, s: VmaState) -> Flag:
    return ops.any_of(*s.mapped)


VMA_PROPERTIES = {
    prop.id: prop for prop in (
        VmaProperty(
            "revoke.complete",
            "After memory-disable, reset or D3, no live translation to the device's BARs remains",
            "In every state, no vma of a device whose memory decode is off (COMMAND memory bit "
            "clear) or which is in D3hot has a live PTE (vfio_basic_config_write(), "
            "vfio_lock_and_set_power_state() zap, the fault handler SIGBUSes); and right after a "
            "VFIO_DEVICE_RESET or a hot reset of the device set no vma of a reset device has a live PTE.",
            state_clauses=revoked_clauses, step_clauses=reset_clauses, antecedent=_some_live_pte,
            strengthening=lambda ops, policy, st, s: _pte_enabled_clauses(ops, policy, st, s)),
        VmaProperty(
            "pgoff.region-of-vma",
            "The region the kernel derives from vm_pgoff is the BAR that was mapped",
            "For every live vma, `vm_pgoff >> (VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT)` (what "
            "vma_to_pfn() and unmap_mapping_range() over region offsets rely on) is the region "
            "index of the BAR mmap mapped.",
            state_clauses=region_clauses, antecedent=_some_mapping),
    )
}


def _bar_view(ops: Ops, s: VmaState, b: int) -> Bar:
    kind = ops.ite(s.mem64[b], ops.const(int(BarKind.MEM64)), ops.const(int(BarKind.MEM32)))
    return Bar(s.index[b], kind, ops.false(), s.start[b], s.size[b])


def mmap_rule_allows(ops: Ops, policy: Policy, s: VmaState, b: int) -> Flag:
    """The policy's probe marks the BAR mmappable when its sub-page remainder can be reserved."""
    top = ops.const((1 << ops.width) - 1)
    req = ProbeRequest(ops.const(s.page_bytes), _bar_view(ops, s, b), Range(ops.const(0), top), ())
    return may_map_alone(ops, policy, req)


def constant_clauses(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState,
                     max_bar_bytes: int | None) -> Clauses:
    """What never changes: the BARs obey the PCI rules and are mmappable only by the policy's rule."""
    clauses: Clauses = []
    for b in range(len(st.bar_device)):
        own = span(ops, s.start[b], s.size[b])
        clauses += [
            (f"pci.bar-size-pow2:{b}", is_pow2(ops, s.size[b])),
            (f"pci.bar-min-size:{b}", at_least(ops, s.size[b], MIN_MEM_BAR_BYTES)),
            (f"pci.bar-natural-alignment:{b}", is_aligned(ops, s.start[b], s.size[b])),
            (f"pci.bar-no-wrap:{b}", ops.ule(own.first, own.last)),
            (f"pci.bar-32bit-below-4g:{b}", ops.implies(ops.negate(s.mem64[b]), last_below(ops, own.last, 1 << 32))),
            (f"pci.bar-slot:{b}", ops.all_of(ops.ult(s.index[b], ops.const(6)),
                                              ops.implies(s.mem64[b], ops.ult(s.index[b], ops.const(5))))),
            (f"vfio.mmappable-by-rule:{b}", ops.implies(s.mmappable[b], mmap_rule_allows(ops, policy, s, b))),
        ]
        if max_bar_bytes is not None and fits(ops, max_bar_bytes):
            clauses.append((f"bar.max-size:{b}", ops.ule(s.size[b], ops.const(max_bar_bytes))))
    for device in st.devices:
        for i, b in enumerate(device.bars):
            for c in device.bars[i + 1:]:
                clauses.append((f"pci.bar-slot-distinct:{b}/{c}", _distinct_slots(ops, s, b, c)))
    return clauses


def _distinct_slots(ops: Ops, s: VmaState, b: int, c: int) -> Flag:
    """Two BARs of one device use different registers; a 64-bit BAR also takes the next one."""
    one = ops.const(1)
    return ops.all_of(ops.ne(s.index[b], s.index[c]),
                      ops.implies(s.mem64[b], ops.ne(s.index[c], ops.add(s.index[b], one))),
                      ops.implies(s.mem64[c], ops.ne(s.index[b], ops.add(s.index[c], one))))


def boot_clauses(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState) -> Clauses:
    idle = [ops.negate(flag) for flag in s.opened + s.mapped + s.listed + s.pte_live]
    return [("boot.idle", ops.all_of(*idle))]


def invariant_clauses(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState) -> Clauses:
    """The strengthening that makes the properties inductive.

    - mapped: a vma belongs to an open device, lies inside its region's
      PAGE_ALIGN(len) and holds the vm_pgoff mmap stored;
    - listed: only a mapped vma is on the vma_list, and a vma-list policy lists every populated vma;
    - pte: live PTEs are a tail of their vma (a zap from offset 0 leaves one)
      (revoke.complete adds: they exist only while memory is enabled).
    """
    clauses: Clauses = []
    shift = region_pages_shift(s.page_shift)
    for b in range(len(st.bar_device)):
        d = st.device_of(b)
        span_pages = region_pages(ops, s, b)
        vma = ops.all_of(
            s.opened[d], s.mmappable[b],
            ops.uge(s.vma_pages[b], ops.const(1)), ops.ule(s.vma_pages[b], span_pages),
            ops.ult(s.offset_pages[b], ops.const(1 << shift)),
            ops.ule(s.offset_pages[b], ops.sub(span_pages, s.vma_pages[b])),
            ops.eq(s.vm_pgoff[b], stored_pgoff(ops, policy, s, b, s.offset_pages[b])))
        clauses.append((f"mapped:{b}", ops.implies(s.mapped[b], vma)))
        clauses.append((f"listed:{b}", ops.implies(s.listed[b], s.mapped[b])))
        if policy.revokes_by == REVOKE_VMA_LIST:
            clauses.append((f"listed-live:{b}", ops.implies(s.pte_live[b], s.listed[b])))
        clauses.append((f"pte:{b}", ops.implies(s.pte_live[b], _pte_shape(ops, policy, st, s, b))))
    if not policy.has_command_register:
        for d in range(len(st.devices)):
            clauses.append((f"no-config:{d}", ops.implies(s.opened[d], memory_enabled(ops, s, d))))
    return clauses


def _pte_enabled_clauses(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState) -> Clauses:
    """Where PTEs appear only at a fault, which checks memory, they live only while memory is enabled."""
    if policy.populates_at != POPULATE_AT_FAULT:
        return []
    return [(f"pte-enabled:{b}", ops.implies(s.pte_live[b], memory_enabled(ops, s, st.device_of(b))))
            for b in range(len(st.bar_device))]


def _pte_shape(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState, b: int) -> Flag:
    last = ops.add(s.vm_pgoff[b], ops.sub(s.vma_pages[b], ops.const(1)))
    return ops.all_of(s.mapped[b], ops.ule(s.vm_pgoff[b], s.pte_first[b]), ops.ule(s.pte_first[b], s.pte_last[b]),
                      ops.eq(s.pte_last[b], last))


VMA_ASSUMPTION_TEXT = {
    "pci.bar-slot-distinct": "two BARs of one device sit in different BAR registers, and a 64-bit BAR "
                             "also takes the register after its own",
    "vfio.mmappable-by-rule": "a BAR is mmappable only where the policy's probe allows it "
                              "(a sub-page BAR's page remainder may or may not be reservable)",
    "bar.max-size": "every BAR is at most the --max-bar-size bound given for the run",
    "pgoff.offset-inside-bar": "the mmap offset lies inside PAGE_ALIGN(size) of the BAR "
                               "(vfio_pci_core_mmap() rejects req_start + req_len > phys_len)",
}
