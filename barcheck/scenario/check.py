"""`barcheck check SCENARIO.toml`: run a scenario's events step by step, per page size.

With every value concrete the run is the concrete semantics itself.  With
values left open ("any"), the same events are executed symbolically and the
solver searches the open values for a violation; what it finds is replayed
on integers before it is reported.
"""

from __future__ import annotations

from typing import Any
from dataclasses import dataclass, field

from barcheck.engine.describe import clause_text, describe_step, reserved_ranges
from barcheck.engine.tracecheck import property_clauses
from barcheck.engine.session import DEFAULT_RLIMIT, DEFAULT_SEED
from barcheck.engine.verdict import EncodingMismatch, Verdict
from model.events import Event, EventKind
from model.ops import ConcreteOps
from model.policies import Policy
from model.simulate import Move, idle_state, run
from model.system import State
from model.pci import ScenarioError
from model.topology import ANY, Layout, Value, boot_layout
from properties.trace import TRACE_PROPERTIES, TraceProperty

from barcheck.scenario.file import EventDecl, ScenarioSpec


@dataclass(frozen=True, slots=True)
class StepReport:
    number: int
    text: str
    enabled: bool
    violations: tuple[str, ...] = ()
    mismatches: tuple[str, ...] = ()


@dataclass
class PageRun:
    page_size: int
    verdict: Verdict
    steps: list[StepReport] = field(default_factory=list)
    open_values: dict[str, int] = field(default_factory=dict)
    """For scenarios with "any": the values of the counterexample."""
    reason: str = ""
    structure: Any = None
    initial: Any = None
    taken: list = field(default_factory=list)
    """The concrete run the steps describe (for address maps)."""
    violated: str = ""
    """The first clause broken, e.g. `bar:0/bar:1` (empty when none is)."""


def selected_properties(spec: ScenarioSpec) -> list[TraceProperty]:
    ids = spec.properties or tuple(sorted(TRACE_PROPERTIES))
    return [TRACE_PROPERTIES[i] for i in ids]


def to_event(layout: Layout, decl: EventDecl) -> Event:
    if decl.kind is EventKind.RESCAN:
        return Event(decl.kind, layout.window_index[decl.target])
    if decl.kind in (EventKind.MMAP, EventKind.MUNMAP):
        if decl.bar is None:
            raise ScenarioError(f"{decl.where}: {decl.kind.value} names no BAR")
        return Event(decl.kind, layout.bar_index[(decl.target, decl.bar)])
    return Event(decl.kind, layout.device_index[decl.target])


def has_open_values(layout: Layout) -> bool:
    values = [v for pair in layout.windows + layout.fixed for v in pair] + list(layout.sizes) + list(layout.starts)
    return ANY in values


def concrete_idle_state(layout: Layout, page_bytes: int) -> State:
    """The boot state of a layout with no open ("any") value."""
    windows = tuple((_concrete(first), _concrete(last)) for first, last in layout.windows)
    fixed = tuple((_concrete(first), _concrete(last)) for first, last in layout.fixed)
    sizes = tuple(_concrete(size) for size in layout.sizes)
    starts = tuple(None if start is None else _concrete(start) for start in layout.starts)
    return idle_state(layout.structure, page_bytes, windows, fixed, sizes, layout.present, starts)


def _concrete(value: Value) -> int:
    if not isinstance(value, int):
        raise ValueError(f"the layout has an open value {value!r} where a concrete one is needed")
    return value


def check_scenario(spec: ScenarioSpec, policy: Policy, page_bytes: int, seed: int = DEFAULT_SEED,
                   rlimit: int = DEFAULT_RLIMIT) -> PageRun:
    layout = boot_layout(spec.topology, spec.firmware)
    moves = [Move(to_event(layout, decl)) for decl in spec.events]
    if has_open_values(layout):
        from barcheck.scenario.search import VACUOUS, search_open_values
        found = search_open_values(spec, layout, policy, page_bytes, moves, selected_properties(spec), seed, rlimit)
        if found == VACUOUS:
            return PageRun(page_bytes, Verdict.VACUOUS,
                           reason="no value of the open (\"any\") fields lets every event happen; nothing was checked")
        if isinstance(found, str):
            return PageRun(page_bytes, Verdict.UNKNOWN, reason=found)
        expectations = any(d.expect_mmap is not None or d.expect_start is not None or d.expect_reserved is not None
                           for d in spec.events)
        unchecked = " (expect_* fields are checked only when every value is concrete)" if expectations else ""
        if found is None:
            return PageRun(page_bytes, Verdict.PROVED,
                           reason="every event can happen, and no value of the open (\"any\") fields violates a "
                                  "property at any step" + unchecked)
        initial, values = found
        result = run_concrete(spec, layout, policy, initial, moves)
        if result.verdict is not Verdict.COUNTEREXAMPLE:
            raise EncodingMismatch("check: the solver's values do not violate a property when replayed")
        result.open_values = values
        return result
    initial = concrete_idle_state(layout, page_bytes)
    return run_concrete(spec, layout, policy, initial, moves)


def run_concrete(spec: ScenarioSpec, layout: Layout, policy: Policy, initial: State,
                 moves: list[Move]) -> PageRun:
    st, props = layout.structure, selected_properties(spec)
    ops = ConcreteOps(64)
    taken = run(policy, st, initial, moves)
    reports, failed, first_broken = [], False, ""
    for number, (decl, t) in enumerate(zip(spec.events, taken), start=1):
        violations = _violations(ops, policy, st, props, t)
        first_broken = first_broken or _first_clause(ops, policy, st, props, t)
        mismatches = _mismatches(layout, decl, t) if t.enabled else ("the event could not happen",)
        failed = failed or bool(violations) or bool(mismatches)
        reports.append(StepReport(number, describe_step(st, t, policy), t.enabled, violations, mismatches))
    verdict = Verdict.COUNTEREXAMPLE if failed else Verdict.PROVED
    return PageRun(initial.page_bytes, verdict, reports, structure=st, initial=initial, taken=taken,
                   violated=first_broken)


def _first_clause(ops, policy: Policy, st, props: list[TraceProperty], t) -> str:
    for prop in props:
        clauses = property_clauses(prop, ops, policy, st, t.after) + \
            property_clauses(prop, ops, policy, st, t.before, t.event, t.after)
        for name, holds in clauses:
            if not holds:
                return name
    return ""


def _violations(ops, policy: Policy, st, props: list[TraceProperty], t) -> tuple[str, ...]:
    found = []
    for prop in props:
        clauses = property_clauses(prop, ops, policy, st, t.after) + \
            property_clauses(prop, ops, policy, st, t.before, t.event, t.after)
        broken = [name for name, holds in clauses if not holds]
        if broken:
            found.append(f"{prop.id} ({', '.join(clause_text(st, name) for name in broken)})")
    return tuple(found)


def _mismatches(layout: Layout, decl: EventDecl, t) -> tuple[str, ...]:
    after = t.after
    found = []
    if decl.kind in (EventKind.OPEN, EventKind.HOT_ADD, EventKind.REPROBE, EventKind.RESCAN):
        bars = bars_of(layout, decl)
        if decl.expect_mmap is not None:
            got = tuple(bool(after.mmap_ok[b]) for b in bars)
            if got != decl.expect_mmap:
                found.append(f"expected mmap {list(decl.expect_mmap)}, the model gives {list(got)}")
        if decl.expect_start is not None:
            got_starts = tuple(after.start[b] if after.assigned[b] else None for b in bars)
            if got_starts != decl.expect_start:
                found.append(f"expected start {starts_text(decl.expect_start)}, the model gives {starts_text(got_starts)}")
    if decl.expect_reserved is not None:
        got_reserved = tuple(sorted(reserved_ranges(after)))
        if got_reserved != decl.expect_reserved:
            found.append(f"expected reserved {_pairs(decl.expect_reserved)}, the model holds {_pairs(got_reserved)}")
    return tuple(found)


def bars_of(layout: Layout, decl: EventDecl) -> list[int]:
    """The BAR slots of the event's device in BAR-index order (a rescan: every BAR behind the bridge)."""
    d = layout.device_index.get(decl.target)
    if d is None:
        w = layout.window_index[decl.target]
        return layout.structure.bars_in(w)
    return sorted(layout.structure.devices[d].bars, key=lambda b: layout.structure.bars[b].index)


def starts_text(values) -> str:
    return "[" + ", ".join("unassigned" if v is None else hex(v) for v in values) + "]"


def _pairs(pairs) -> str:
    return "[" + ", ".join(f"{a:#x}-{b:#x}" for a, b in pairs) + "]" if pairs else "none"
