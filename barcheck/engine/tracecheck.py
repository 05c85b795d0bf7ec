"""Trace properties over the resource-tree system (model/events.py): an instance of engine/procedure.py.

It adds the first-fit and typical-layout searches that make each counterexample a real kernel
trace, and concrete replay.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from barcheck.engine.procedure import Procedure
from barcheck.engine.system import BMC, ProblemFields, Preference, Pull, Unrolling
from barcheck.engine.session import DEFAULT_RLIMIT, DEFAULT_SEED
from barcheck.engine.tracecex import TraceCounterexample, TraceStep
from barcheck.engine.unroll import TraceSolver, decode_state, decode_value
from barcheck.engine.verdict import EncodingMismatch, Result, Verdict
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
    page_family: tuple[int, ...] = ()
    """Page sizes checked together: a page size in it takes its init and step proof from one proof
    over a symbolic page size that may be any of them (engine/procedure.py).  Empty: on its own."""


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


@dataclass(frozen=True)
class OneStep:
    """A free state and one step of every event from it, under each placement a check unrolls with."""

    ops: Ops
    state: State
    steps: tuple[tuple[Event, State], ...]


class _TraceInstance:
    """The trace system (model/events.py) on one session: `procedure.Instance` for a trace property."""

    boot_contradiction = "the boot assumptions contradict each other"

    def __init__(self, problem: _TraceProblem, family: bool = False) -> None:
        s = problem.settings
        self.problem, self.prop, self.policy, self.st = problem, problem.prop, problem.policy, problem.st
        pages = s.page_family if family else (problem.page_bytes,)
        self.solver = TraceSolver(problem.st, pages, s.width, s.seed, s.rlimit)
        self.session, self.ops = self.solver.session, self.solver.ops
        self.events = all_events(problem.st, s.events)

    def fresh_state(self, tag: str, constants: State | None = None) -> State:
        return self.solver.fresh_state(tag, constants)

    def fresh_choice(self, tag: str) -> tuple:
        return self.solver.fresh_choices(tag)

    def constants(self, state: State) -> Clauses:
        return constant_assumptions(self.ops, self.st, state)

    def boot(self, state: State) -> Clauses:
        return boot_assumptions(self.ops, self.policy, self.st, state)

    def invariant(self, state: State) -> Clauses:
        return invariant_clauses(self.ops, self.policy, self.st, state)

    def successors(self, state: State, choice: tuple, placement: str) -> list:
        return self.solver.successors(self.policy, state, self.events, placement, choice)

    def link(self, selected: Any, step: Any, after: State) -> Any:
        return self.ops.implies(selected, self.ops.all_of(step.enabled, self.solver.equal_states(after, step.after)))

    def state_props(self, state: State) -> Clauses:
        return property_clauses(self.prop, self.ops, self.policy, self.st, state)

    def step_props(self, before: State, event: Event, after: State) -> Clauses:
        return property_clauses(self.prop, self.ops, self.policy, self.st, before, event, after)

    def has_step_props(self) -> bool:
        return self.prop.step_clauses is not None

    def antecedent(self, state: State) -> Any:
        return None if self.prop.antecedent is None else self.prop.antecedent(self.ops, self.st, state)

    def describe(self, event: Event) -> str:
        return f"{event.kind.value} {_target_name(self.st, event)}"

    def canonical_plan(self, trace: Unrolling, model_now: Callable[[], Any]) -> Iterator[Preference]:
        """Pull the layout toward a typical 32-bit MMIO window so reports read like real machines.

        Then the events, step by step, toward the first in the system's event order, and each
        step's placement choice toward 0: the trace is the least one the layout allows, not the
        one z3's model happened to pick.
        """
        initial, st, mask = trace.states[0], self.st, (1 << self.problem.settings.width) - 1
        for w, spec in enumerate(st.windows):
            first, last = _TYPICAL_WINDOWS[spec.bridge]
            yield Pull(initial.window[w].first, first & mask)
            yield Pull(initial.window[w].last, last & mask)
        for f in range(len(st.fixed)):
            yield Pull(initial.fixed[f].first, 0xFEB00000 & mask)
            yield Pull(initial.fixed[f].last, 0xFEB00FFF & mask)
        for b in range(len(st.bars)):
            yield Pull(initial.size[b], 0x100)
        for b in range(len(st.bars)):
            w = st.devices[st.device_of(b)].window
            yield Pull(initial.start[b], decode_value(model_now(), initial.window[w].first))
        for selector, choice in zip(trace.selectors, trace.choices):
            yield Pull(selector, 0)
            for part in choice if isinstance(choice, tuple) else (choice,):
                yield Pull(part, 0)

    def replay(self, trace: Unrolling, model: Any, placement: str) -> TraceCounterexample:
        initial = decode_state(model, trace.states[0])
        moves = [Move(trace.events[decode_value(model, sel)], decode_value(model, ch))
                 for sel, ch in zip(trace.selectors, trace.choices)]
        return replay_trace(self.prop, self.policy, self.st, initial, moves,
                            dataclasses.replace(self.problem.settings, placement=placement))


@dataclass(frozen=True)
class _TraceProblem(ProblemFields):
    """A trace property on one policy, structure and page size: `procedure.Problem`."""

    prop: TraceProperty
    policy: Policy
    st: Structure
    page_bytes: int
    settings: TraceSettings

    @property
    def placement(self) -> str:
        return self.settings.placement

    def open(self, family: bool = False) -> _TraceInstance:
        return _TraceInstance(self, family)

    def witness_placement(self) -> str:
        return FIRST_FIT

    def inductive_key(self) -> tuple:
        """Init and step do not depend on the property: every trace property shares them."""
        return ("trace", self.policy, self.st, self.page_bytes, self.settings)

    def family_key(self) -> tuple | None:
        family = self.settings.page_family
        if len(family) < 2 or self.page_bytes not in family:
            return None
        return ("trace-family", self.policy, self.st, self.settings)

    def scope(self) -> dict[str, Any]:
        s, st = self.settings, self.st
        return {
            **self.scope_head(),
            "bars": len(st.bars),
            "windows": [spec.name for spec in st.windows],
            "events": [kind.value for kind in s.events],
            "placement": s.placement,
            "depth": s.depth,
            "quantified": self.quantified(f" over {len(st.devices)} device slots, all addresses and sizes symbolic"),
            **({"page_family": list(s.page_family)} if self.family_key() is not None else {}),
        }

    def assumption_names(self) -> list[str]:
        ops = ConcreteOps(self.settings.width)
        names = {name.split(":")[0] for name, _ in constant_assumptions(ops, self.st, _any_state(self))}
        return sorted(names) + ["boot.idle", "boot.tree-and-pci-rules"]


def _any_state(problem: _TraceProblem) -> State:
    st, n_bars = problem.st, len(problem.st.bars)
    return idle_state(st, problem.page_bytes, [(0, 0)] * len(st.windows), [(0, 0)] * len(st.fixed),
                      [16] * n_bars, [False] * len(st.devices), [None] * n_bars)


def _target_name(st: Structure, event: Event) -> str:
    if event.kind.target_kind == "device":
        return st.devices[event.target].name
    if event.kind.target_kind == "bar":
        return st.label(event.target)
    return st.windows[event.target].name


def check_trace(prop: TraceProperty, policy: Policy, st: Structure, page_bytes: int,
                settings: TraceSettings = TraceSettings()) -> Result:
    problem = _TraceProblem(prop, policy, st, page_bytes, settings)
    return Procedure(problem).check(lambda proc, failure: _refute(proc, problem, failure))


def encode_system(policy: Policy, st: Structure, page_bytes: int, settings: TraceSettings) -> OneStep:
    """Build, without solving, the terms of the transition system every property shares: constant,
    boot and invariant clauses and one step of every event (barcheck/run/depends.py records the reads)."""
    inst = _TraceProblem(TraceProperty("", "", ""), policy, st, page_bytes, settings).open()
    state = inst.fresh_state("s")
    inst.constants(state)
    inst.boot(state)
    steps = []
    for placement in sorted({settings.placement, FIRST_FIT}):
        for event, step in zip(inst.events, inst.successors(state, inst.fresh_choice("c"), placement)):
            inst.invariant(step.after)
            steps.append((event, step.after))
    return OneStep(inst.ops, state, tuple(steps))


def encode_property(prop: TraceProperty, policy: Policy, st: Structure, one: OneStep) -> None:
    """Build, without solving, the property's clauses on the free state and on every step, and its antecedent."""
    property_clauses(prop, one.ops, policy, st, one.state)
    for event, after in one.steps:
        property_clauses(prop, one.ops, policy, st, one.state, event, after)
    if prop.antecedent is not None:
        prop.antecedent(one.ops, st, one.state)


def _refute(proc: Procedure, problem: _TraceProblem, induction_failure: str) -> Result:
    """Counterexamples come from the exact first-fit allocator only, so each is a real kernel trace.

    A trace that needs the any-free over-approximation is reported as UNKNOWN, never as a
    counterexample: the kernel's allocator might never pick that slot.  The search first tries
    the layouts with the windows at their q35 places: a counterexample found there is as real
    as any (it is replayed), and the search is much cheaper; only the absence of one needs the
    full search.
    """
    found = None
    if problem.method != BMC:
        found = proc.bmc(FIRST_FIT, _typical_layout if problem.settings.width >= 32 else None)
        if not isinstance(found, TraceCounterexample):
            proc.notes.append("no counterexample on the typical layout (bridge window 0xfe800000-0xfe9fffff "
                              "inside 0xfe000000-0xfebfffff); searched every layout")
            found = None
    found = found or proc.bmc(FIRST_FIT)
    if isinstance(found, TraceCounterexample):
        return proc.result(Verdict.COUNTEREXAMPLE, trace=found)
    if found:
        return proc.result(Verdict.UNKNOWN, found)
    if problem.placement == ANY_FREE:
        loose = proc.bmc(ANY_FREE)
        if isinstance(loose, TraceCounterexample):
            events = ", ".join(f"{s.event.kind.value}({s.event.target})" for s in loose.steps)
            return proc.result(Verdict.UNKNOWN,
                               f"a trace ({events}) violates the property only when hot-plug may pick any free "
                               f"slot; none does with the kernel's first fit up to depth {problem.depth}")
        if loose:
            return proc.result(Verdict.UNKNOWN, loose)
    if problem.method == BMC:
        return proc.proved()
    return proc.not_inductive(induction_failure)


def _typical_layout(inst: Any, state: State) -> list:
    """The windows fixed where QEMU's q35 puts them; everything else stays symbolic."""
    ops, mask = inst.ops, (1 << inst.problem.settings.width) - 1
    fixed = []
    for w, spec in enumerate(inst.st.windows):
        first, last = _TYPICAL_WINDOWS[spec.bridge]
        fixed += [ops.eq(state.window[w].first, ops.const(first & mask)),
                  ops.eq(state.window[w].last, ops.const(last & mask))]
    return fixed


_TYPICAL_WINDOWS = {True: (0xFE800000, 0xFE9FFFFF), False: (0xFE000000, 0xFEBFFFFF)}


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
    return TraceCounterexample(st, initial, tuple(steps), violated, settings.placement, choices, prop.id, prop.title,
                               policy.name)


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
