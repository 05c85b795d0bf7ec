"""Replayed mapping traces, as numbered steps naming physical addresses, page size and regions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from model.pgoff import region_pages_shift
from model.units import size_name
from model.vma import MmapChoice, VmaEvent, VmaEventKind, VmaState, VmaStructure


@dataclass(frozen=True, slots=True)
class VmaTraceStep:
    number: int
    event: VmaEvent
    choice: MmapChoice
    before: VmaState
    after: VmaState
    live_before: tuple
    live_after: tuple
    """Per BAR slot: (first byte, last byte) the live PTEs point to, or None."""


@dataclass(frozen=True, slots=True)
class VmaCounterexample:
    structure: VmaStructure
    initial: VmaState
    steps: tuple[VmaTraceStep, ...]
    violated: str
    property_id: str
    property_title: str
    policy: str

    def lines(self) -> list[str]:
        lines = [f"0. {_boot(self.structure, self.initial)}"]
        lines += [f"{step.number}. {_step_text(self.structure, step)}" for step in self.steps]
        lines.append(f"violated: {self.property_id} at {violation_text(self)}: {self.property_title}")
        return lines

    def summary(self) -> str:
        count = len(self.steps)
        return f"after {count} event{'s' if count != 1 else ''} the trace ends with {violation_text(self)}"

    def doc(self) -> dict[str, Any]:
        st, s0 = self.structure, self.initial
        return {
            "replayed": True,
            "property": self.property_id,
            "violated": violation_text(self),
            "page_size": hex(s0.page_bytes),
            "boot": {"bars": [{"device": st.devices[st.device_of(b)].name, "index": s0.index[b],
                               "kind": "mem64" if s0.mem64[b] else "mem32", "start": hex(s0.start[b]),
                               "size": hex(s0.size[b]), "mmappable": bool(s0.mmappable[b])}
                              for b in range(len(st.bar_device))]},
            "steps": [{"number": step.number, "event": step.event.kind.value, "text": _step_text(st, step)}
                      for step in self.steps],
        }


def _bar(st: VmaStructure, s: VmaState, b: int) -> str:
    return f"{st.devices[st.device_of(b)].name} BAR{s.index[b]}"


def _bar_detail(st: VmaStructure, s: VmaState, b: int) -> str:
    kind = "mem64" if s.mem64[b] else "mem32"
    mmap = "mmappable" if s.mmappable[b] else "not mmappable"
    return f"{_bar(st, s, b)} {kind} [{s.start[b]:#x}-{s.start[b] + s.size[b] - 1:#x}] size {s.size[b]:#x} ({mmap})"


def _boot(st: VmaStructure, s: VmaState) -> str:
    bars = [_bar_detail(st, s, b) for b in range(len(st.bar_device)) if s.mmappable[b]]
    return f"boot, page size {size_name(s.page_bytes)}: " + ("; ".join(bars) or "no mmappable BAR")


def _phys(live: tuple, b: int) -> str:
    first, last = live[b]
    return f"physical [{first:#x}-{last:#x}]"


def _step_text(st: VmaStructure, step: VmaTraceStep) -> str:
    kind, t, before, after = step.event.kind, step.event.target, step.before, step.after
    if kind is VmaEventKind.MMAP:
        return _mmap_text(st, step)
    if kind is VmaEventKind.MUNMAP:
        return f"munmap the vma of {_bar(st, before, t)}"
    if kind is VmaEventKind.FAULT:
        if after.pte_live[t] and not (before.pte_live[t] and before.pte_first[t] == after.pte_first[t]):
            return f"touch the vma of {_bar(st, before, t)}: the fault handler maps {_phys(step.live_after, t)}"
        d = st.device_of(t)
        if not (before.mem_on[d] and before.d0[d]):
            return f"touch the vma of {_bar(st, before, t)}: SIGBUS, memory is disabled"
        return f"touch the vma of {_bar(st, before, t)}: already mapped"
    return f"{_DEVICE_TEXT[kind]} {st.devices[t].name}" + _revoked_text(st, step)


_DEVICE_TEXT = {
    VmaEventKind.OPEN: "open (COMMAND memory on, D0)",
    VmaEventKind.CLOSE: "close",
    VmaEventKind.MEM_OFF: "clear PCI_COMMAND_MEMORY of",
    VmaEventKind.MEM_ON: "set PCI_COMMAND_MEMORY of",
    VmaEventKind.RESET: "VFIO_DEVICE_RESET",
    VmaEventKind.HOT_RESET: "VFIO_DEVICE_PCI_HOT_RESET of the set of",
    VmaEventKind.D3: "put into D3hot",
    VmaEventKind.D0: "return to D0",
}


def _revoked_text(st: VmaStructure, step: VmaTraceStep) -> str:
    before, after = step.before, step.after
    parts = []
    for b in range(len(st.bar_device)):
        if not before.pte_live[b]:
            continue
        if not after.pte_live[b]:
            parts.append(f"the vma of {_bar(st, before, b)} is zapped")
        elif step.event.kind not in (VmaEventKind.OPEN, VmaEventKind.MEM_ON, VmaEventKind.D0) \
                and st.device_of(b) in _affected(st, step.event):
            parts.append(f"the vma of {_bar(st, before, b)} (vm_pgoff {before.vm_pgoff[b]:#x}) keeps "
                         f"{_phys(step.live_after, b)}")
    return ": " + "; ".join(parts) if parts else ""


def _affected(st: VmaStructure, event: VmaEvent) -> list[int]:
    return st.set_of(event.target) if event.kind is VmaEventKind.HOT_RESET else [event.target]


def _mmap_text(st: VmaStructure, step: VmaTraceStep) -> str:
    b, s, after = step.event.target, step.before, step.after
    shift = region_pages_shift(s.page_shift)
    offset = (s.index[b] << 40) + (step.choice.offset_pages << s.page_shift)
    encoding = "region encoding" if after.vm_pgoff[b] == (s.index[b] << shift) + step.choice.offset_pages \
        else "physical pfn"
    ptes = f"PTEs map {_phys(step.live_after, b)} now" if after.pte_live[b] else "no PTEs until a fault"
    pages = step.choice.pages
    return (f"mmap {_bar_detail(st, s, b)} at file offset {offset:#x} (region {s.index[b]}, page "
            f"{step.choice.offset_pages:#x}), {pages:#x} page{'s' if pages != 1 else ''}: vm_pgoff "
            f"{after.vm_pgoff[b]:#x} ({encoding}); {ptes}")


def violation_text(tcx: VmaCounterexample) -> str:
    st = tcx.structure
    last = tcx.steps[-1].after if tcx.steps else tcx.initial
    b = int(tcx.violated.split("/")[0].split(":")[1])
    where = f"{_bar(st, last, b)}, page size {size_name(last.page_bytes)}"
    if tcx.property_id == "pgoff.region-of-vma":
        decoded = last.vm_pgoff[b] >> region_pages_shift(last.page_shift)
        return (f"{where}: vm_pgoff {last.vm_pgoff[b]:#x} decodes to region {decoded}, but the vma maps "
                f"region {last.index[b]} at physical {last.start[b]:#x}")
    return f"{where}, region {last.index[b]}: live PTEs to {_phys(tcx.steps[-1].live_after, b)} after revocation"
