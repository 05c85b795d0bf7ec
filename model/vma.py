"""User mappings of BARs at the level of vmas and PTEs, and how access is revoked.

The structure (devices, their bus and BAR slots) is plain Python; the state
holds every BAR's index, place and size and every vma's vm_pgoff and live
PTEs as `Ops` words and flags, so one transition function serves concrete
replay and symbolic unrolling.  BARs do not move here: placement over time
is model/events.py's concern.

Each BAR slot has one vma slot.  The zap methods modelled act on each vma on
its own (list membership, or the vma's own pgoff interval), so more vmas of
one BAR behave like several independent slots.  A fault populates the whole
vma (io_remap_pfn_range() in v5.8-v6.9); later kernels insert one page or one
huge page per fault, a subset, so every property here that holds for the
whole vma holds for them.

Kernel sources:
- mmap, fault, zap from v6.10: drivers/vfio/pci/vfio_pci_core.c
  vfio_pci_core_mmap(), vma_to_pfn(), vfio_pci_mmap_huge_fault(),
  vfio_pci_zap_bars() (gregkh/linux@1129c0011b90; aac6db75a9fc).
- v5.8-v6.9: 11c4cd07ba11 and abafbc551fdd (vma_list, vfio_pci_mmap_fault(),
  vfio_pci_zap_and_vma_lock()).
- up to v5.7: vfio_pci_mmap() sets `vm_pgoff = (pci_resource_start >> PAGE_SHIFT) + pgoff`
  and calls remap_pfn_range() (torvalds/linux@01be83eea08d drivers/vfio/pci/vfio_pci.c).
- callers of the zap: vfio_basic_config_write() when a COMMAND write clears
  PCI_COMMAND_MEMORY, vfio_pci_ioctl_reset(), vfio_pci_dev_set_hot_reset(),
  vfio_lock_and_set_power_state() for D3hot.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any, Sequence

from model.ops import Flag, Ops, Word
from model.pgoff import region_pages_shift, split_pgoff
from model.policies.base import (PGOFF_REGION, POPULATE_AT_FAULT, POPULATE_AT_MMAP, REVOKE_MAPPING_RANGE,
                                 REVOKE_VMA_LIST, Policy)
from model.ranges import Range, align_up, umax


@dataclass(frozen=True, slots=True)
class VmaDevice:
    name: str
    bus: int
    """Devices on one bus form a vfio device set: a hot reset resets them all."""
    bars: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class VmaStructure:
    devices: tuple[VmaDevice, ...]
    bar_device: tuple[int, ...]
    """Per BAR slot: the device it belongs to."""

    def device_of(self, b: int) -> int:
        return self.bar_device[b]

    def set_of(self, d: int) -> list[int]:
        return [e for e, dev in enumerate(self.devices) if dev.bus == self.devices[d].bus]

    def slot_name(self, b: int) -> str:
        d = self.device_of(b)
        return f"{self.devices[d].name} slot {self.devices[d].bars.index(b)}"


def vma_structure(devices: int = 3, bars_per_device: int = 2) -> VmaStructure:
    """Devices in pairs on one bus (a device set of two), each with BAR slots of any index."""
    if devices < 1 or bars_per_device < 1:
        raise ValueError("a structure needs at least one device with one BAR")
    specs: list[VmaDevice] = []
    owner: list[int] = []
    for d in range(devices):
        slots = tuple(range(len(owner), len(owner) + bars_per_device))
        owner += [d] * bars_per_device
        specs.append(VmaDevice(f"0000:{d // 2 + 1:02x}:{d % 2:02x}.0", d // 2, slots))
    return VmaStructure(tuple(specs), tuple(owner))


@dataclass(frozen=True, slots=True)
class VmaState:
    page_shift: int
    index: tuple[Word, ...]
    """Per BAR: its region index (0-5); constant."""
    start: tuple[Word, ...]
    size: tuple[Word, ...]
    mem64: tuple[Flag, ...]
    mmappable: tuple[Flag, ...]
    """bar_mmap_supported[] as probed at open: assumed possible under the policy's rule."""
    opened: tuple[Flag, ...]
    mem_on: tuple[Flag, ...]
    """Per device: PCI_COMMAND_MEMORY as the user last wrote it."""
    d0: tuple[Flag, ...]
    """Per device: in D0 (false: D3hot)."""
    mapped: tuple[Flag, ...]
    vm_pgoff: tuple[Word, ...]
    vma_pages: tuple[Word, ...]
    offset_pages: tuple[Word, ...]
    """The in-region page offset the user passed to mmap (kept to report it)."""
    listed: tuple[Flag, ...]
    """The vma is on vdev->vma_list (v5.8-v6.9)."""
    pte_live: tuple[Flag, ...]
    pte_first: tuple[Word, ...]
    pte_last: tuple[Word, ...]
    """Live PTEs cover the vma's pages [pte_first, pte_last], numbered like vm_pgoff.

    Where they point follows from the vma (pte_pfn()): BARs do not move here
    and vm_pgoff is fixed for the life of the vma.
    """

    def replace(self, **changes: Any) -> "VmaState":
        return dataclasses.replace(self, **changes)

    @property
    def page_bytes(self) -> int:
        return 1 << self.page_shift


CONSTANT_FIELDS = ("index", "start", "size", "mem64", "mmappable")
DEVICE_FIELDS = ("opened", "mem_on", "d0")
WORD_FIELDS = ("index", "start", "size", "vm_pgoff", "vma_pages", "offset_pages", "pte_first", "pte_last")


class VmaEventKind(str, enum.Enum):
    OPEN = "open"
    CLOSE = "close"
    MMAP = "mmap"
    MUNMAP = "munmap"
    FAULT = "fault"
    MEM_OFF = "mem-off"
    MEM_ON = "mem-on"
    RESET = "reset"
    HOT_RESET = "hot-reset"
    D3 = "d3"
    D0 = "d0"

    @property
    def on_bar(self) -> bool:
        return self in (VmaEventKind.MMAP, VmaEventKind.MUNMAP, VmaEventKind.FAULT)


REVOKING_EVENTS = (VmaEventKind.MEM_OFF, VmaEventKind.RESET, VmaEventKind.HOT_RESET, VmaEventKind.D3)
RESET_EVENTS = (VmaEventKind.RESET, VmaEventKind.HOT_RESET)


@dataclass(frozen=True, slots=True)
class VmaEvent:
    kind: VmaEventKind
    target: int


@dataclass(frozen=True, slots=True)
class MmapChoice:
    """What the user passes to mmap(2): the in-region page offset and the length in pages."""

    offset_pages: Word
    pages: Word


@dataclass(frozen=True, slots=True)
class VmaStep:
    enabled: Flag
    after: VmaState


def all_vma_events(st: VmaStructure, kinds: Sequence[VmaEventKind] = tuple(VmaEventKind)) -> list[VmaEvent]:
    events = []
    for kind in kinds:
        count = len(st.bar_device) if kind.on_bar else len(st.devices)
        events += [VmaEvent(kind, t) for t in range(count)]
    return events


def with_item(values: tuple, index: int, value: Any) -> tuple:
    return values[:index] + (value,) + values[index + 1:]


def memory_enabled(ops: Ops, s: VmaState, d: int) -> Flag:
    """__vfio_pci_memory_enabled(): in D0 and PCI_COMMAND_MEMORY set."""
    return ops.all_of(s.mem_on[d], s.d0[d])


def region_pages(ops: Ops, s: VmaState, b: int) -> Word:
    """`PAGE_ALIGN(pci_resource_len)` in pages: a sub-page BAR counts as one page."""
    return ops.lshr(align_up(ops, s.size[b], ops.const(s.page_bytes)), s.page_shift)


def stored_pgoff(ops: Ops, policy: Policy, s: VmaState, b: int, offset_pages: Word) -> Word:
    """vm_pgoff after mmap: the region encoding, or `(pci_resource_start >> PAGE_SHIFT) + pgoff`."""
    if policy.pgoff_holds == PGOFF_REGION:
        return ops.add(ops.shl(s.index[b], region_pages_shift(s.page_shift)), offset_pages)
    return ops.add(ops.lshr(s.start[b], s.page_shift), offset_pages)


def requested_pfn(ops: Ops, s: VmaState, b: int) -> Word:
    """The pfn mmap was asked for: `(pci_resource_start >> PAGE_SHIFT) + pgoff`, as remap_pfn_range() maps it."""
    return ops.add(ops.lshr(s.start[b], s.page_shift), s.offset_pages[b])


def vma_pfn(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState, b: int) -> Word:
    """The pfn the fault handler maps at the vma's first page.

    Region encoding: vma_to_pfn() takes the index from vm_pgoff and looks up
    that BAR of the device (pci_resource_start() of an absent BAR is 0).
    pfn encoding: vm_pgoff itself.
    """
    if policy.pgoff_holds != PGOFF_REGION:
        return s.vm_pgoff[b]
    split = split_pgoff(ops, s.vm_pgoff[b], s.page_shift)
    base = ops.const(0)
    for j in reversed(st.devices[st.device_of(b)].bars):
        base = ops.ite(ops.eq(s.index[j], split.index), ops.lshr(s.start[j], s.page_shift), base)
    return ops.add(base, split.in_region_pages)


def pte_pfn(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState, b: int) -> Range:
    """The physical pages the vma's live PTEs point to: remap_pfn_range() maps the pfn mmap
    was asked for, a fault handler the pfn it derives from vm_pgoff."""
    base = vma_pfn(ops, policy, st, s, b) if policy.populates_at == POPULATE_AT_FAULT else requested_pfn(ops, s, b)
    first = ops.add(base, ops.sub(s.pte_first[b], s.vm_pgoff[b]))
    return Range(first, ops.add(first, ops.sub(s.pte_last[b], s.pte_first[b])))


def _populated(ops: Ops, s: VmaState, b: int, listed: Flag) -> VmaState:
    last = ops.add(s.vm_pgoff[b], ops.sub(s.vma_pages[b], ops.const(1)))
    return s.replace(pte_live=with_item(s.pte_live, b, ops.true()),
                     pte_first=with_item(s.pte_first, b, s.vm_pgoff[b]),
                     pte_last=with_item(s.pte_last, b, last),
                     listed=with_item(s.listed, b, listed))


def _open(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState, d: int) -> VmaStep:
    """vfio_pci_core_enable(): pci_enable_device() sets PCI_COMMAND_MEMORY; the device is put in D0."""
    after = s.replace(opened=with_item(s.opened, d, ops.true()), mem_on=with_item(s.mem_on, d, ops.true()),
                      d0=with_item(s.d0, d, ops.true()))
    return VmaStep(ops.negate(s.opened[d]), after)


def _close(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState, d: int) -> VmaStep:
    """The last close needs every vma gone: a vma holds a reference to the device file."""
    enabled = ops.all_of(s.opened[d], *(ops.negate(s.mapped[b]) for b in st.devices[d].bars))
    return VmaStep(enabled, s.replace(opened=with_item(s.opened, d, ops.false())))


def _mmap(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState, b: int, choice: MmapChoice) -> VmaStep:
    """vfio_pci_core_mmap(): the region must be mmappable and `req_start + req_len <= phys_len`.

    The offset stays inside the region's 1 TiB of file offsets: a larger one
    names another region index, which is another BAR's mmap.
    """
    d = st.device_of(b)
    span_pages = region_pages(ops, s, b)
    fits = ops.all_of(ops.uge(choice.pages, ops.const(1)), ops.ule(choice.pages, span_pages),
                      ops.ult(choice.offset_pages, ops.const(1 << region_pages_shift(s.page_shift))),
                      ops.ule(choice.offset_pages, ops.sub(span_pages, choice.pages)))
    enabled = ops.all_of(s.opened[d], s.mmappable[b], ops.negate(s.mapped[b]), fits)
    after = s.replace(mapped=with_item(s.mapped, b, ops.true()),
                      vm_pgoff=with_item(s.vm_pgoff, b, stored_pgoff(ops, policy, s, b, choice.offset_pages)),
                      vma_pages=with_item(s.vma_pages, b, choice.pages),
                      offset_pages=with_item(s.offset_pages, b, choice.offset_pages),
                      listed=with_item(s.listed, b, ops.false()),
                      pte_live=with_item(s.pte_live, b, ops.false()))
    if policy.populates_at == POPULATE_AT_MMAP:
        after = _populated(ops, after, b, ops.false())
    return VmaStep(enabled, after)


def _munmap(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState, b: int) -> VmaStep:
    """The vma goes, with its PTEs; vm_ops->close takes it off the vma_list."""
    after = s.replace(mapped=with_item(s.mapped, b, ops.false()), pte_live=with_item(s.pte_live, b, ops.false()),
                      listed=with_item(s.listed, b, ops.false()))
    return VmaStep(s.mapped[b], after)


def _fault(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState, b: int) -> VmaStep:
    """The fault handler: SIGBUS while memory is disabled, else the vma is populated.

    Only where population is fault-driven; remap_pfn_range() kernels never fault on these vmas.
    """
    if policy.populates_at != POPULATE_AT_FAULT:
        return VmaStep(ops.false(), s)
    ok = memory_enabled(ops, s, st.device_of(b))
    listed = ops.true() if policy.revokes_by == REVOKE_VMA_LIST else ops.false()
    populated = _populated(ops, s, b, listed)
    after = s.replace(
        pte_live=with_item(s.pte_live, b, ops.flag_ite(ok, populated.pte_live[b], s.pte_live[b])),
        pte_first=with_item(s.pte_first, b, ops.ite(ok, populated.pte_first[b], s.pte_first[b])),
        pte_last=with_item(s.pte_last, b, ops.ite(ok, populated.pte_last[b], s.pte_last[b])),
        listed=with_item(s.listed, b, ops.flag_ite(ok, populated.listed[b], s.listed[b])))
    return VmaStep(s.mapped[b], after)


def revoke(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState, d: int) -> VmaState:
    """What the policy's zap leaves of device d's PTEs."""
    after = s
    for b in st.devices[d].bars:
        if policy.revokes_by == REVOKE_VMA_LIST:
            live = ops.all_of(after.pte_live[b], ops.negate(after.listed[b]))
            after = after.replace(pte_live=with_item(after.pte_live, b, live),
                                  listed=with_item(after.listed, b, ops.false()))
        elif policy.revokes_by == REVOKE_MAPPING_RANGE:
            after = _zap_prefix(ops, after, b, ops.const(policy.zap_end_pgoff(s.page_shift)))
    return after


def _zap_prefix(ops: Ops, s: VmaState, b: int, end_pgoff: Word) -> VmaState:
    """unmap_mapping_range(mapping, 0, end << PAGE_SHIFT, 1) on one vma.

    It zaps the vma's pages whose file page offset (vm_pgoff numbering) lies
    in [0, end): the live PTEs keep only their part at or above `end`.
    """
    survives = ops.all_of(s.pte_live[b], ops.uge(s.pte_last[b], end_pgoff))
    first = umax(ops, s.pte_first[b], end_pgoff)
    return s.replace(pte_live=with_item(s.pte_live, b, survives),
                     pte_first=with_item(s.pte_first, b, ops.ite(survives, first, s.pte_first[b])))


def _config_guard(ops: Ops, policy: Policy, s: VmaState, d: int) -> Flag:
    return s.opened[d] if policy.has_command_register else ops.false()


def _mem_off(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState, d: int) -> VmaStep:
    after = revoke(ops, policy, st, s.replace(mem_on=with_item(s.mem_on, d, ops.false())), d)
    return VmaStep(_config_guard(ops, policy, s, d), after)


def _mem_on(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState, d: int) -> VmaStep:
    enabled = ops.all_of(_config_guard(ops, policy, s, d), ops.negate(s.mem_on[d]))
    return VmaStep(enabled, s.replace(mem_on=with_item(s.mem_on, d, ops.true())))


def _reset(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState, d: int) -> VmaStep:
    """VFIO_DEVICE_RESET: zap, set D0, reset; the PCI core saves and restores COMMAND around it."""
    after = revoke(ops, policy, st, s, d).replace(d0=with_item(s.d0, d, ops.true()))
    return VmaStep(s.opened[d], after)


def _hot_reset(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState, d: int) -> VmaStep:
    """VFIO_DEVICE_PCI_HOT_RESET: every device of the set is zapped and write-locked, then the bus resets."""
    after = s
    for e in st.set_of(d):
        after = revoke(ops, policy, st, after, e)
    return VmaStep(_config_guard(ops, policy, s, d), after)


def _d3(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState, d: int) -> VmaStep:
    """A PM-capability write to D3hot: vfio_lock_and_set_power_state() zaps first."""
    enabled = ops.all_of(_config_guard(ops, policy, s, d), s.d0[d])
    after = revoke(ops, policy, st, s.replace(d0=with_item(s.d0, d, ops.false())), d)
    return VmaStep(enabled, after)


def _d0(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState, d: int) -> VmaStep:
    enabled = ops.all_of(_config_guard(ops, policy, s, d), ops.negate(s.d0[d]))
    return VmaStep(enabled, s.replace(d0=with_item(s.d0, d, ops.true())))


_DEVICE_EVENTS = {
    VmaEventKind.OPEN: _open, VmaEventKind.CLOSE: _close, VmaEventKind.MEM_OFF: _mem_off,
    VmaEventKind.MEM_ON: _mem_on, VmaEventKind.RESET: _reset, VmaEventKind.HOT_RESET: _hot_reset,
    VmaEventKind.D3: _d3, VmaEventKind.D0: _d0,
}


def vma_transition(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState, event: VmaEvent,
                   choice: MmapChoice | None = None) -> VmaStep:
    """The guard and the successor state of one event."""
    if event.kind is VmaEventKind.MMAP:
        if choice is None:
            raise ValueError("mmap needs an offset and a length")
        return _mmap(ops, policy, st, s, event.target, choice)
    if event.kind is VmaEventKind.MUNMAP:
        return _munmap(ops, policy, st, s, event.target)
    if event.kind is VmaEventKind.FAULT:
        return _fault(ops, policy, st, s, event.target)
    return _DEVICE_EVENTS[event.kind](ops, policy, st, s, event.target)


def idle_vma_state(st: VmaStructure, page_bytes: int, bars: Sequence[tuple[int, int, int, bool]],
                   mmappable: Sequence[bool] | None = None) -> VmaState:
    """A state at boot from (index, start, size, mem64) per BAR: nothing open or mapped."""
    n = len(st.bar_device)
    zeros, no = (0,) * n, (False,) * n
    return VmaState(
        page_shift=page_bytes.bit_length() - 1,
        index=tuple(bar[0] for bar in bars), start=tuple(bar[1] for bar in bars),
        size=tuple(bar[2] for bar in bars), mem64=tuple(bar[3] for bar in bars),
        mmappable=tuple(mmappable) if mmappable is not None else (True,) * n,
        opened=(False,) * len(st.devices), mem_on=(False,) * len(st.devices), d0=(True,) * len(st.devices),
        mapped=no, vm_pgoff=zeros, vma_pages=zeros, offset_pages=zeros, listed=no, pte_live=no,
        pte_first=zeros, pte_last=zeros)
