"""Trace steps in domain words, from concrete states."""

from __future__ import annotations

from model.events import EventKind
from model.policies import Policy
from model.simulate import Taken
from model.system import State, Structure


def _range(first: int, last: int) -> str:
    return f"{first:#x}-{last:#x}"


def bar_text(st: Structure, state: State, b: int) -> str:
    if not state.assigned[b]:
        return f"{st.label(b)} unassigned"
    return f"{st.label(b)} {_range(state.start[b], state.start[b] + state.size[b] - 1)}"


def reserved_ranges(state: State) -> list[tuple[int, int]]:
    return sorted((r.first, r.last) for r, held in zip(state.dummy, state.dummy_held) if held)


def _page_of(state: State, address: int) -> int:
    return address & ~(state.page_bytes - 1)


def _page_sharers(st: Structure, state: State, b: int) -> list[str]:
    """Other devices' BARs in a page BAR b touches, with whether that BAR is mapped."""
    if not state.assigned[b]:
        return []
    first = _page_of(state, state.start[b])
    last = _page_of(state, state.start[b] + state.size[b] - 1) + state.page_bytes - 1
    found = []
    for o in range(len(st.bars)):
        if st.device_of(o) == st.device_of(b) or not state.assigned[o] or not state.present[st.device_of(o)]:
            continue
        o_last = state.start[o] + state.size[o] - 1
        if state.start[o] <= last and first <= o_last:
            mapped = ", which is mapped" if state.mapped[o] else ""
            found.append(f"inside the page of {st.label(o)}{mapped}")
    return found


def _why_no_mmap(st: Structure, state: State, b: int, policy: Policy | None) -> str:
    if state.size[b] >= state.page_bytes:
        return "no mmap"
    if policy is not None and not hasattr(policy, "may_reserve"):
        return "no mmap (sub-page BAR: this kernel maps only BARs of at least a page)"
    if state.start[b] & (state.page_bytes - 1):
        return "no mmap (sub-page BAR whose start is not page-aligned)"
    if state.dummy_held[b]:
        return "no mmap (the rest of its page is taken by its own reservation from the first probe)"
    return "no mmap (the rest of its page cannot be reserved: it is taken)"


def _probe_text(st: Structure, t: Taken, policy: Policy | None) -> str:
    parts = []
    for b in st.devices[t.event.target].bars:
        a = t.after
        if a.mmap_ok[b]:
            extra = f", reserved {_range(a.dummy[b].first, a.dummy[b].last)}" if a.dummy_held[b] else ""
            parts.append(f"{bar_text(st, a, b)} mmap yes{extra}")
        else:
            parts.append(f"{bar_text(st, a, b)} {_why_no_mmap(st, a, b, policy)}")
    return "; ".join(parts)


def _placement_text(st: Structure, t: Taken, bars: list[int]) -> str:
    parts = []
    for b in bars:
        if not t.after.assigned[b]:
            parts.append(f"{st.label(b)} could not be assigned (no free aligned space)")
            continue
        where = _page_sharers(st, t.before.replace(start=t.after.start, assigned=t.after.assigned), b)
        text = f"{st.label(b)} assigned {_range(t.after.start[b], t.after.start[b] + t.after.size[b] - 1)}"
        parts.append(", ".join([text] + where))
    return "; ".join(parts)


def _released(st: Structure, t: Taken) -> str:
    gone = [b for b in range(len(st.bars)) if t.before.dummy_held[b] and not t.after.dummy_held[b]]
    if not gone:
        return ""
    return "; released " + ", ".join(_range(t.before.dummy[b].first, t.before.dummy[b].last) for b in gone)


def describe_step(st: Structure, t: Taken, policy: Policy | None) -> str:
    kind, target = t.event.kind, t.event.target
    if kind.target_kind == "device":
        name = st.devices[target].name
    elif kind.target_kind == "bar":
        name = st.label(target)
    else:
        name = st.windows[target].name
    head = f"{kind.value} {name}"
    if not t.enabled:
        return f"{head}: not possible in this state, nothing happens"
    if kind in (EventKind.OPEN, EventKind.REPROBE):
        return f"{head}: {_probe_text(st, t, policy)}"
    if kind is EventKind.MMAP:
        m = t.after.mapping[target]
        return f"{head}: the mapping reaches {_range(m.first, m.last)}"
    if kind is EventKind.HOT_ADD:
        return f"{head}: {_placement_text(st, t, list(st.devices[target].bars))}"
    if kind is EventKind.RESCAN:
        return f"{head}: bridge window released and reassigned; {_placement_text(st, t, st.bars_in(target))}{_released(st, t)}"
    return f"{head}{_released(st, t) or ''}".replace(f"{head}; ", f"{head}: ")


def clause_text(st: Structure, name: str) -> str:
    """A clause label such as `bar:0/fixed:0` in domain words."""
    parts = []
    for part in name.split("/"):
        kind, _, index = part.partition(":")
        if kind in ("bar", "mapped") and index.isdigit():
            parts.append(st.label(int(index)))
        elif kind == "fixed" and index.isdigit():
            parts.append(st.fixed[int(index)].name)
        else:
            parts.append(part)
    return " vs ".join(parts)
