"""Trace properties: unbounded proofs by induction, bounded model checking, replayed traces.

Induction discharges three kinds of query, each reported by name when it fails:
- init: every boot state satisfies the invariant;
- step: the invariant survives every event (one query per event and target);
- safety: the invariant implies every clause of the property.
When a step or safety query fails, bounded model checking looks for a real
trace; without one the verdict is UNKNOWN, never PROVED.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Sequence

from barcheck.engine.session import DEFAULT_RLIMIT, DEFAULT_SEED, z3_version
from barcheck.engine.induction import first_failure
from barcheck.engine.session import SAT, UNKNOWN, UNSAT
from barcheck.engine.unroll import TraceSolver, decode_state, decode_value
from barcheck.engine.verdict import EncodingMismatch, Result, SolverInfo, Verdict
from model.events import KERNEL_EVENTS, Event, EventKind, all_events
from model.ops import ConcreteOps, Ops
from model.pci import MIN_MEM_BAR_BYTES
from model.placement import ANY_FREE, FIRST_FIT
from model.policies import Policy
from model.ranges import at_least, is_nonempty, is_pow2, overlaps
from model.scenario import granular
from model.simulate import Move, idle_state
from model.simulate import run as simulate
from model.system import State, Structure
from model.units import MIB
from properties.trace import Clauses, TraceProperty, invariant_clauses

DEFAULT_DEPTH = 6


@dataclass(frozen=True, slots=True)
class TraceSettings:
    seed: int = DEFAULT_SEED
    rlimit: int = DEFAULT_RLIMIT
    width: int = 64
    depth: int = DEFAULT_DEPTH
    """Bound for bounded model checking (and for the fallback after a failed induction)."""
    method: str = "induction"
    placement: str = ANY_FREE
    events: tuple[EventKind, ...] = KERNEL_EVENTS


@dataclass(frozen=True, slots=True)
class TraceStep:
    number: int
    event: Event
    before: State
    after: State


@dataclass(frozen=True, slots=True)
class TraceCounterexample:
    structure: Structure
    initial: State
    steps: tuple[TraceStep, ...]
    violated: str
    """The failing clause, e.g. `bar:0/bar:1`."""
    placement: str
    choices: tuple[tuple[int, ...], ...] = field(default_factory=tuple)
    property_id: str = ""
    property_title: str = ""


def constant_assumptions(ops: Ops, st: Structure, state: State) -> Clauses:
    """Facts about what never changes: windows, fixed resources and BAR sizes."""
    clauses: Clauses = []
    for w, spec in enumerate(st.windows):
        clauses.append((f"tree.window-nonempty:{w}", is_nonempty(ops, state.window[w])))
        if spec.bridge and MIB < (1 << ops.width):
            clauses.append((f"tree.bridge-window-granular:{w}", granular(ops, state.window[w], MIB)))
    tops = [w for w, spec in enumerate(st.windows) if spec.parent is None]
    for i, a in enumerate(tops):
        for b in tops[i + 1:]:
            clauses.append((f"tree.top-windows-disjoint:{a}/{b}",
                            ops.negate(overlaps(ops, state.window[a], state.window[b]))))
    for b in range(len(st.bars)):
        clauses.append((f"pci.bar-size-pow2:{b}", is_pow2(ops, state.size[b])))
        clauses.append((f"pci.bar-min-size:{b}", at_least(ops, state.size[b], MIN_MEM_BAR_BYTES)))
    return clauses


def boot_assumptions(ops: Ops, policy: Policy, st: Structure, state: State) -> Clauses:
    """A boot layout: the resource tree well formed, nothing open, mapped or reserved."""
    idle = [ops.negate(flag) for flag in state.opened + state.mapped + state.dummy_held + state.mmap_ok]
    zero = ops.const(0)
    idle += [ops.all_of(ops.eq(r.first, zero), ops.eq(r.last, zero)) for r in state.dummy + state.mapping]
    idle += [ops.implies(ops.negate(state.assigned[b]), ops.eq(state.start[b], zero)) for b in range(len(st.bars))]
    return [("boot.idle", ops.all_of(*idle))] + [
        (f"boot.{name}", flag) for name, flag in invariant_clauses(ops, policy, st, state)]


def property_clauses(prop: TraceProperty, ops: Ops, policy: Policy, st: Structure, before: State,
                     event: Event | None = None, after: State | None = None) -> Clauses:
    if event is None:
        return prop.state_clauses(ops, policy, st, before) if prop.state_clauses else []
    if after is None:
        raise ValueError("step clauses need the state after the event")
    return prop.step_clauses(ops, policy, st, before, event, after) if prop.step_clauses else []


def _conj(ops: Ops, clauses: Clauses):
    return ops.all_of(*(flag for _, flag in clauses))


@dataclass
class _Run:
    prop: TraceProperty
    policy: Policy
    st: Structure
    page_bytes: int
    settings: TraceSettings
    work: int = 0
    notes: list[str] = field(default_factory=list)
    search_placement: str = FIRST_FIT
    """The placement the current bounded search unrolls with."""

    def events(self) -> list[Event]:
        return all_events(self.st, self.settings.events)

    def solver(self) -> TraceSolver:
        s = self.settings
        return TraceSolver(self.st, self.page_bytes, s.width, s.seed, s.rlimit)


def _result(run: _Run, verdict: Verdict, started: float, reason: str = "",
            trace: TraceCounterexample | None = None, assumptions: Sequence[str] = ()) -> Result:
    s = run.settings
    scope = {
        "bounded": s.method == "bmc",
        "method": s.method,
        "width_bits": s.width,
        "page_size": run.page_bytes,
        "devices": [device.name for device in run.st.devices],
        "bars": len(run.st.bars),
        "windows": [spec.name for spec in run.st.windows],
        "events": [kind.value for kind in s.events],
        "placement": s.placement,
        "depth": s.depth,
        "quantified": ("every trace of any length" if s.method == "induction" else f"every trace of up to {s.depth} events")
        + f" over {len(run.st.devices)} device slots, all addresses and sizes symbolic",
    }
    info = SolverInfo(z3_version(), s.seed, s.rlimit, run.work)
    return Result(run.prop.id, run.policy.name, run.page_bytes, verdict, scope, tuple(assumptions),
                  round(time.perf_counter() - started, 6), info, reason, None, tuple(run.notes), trace=trace)


def check_trace(prop: TraceProperty, policy: Policy, st: Structure, page_bytes: int,
                settings: TraceSettings = TraceSettings()) -> Result:
    started = time.perf_counter()
    run = _Run(prop, policy, st, page_bytes, settings)
    if settings.method == "bmc":
        return _bmc_verdict(run, started, "")
    if settings.method != "induction":
        raise ValueError(f"unknown method {settings.method!r} (known: induction, bmc)")
    failure = _induction(run)
    if failure is None:
        return _proved(run, started)
    if failure.startswith("vacuous:"):
        return _result(run, Verdict.VACUOUS, started, failure.removeprefix("vacuous: "))
    if failure.startswith("unknown:"):
        return _result(run, Verdict.UNKNOWN, started, failure.removeprefix("unknown: "))
    return _bmc_verdict(run, started, failure)


@dataclass(frozen=True)
class OneStep:
    """A free state and one step of every event from it, under each placement a check unrolls with."""

    ops: Ops
    state: State
    steps: tuple[tuple[Event, State], ...]


def encode_system(policy: Policy, st: Structure, page_bytes: int, settings: TraceSettings) -> OneStep:
    """Build, without solving, the terms of the transition system every property shares: constant,
    boot and invariant clauses and one step of every event (barcheck/run/depends.py records the reads)."""
    run = _Run(TraceProperty("", "", ""), policy, st, page_bytes, settings)
    ts, state = _setup(run)
    boot_assumptions(ts.ops, policy, st, state)
    steps = []
    for placement in sorted({settings.placement, FIRST_FIT}):
        for event, step in zip(run.events(), ts.successors(policy, state, run.events(), placement,
                                                           ts.fresh_choices("c"))):
            invariant_clauses(ts.ops, policy, st, step.after)
            steps.append((event, step.after))
    return OneStep(ts.ops, state, tuple(steps))


def encode_property(prop: TraceProperty, policy: Policy, st: Structure, one: OneStep) -> None:
    """Build, without solving, the property's clauses on the free state and on every step, and its antecedent."""
    property_clauses(prop, one.ops, policy, st, one.state)
    for event, after in one.steps:
        property_clauses(prop, one.ops, policy, st, one.state, event, after)
    if prop.antecedent is not None:
        prop.antecedent(one.ops, st, one.state)


WITNESS_DEPTH = 4


def _proved(run: _Run, started: float) -> Result:
    """PROVED only when some trace reaches the case the property is about; else VACUOUS or UNKNOWN."""
    witness = _witness(run)
    if isinstance(witness, str):
        return _result(run, Verdict.UNKNOWN, started, f"the proof holds but the antecedent check was undecided: {witness}")
    if witness is None:
        return _result(run, Verdict.VACUOUS, started,
                       f"no trace of up to {WITNESS_DEPTH} events reaches the case {run.prop.id} is about")
    run.notes.append("antecedent reached by: " + ", ".join(witness))
    return _result(run, Verdict.PROVED, started, assumptions=_assumption_names(run))


def _witness(run: _Run) -> list[str] | str | None:
    """The events of a shortest trace to a state satisfying the property's antecedent."""
    if run.prop.antecedent is None:
        return []
    run.search_placement = FIRST_FIT
    ts, trace = _start_unrolling(run)
    ops, st, base_work = ts.ops, run.st, run.work
    for depth in range(WITNESS_DEPTH + 1):
        reached = run.prop.antecedent(ops, st, trace.states[-1])
        status, reason = ts.check_with(reached)
        run.work = base_work + ts.work()
        if status == UNKNOWN:
            return reason
        if status == SAT:
            ts.add(reached)
            ts.check()
            model = ts.model()
            picked = [trace.events[decode_value(model, sel)] for sel in trace.selectors]
            return [f"{e.kind.value} {_target_name(st, e)}" for e in picked]
        if depth < WITNESS_DEPTH:
            trace.extend(ts, run)
    return None


def _target_name(st: Structure, event: Event) -> str:
    if event.kind.target_kind == "device":
        return st.devices[event.target].name
    if event.kind.target_kind == "bar":
        return st.label(event.target)
    return st.windows[event.target].name


def _assumption_names(run: _Run) -> list[str]:
    ops = ConcreteOps(run.settings.width)
    names = {name.split(":")[0] for name, _ in constant_assumptions(ops, run.st, _any_state(run))}
    return sorted(names) + ["boot.idle", "boot.tree-and-pci-rules"]


def _any_state(run: _Run) -> State:
    n_bars = len(run.st.bars)
    return idle_state(run.st, run.page_bytes, [(0, 0)] * len(run.st.windows), [(0, 0)] * len(run.st.fixed),
                      [16] * n_bars, [False] * len(run.st.devices), [None] * n_bars)


_INDUCTIVE: dict[tuple, tuple[str | None, int]] = {}
"""Init and step results per (policy object, structure, page, settings): the same for every property.
Keyed by the object, not its name or class: two revisions of a user policy may share both."""


def _induction(run: _Run) -> str | None:
    """None when init, step and safety all hold; else a description of the first failure."""
    key = (run.policy, run.st, run.page_bytes, run.settings)
    if key not in _INDUCTIVE:
        _INDUCTIVE[key] = _inductive(run)
    failure, work = _INDUCTIVE[key]
    run.work = work
    if failure is not None:
        return failure
    failure, work = _safety(run)
    run.work += work
    return failure


def _setup(run: _Run) -> tuple[TraceSolver, State]:
    ts = run.solver()
    state = ts.fresh_state("s")
    ts.add(*(flag for _, flag in constant_assumptions(ts.ops, run.st, state)))
    return ts, state


def _inductive(run: _Run) -> tuple[str | None, int]:
    ts, state = _setup(run)
    ops, st, policy = ts.ops, run.st, run.policy
    boot = ts.goal(_conj(ts.ops, boot_assumptions(ops, policy, st, state)))
    status, reason = ts.check(boot)
    if status == UNKNOWN:
        return f"unknown: init query: {reason}", ts.work()
    if status == UNSAT:
        return "vacuous: the boot assumptions contradict each other", ts.work()
    inv = invariant_clauses(ops, policy, st, state)
    failure = _first_failure(ts, [boot], inv, "init")
    holds = ts.goal(_conj(ts.ops, inv))
    known = dict(inv)
    choices = ts.fresh_choices("c")
    steps = ts.successors(policy, state, run.events(), run.settings.placement, choices)
    for event, step in zip(run.events(), steps):
        if failure:
            break
        enabled = ts.goal(step.enabled)
        failure = _first_failure(ts, [holds, enabled], invariant_clauses(ops, policy, st, step.after),
                                 f"step {event.kind.value}({event.target})", known)
    return failure or None, ts.work()


def _safety(run: _Run) -> tuple[str | None, int]:
    ts, state = _setup(run)
    ops, st, policy = ts.ops, run.st, run.policy
    holds = ts.goal(_conj(ts.ops, invariant_clauses(ops, policy, st, state)))
    failure = _first_failure(ts, [holds], property_clauses(run.prop, ops, policy, st, state), "safety")
    if run.prop.step_clauses is not None and not failure:
        choices = ts.fresh_choices("c")
        steps = ts.successors(policy, state, run.events(), run.settings.placement, choices)
        for event, step in zip(run.events(), steps):
            clauses = property_clauses(run.prop, ops, policy, st, state, event, step.after)
            if clauses:
                failure = _first_failure(ts, [holds, ts.goal(step.enabled)], clauses,
                                         f"safety on {event.kind.value}({event.target})")
            if failure:
                break
    return failure or None, ts.work()


def _first_failure(ts: TraceSolver, literals: list, clauses: Clauses, what: str,
                   known: dict | None = None) -> str:
    return first_failure(ts.check_hard, ts.ops, literals, clauses, what, known)


def _bmc_verdict(run: _Run, started: float, induction_failure: str) -> Result:
    """Counterexamples come from the exact first-fit allocator only, so each is a real kernel trace.

    A trace that needs the any-free over-approximation is reported as UNKNOWN, never as a
    counterexample: the kernel's allocator might never pick that slot.
    """
    found = None
    if run.settings.method != "bmc":
        found = _bmc(run, FIRST_FIT, typical=True)
        if not isinstance(found, TraceCounterexample):
            run.notes.append("no counterexample on the typical layout (bridge window 0xfe800000-0xfe9fffff "
                             "inside 0xfe000000-0xfebfffff); searched every layout")
            found = None
    found = found or _bmc(run, FIRST_FIT)
    if isinstance(found, TraceCounterexample):
        return _result(run, Verdict.COUNTEREXAMPLE, started, trace=found)
    if found:
        return _result(run, Verdict.UNKNOWN, started, found)
    if run.settings.placement == ANY_FREE:
        loose = _bmc(run, ANY_FREE)
        if isinstance(loose, TraceCounterexample):
            events = ", ".join(f"{s.event.kind.value}({s.event.target})" for s in loose.steps)
            return _result(run, Verdict.UNKNOWN, started,
                           f"a trace ({events}) violates the property only when hot-plug may pick any free slot; "
                           f"none does with the kernel's first fit up to depth {run.settings.depth}")
        if loose:
            return _result(run, Verdict.UNKNOWN, started, loose)
    if run.settings.method == "bmc":
        return _proved(run, started)
    reason = (f"the invariant is not inductive ({induction_failure}) and no counterexample exists "
              f"up to depth {run.settings.depth}")
    return _result(run, Verdict.UNKNOWN, started, reason)


def _typical_layout(ops: Ops, run: _Run, state: State) -> list:
    """The windows fixed where QEMU's q35 puts them; everything else stays symbolic."""
    mask = (1 << run.settings.width) - 1
    fixed = []
    for w, spec in enumerate(run.st.windows):
        first, last = _TYPICAL_WINDOWS[spec.bridge]
        fixed += [ops.eq(state.window[w].first, ops.const(first & mask)),
                  ops.eq(state.window[w].last, ops.const(last & mask))]
    return fixed


_TYPICAL_WINDOWS = {True: (0xFE800000, 0xFE9FFFFF), False: (0xFE000000, 0xFEBFFFFF)}


@dataclass
class _Unrolling:
    """The symbolic states of a trace so far, the event chosen at each step, and its successors."""

    events: list[Event]
    states: list[State]
    selectors: list = field(default_factory=list)
    choices: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    """Per unrolled step: the successor of every event from the state before it."""

    def extend(self, ts: TraceSolver, run: _Run) -> None:
        ops, i = ts.ops, len(self.selectors)
        sel = ts.selector(f"e{i}", len(self.events))
        choices = ts.fresh_choices(f"e{i}")
        nxt = ts.fresh_state(f"s{i + 1}", constants=self.states[-1])
        steps = ts.successors(run.policy, self.states[-1], self.events, run.search_placement, choices)
        for k, step in enumerate(steps):
            ts.add(ops.implies(ts.selected(sel, k), ops.all_of(step.enabled, ts.equal_states(nxt, step.after))))
        self.states.append(nxt)
        self.selectors.append(sel)
        self.choices.append(choices)
        self.steps.append(steps)


def _start_unrolling(run: _Run, typical: bool = False) -> tuple[TraceSolver, _Unrolling]:
    """A solver holding a boot state (optionally on the typical window layout)."""
    ts = run.solver()
    ops, st = ts.ops, run.st
    state = ts.fresh_state("s0")
    ts.add(*(flag for _, flag in constant_assumptions(ops, st, state)))
    if typical and run.settings.width >= 32:
        ts.add(*_typical_layout(ops, run, state))
    ts.add(*(flag for _, flag in boot_assumptions(ops, run.policy, st, state)))
    return ts, _Unrolling(run.events(), [state])


def _bmc(run: _Run, placement: str, typical: bool = False) -> TraceCounterexample | str | None:
    """The shortest violating trace up to the depth bound, or a reason it could not be decided.

    `typical` first searches the layouts with the windows at their q35 places:
    a counterexample found there is as real as any (it is replayed), and the
    search is much cheaper; only the absence of one needs the full search.
    """
    run.search_placement = placement
    ts, trace = _start_unrolling(run, typical)
    ops, base_work = ts.ops, run.work
    for depth in range(run.settings.depth + 1):
        bad = ops.negate(_conj(ops, property_clauses(run.prop, ops, run.policy, run.st, trace.states[-1])))
        if depth > 0:
            bad = ops.any_of(bad, _step_violation(ts, run, trace))
        status, reason = ts.check_with(bad)
        run.work = base_work + ts.work()
        if status == UNKNOWN:
            return f"bounded check at depth {depth}: {reason}"
        if status == SAT:
            return _extract(ts, run, bad, trace)
        if depth == run.settings.depth:
            return None
        trace.extend(ts, run)
    return None


def _step_violation(ts: TraceSolver, run: _Run, trace: _Unrolling):
    """The last unrolled step is an event whose step clauses fail."""
    ops, before, sel = ts.ops, trace.states[-2], trace.selectors[-1]
    cases = []
    for k, (event, step) in enumerate(zip(trace.events, trace.steps[-1])):
        clauses = property_clauses(run.prop, ops, run.policy, run.st, before, event, step.after)
        if clauses:
            cases.append(ops.all_of(ts.selected(sel, k), ops.negate(_conj(ops, clauses))))
    return ops.any_of(*cases)


def _extract(ts: TraceSolver, run: _Run, bad, trace: _Unrolling) -> TraceCounterexample:
    ts.add(bad)
    if ts.check()[0] != SAT:
        raise EncodingMismatch("bounded check: the violation vanished when asserted")
    model = _canonical(ts, run, trace.states[0], ts.model())
    initial = decode_state(model, trace.states[0])
    moves = [Move(trace.events[decode_value(model, sel)], decode_value(model, ch))
             for sel, ch in zip(trace.selectors, trace.choices)]
    return replay_trace(run.prop, run.policy, run.st, initial, moves,
                        dataclasses.replace(run.settings, placement=run.search_placement))


def _canonical(ts: TraceSolver, run: _Run, initial: State, model):
    """Pull the layout toward a typical 32-bit MMIO window so reports read like real machines."""
    mask = (1 << run.settings.width) - 1
    for w, spec in enumerate(run.st.windows):
        first = (0xFE800000 if spec.bridge else 0xFE000000) & mask
        last = (0xFE9FFFFF if spec.bridge else 0xFEBFFFFF) & mask
        model = ts.pull_toward(initial.window[w].first, first, model)
        model = ts.pull_toward(initial.window[w].last, last, model)
    for f in range(len(run.st.fixed)):
        model = ts.pull_toward(initial.fixed[f].first, 0xFEB00000 & mask, model)
        model = ts.pull_toward(initial.fixed[f].last, 0xFEB00FFF & mask, model)
    for b in range(len(run.st.bars)):
        model = ts.pull_toward(initial.size[b], 0x100, model)
    for b in range(len(run.st.bars)):
        w = run.st.devices[run.st.device_of(b)].window
        anchor = decode_value(model, initial.window[w].first)
        model = ts.pull_toward(initial.start[b], anchor, model)
    return model


def replay_trace(prop: TraceProperty, policy: Policy, st: Structure, initial: State, moves: Sequence[Move],
                 settings: TraceSettings) -> TraceCounterexample:
    """Run the trace on integers and find the clause it breaks; a trace that breaks none is a checker bug."""
    ops = ConcreteOps(settings.width)
    taken = simulate(policy, st, initial, moves, settings.width, settings.placement)
    steps = []
    for number, t in enumerate(taken, start=1):
        if not t.enabled:
            raise EncodingMismatch(f"replay: step {number} ({t.event.kind.value}) is not enabled concretely")
        steps.append(TraceStep(number, t.event, t.before, t.after))
    violated = _violated(prop, ops, policy, st, initial, steps)
    if violated is None:
        raise EncodingMismatch(f"replay: the trace does not violate {prop.id} concretely")
    choices = tuple(m.choices or () for m in moves) if settings.placement == ANY_FREE else ()
    return TraceCounterexample(st, initial, tuple(steps), violated, settings.placement, choices, prop.id, prop.title)


def _violated(prop: TraceProperty, ops: Ops, policy: Policy, st: Structure, initial: State,
              steps: list[TraceStep]) -> str | None:
    last = steps[-1].after if steps else initial
    for name, flag in property_clauses(prop, ops, policy, st, last):
        if not flag:
            return name
    if steps:
        s = steps[-1]
        for name, flag in property_clauses(prop, ops, policy, st, s.before, s.event, s.after):
            if not flag:
                return name
    return None
