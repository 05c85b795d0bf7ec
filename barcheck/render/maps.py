"""Address maps of counterexamples: which blocks sit where, for barcheck/render/svg.py to draw.

A map is `{"title", "page_size", "blocks": [{"role", "label", "start", "end"}]}`
with hex strings and inclusive ends.  Roles: window (a parent bus or bridge
window), bar (the BAR under test), device (another resource that does not
leak), foreign (the resource that leaks), dummy (the vfio reservation),
mapping (what userspace reaches), request (an mmap request), table (the
MSI-X table).
"""

from __future__ import annotations

from typing import Any, Mapping

from barcheck.engine.pgoffcheck import RoundTripCounterexample
from barcheck.engine.recordcheck import RecordCounterexample
from barcheck.engine.tracecheck import TraceCounterexample
from barcheck.engine.verdict import Counterexample, Result
from barcheck.engine.vmatrace import VmaCounterexample
from model.pci import BarKind
from model.scenario import Origin, Relation
from model.system import State, Structure
from model.units import size_name

DUMMY_LABEL = "vfio sub-page reserved"
MSIX_ENTRY_BYTES = 16


def block(role: str, label: str, first: int, last: int) -> dict[str, str]:
    return {"role": role, "label": label, "start": hex(first), "end": hex(last)}


def address_map(title: str, page_bytes: int, blocks: list[dict[str, str]]) -> dict[str, Any]:
    """Empty ranges (last below first, e.g. the dummy of a BAR that fills its page) draw nothing and are left out."""
    drawn = [b for b in blocks if int(b["end"], 16) >= int(b["start"], 16)]
    return {"title": title, "page_size": hex(page_bytes), "blocks": drawn}


def maps_of(result: Result) -> list[dict[str, Any]]:
    """One map for a single-state counterexample; for a trace, boot and every step that changes the layout."""
    if result.counterexample is not None:
        return pair_maps(result.counterexample)
    trace = result.trace
    if isinstance(trace, TraceCounterexample):
        return trace_maps(trace)
    if isinstance(trace, VmaCounterexample):
        return vma_maps(trace)
    if isinstance(trace, RoundTripCounterexample):
        return round_trip_maps(trace)
    if isinstance(trace, RecordCounterexample):
        return RECORD_MAPS[trace.property_id](trace)
    return []


def pair_maps(cex: Counterexample) -> list[dict[str, Any]]:
    sc, facts = cex.scenario, cex.facts
    bar_label = f"BAR{sc.bar_index} {BarKind(sc.bar_kind).label}, {Origin(sc.bar_origin).label}"
    foreign_label = (f"foreign {'BAR' if cex.bar_shaped_foreign else 'decoder'} "
                     f"({Relation(sc.foreign_relation).label}, {Origin(sc.foreign_origin).label})")
    blocks = [block("window", "parent window", sc.parent_first, sc.parent_last),
              block("bar", bar_label, sc.bar_start, sc.bar_start + sc.bar_size - 1),
              block("foreign", foreign_label, sc.foreign_first, sc.foreign_last)]
    if facts["dummy_held"]:
        blocks.append(block("dummy", DUMMY_LABEL, facts["dummy_start"], facts["dummy_end"]))
    if facts["mmappable"]:
        blocks.append(block("mapping", "mmap window", facts["window_start"], facts["window_end"]))
    else:
        blocks.append(block("request", "page holding the BAR (not mmappable)", facts["window_start"],
                            facts["window_end"]))
    maps = [address_map(f"BAR and its neighbour at {size_name(sc.page_bytes)} pages", sc.page_bytes, blocks)]
    if facts.get("realloc_align"):
        moved = [b for b in blocks if b["role"] in ("window", "foreign")]
        moved.append(block("bar", f"{bar_label}, reassigned", sc.realloc_start, sc.realloc_start + sc.bar_size - 1))
        maps.append(address_map("after the bridge window is released and reassigned", sc.page_bytes, moved))
    return maps


def _named_in(violated: str) -> tuple[list[int], list[int]]:
    """BAR slots and fixed resources a clause label such as `bar:0/bar:1` or `bar:2/fixed:0` names."""
    bars: list[int] = []
    fixed: list[int] = []
    for part in violated.split("/"):
        kind, _, index = part.partition(":")
        if index.isdigit():
            (fixed if kind == "fixed" else bars if kind in ("bar", "mapped") else []).append(int(index))
    return bars, fixed


def _layout(st: Structure, s: State) -> tuple:
    return (s.present, s.assigned, s.start, s.size, s.dummy_held,
            tuple((r.first, r.last) for r in s.dummy), s.mapped, tuple((r.first, r.last) for r in s.mapping))


def _trace_blocks(st: Structure, s: State, highlight: tuple[list[int], list[int]] | None) -> list[dict[str, str]]:
    bars, fixed = highlight or ([], [])
    leaking_bar = next((b for b in bars if s.mapped[b]), bars[0] if bars else None)
    blocks = [block("window", spec.name, s.window[w].first, s.window[w].last) for w, spec in enumerate(st.windows)]
    for f, spec in enumerate(st.fixed):
        blocks.append(block("foreign" if f in fixed else "device", spec.name, s.fixed[f].first, s.fixed[f].last))
    for b in range(len(st.bars)):
        if not (s.present[st.device_of(b)] and s.assigned[b]):
            continue
        role = "bar" if b == leaking_bar or not bars else "foreign" if b in bars else "device"
        blocks.append(block(role, st.label(b), s.start[b], s.start[b] + s.size[b] - 1))
        if s.dummy_held[b]:
            blocks.append(block("dummy", f"{DUMMY_LABEL} ({st.label(b)})", s.dummy[b].first, s.dummy[b].last))
        if s.mapped[b]:
            blocks.append(block("mapping", f"mapping of {st.label(b)}", s.mapping[b].first, s.mapping[b].last))
    return blocks


def trace_maps(tcx: TraceCounterexample) -> list[dict[str, Any]]:
    st, page_bytes = tcx.structure, tcx.initial.page_bytes
    maps = [address_map("boot", page_bytes, _trace_blocks(st, tcx.initial, None))]
    previous = _layout(st, tcx.initial)
    for step in tcx.steps:
        last = step is tcx.steps[-1]
        current = _layout(st, step.after)
        if current != previous or last:
            highlight = _named_in(tcx.violated) if last else None
            title = f"after step {step.number} ({step.event.kind.value})"
            maps.append(address_map(title, page_bytes, _trace_blocks(st, step.after, highlight)))
        previous = current
    return maps


def _vma_blocks(tcx: VmaCounterexample, state, live: tuple, final: bool) -> list[dict[str, str]]:
    st = tcx.structure
    named, _ = _named_in(tcx.violated) if final else ([], [])
    blocks = []
    for b in range(len(st.bar_device)):
        if not state.mmappable[b] and not (live and live[b]):
            continue
        name = f"{st.devices[st.device_of(b)].name} BAR{state.index[b]}"
        blocks.append(block("bar" if b in named else "device", name, state.start[b],
                            state.start[b] + state.size[b] - 1))
        if live and live[b]:
            role = "foreign" if b in named else "mapping"
            text = f"live PTEs of the vma of {name}" + (" (should be gone)" if role == "foreign" else "")
            blocks.append(block(role, text, live[b][0], live[b][1]))
    return blocks


def vma_maps(tcx: VmaCounterexample) -> list[dict[str, Any]]:
    page_bytes = 1 << tcx.initial.page_shift
    maps = [address_map("boot", page_bytes, _vma_blocks(tcx, tcx.initial, (), False))]
    previous: tuple = ()
    for step in tcx.steps:
        last = step is tcx.steps[-1]
        if step.live_after != previous or last:
            title = f"after step {step.number} ({step.event.kind.value})"
            maps.append(address_map(title, page_bytes, _vma_blocks(tcx, step.after, step.live_after, last)))
        previous = step.live_after
    return maps


def round_trip_maps(tcx: RoundTripCounterexample) -> list[dict[str, Any]]:
    """The file-offset space: the region's 40-bit field, the BAR's bytes in it, and the region it decodes to."""
    region_bytes = 1 << 40
    first = tcx.index << 40
    shift = tcx.page_bytes.bit_length() - 1
    offset = first + (tcx.offset_pages << shift)
    index, _ = tcx.decoded()
    blocks = [block("window", f"region {tcx.index} file offsets", first, first + region_bytes - 1),
              block("bar", f"BAR{tcx.index} ({size_name(tcx.size_bytes)})", first, first + tcx.size_bytes - 1),
              block("request", "mmap offset", offset, offset + tcx.page_bytes - 1),
              block("foreign", f"decodes as region {index}", index << 40, (index << 40) + region_bytes - 1)]
    return [address_map("file offsets (VFIO_PCI_INDEX_TO_OFFSET)", tcx.page_bytes, blocks)]


def _msix_blocks(fields: Mapping[str, Any]) -> list[dict[str, str]]:
    start = fields["bar_start"]
    table = start + fields["table_offset"]
    return [block("bar", f"MSI-X BAR ({size_name(fields['bar_size'])})", start, start + fields["bar_size"] - 1),
            block("table", f"MSI-X table ({fields['table_entries']} entries)", table,
                  table + MSIX_ENTRY_BYTES * fields["table_entries"] - 1)]


def _protected_maps(tcx: RecordCounterexample) -> list[dict[str, Any]]:
    f = tcx.fields
    first = f["bar_start"] + f["req_start"]
    blocks = _msix_blocks(f) + [block("mapping", "accepted mmap", first, first + f["req_len"] - 1)]
    blocks[1]["role"] = "foreign"
    return [address_map("MSI-X BAR and the accepted mmap", tcx.page_bytes, blocks)]


def _mappable_maps(tcx: RecordCounterexample) -> list[dict[str, Any]]:
    f = tcx.fields
    page_first = f["bar_start"] + tcx.facts["page_first"]
    byte = f["bar_start"] + f["offset"]
    blocks = _msix_blocks(f) + [block("request", "page refused by mmap", page_first, page_first + tcx.page_bytes - 1),
                                block("foreign", f"byte {f['offset']:#x} (not table)", byte, byte)]
    return [address_map("MSI-X BAR: a non-table byte that cannot be mapped", tcx.page_bytes, blocks)]


def _routing_maps(tcx: RecordCounterexample) -> list[dict[str, Any]]:
    f, facts = tcx.fields, tcx.facts
    blocks = [block("bar", "guest BAR B", f["b_start"], f["b_start"] + f["b_size"] - 1),
              block("device", "guest BAR A", f["a_start"], f["a_start"] + f["a_size"] - 1),
              block("foreign", "A's window (wins)", f["a_start"], facts["a_window_last"]),
              block("request", "the guest's access", f["access"], f["access"])]
    return [address_map("guest-physical addresses", tcx.page_bytes, blocks)]


RECORD_MAPS = {"msix.table-protected": _protected_maps, "msix.non-table-mappable": _mappable_maps,
               "guest.bar-routing": _routing_maps}
