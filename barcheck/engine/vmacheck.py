"""Mapping properties over the vma system (model/vma.py): an instance of engine/procedure.py.

It adds the canonical layout its counterexamples are pulled toward, and concrete replay.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import z3

from barcheck.engine.procedure import Procedure
from barcheck.engine.system import BMC, ProblemFields, Prefer, Preference, Pull, Together, Unrolling
from barcheck.engine.session import DEFAULT_RLIMIT, DEFAULT_SEED, Session
from barcheck.engine.verdict import EncodingMismatch, Result
from barcheck.engine.vmatrace import VmaCounterexample, VmaTraceStep
from model.ops import ConcreteOps, Ops
from model.ops_z3 import SymbolicOps
from model.pgoff import page_shift_of
from model.policies import Policy
from model.vma import (
    CONSTANT_FIELDS,
    DEVICE_FIELDS,
    WORD_FIELDS,
    MmapChoice,
    VmaEvent,
    VmaEventKind,
    VmaState,
    VmaStructure,
    all_vma_events,
    idle_vma_state,
    pte_pfn,
    vma_transition,
)
from properties.revoke import (
    Clauses,
    VmaProperty,
    boot_clauses,
    constant_clauses,
    invariant_clauses,
)

DEFAULT_DEPTH = 6
WITNESS_DEPTH = 4


@dataclass(frozen=True, slots=True)
class VmaSettings:
    seed: int = DEFAULT_SEED
    rlimit: int = DEFAULT_RLIMIT
    width: int = 64
    depth: int = DEFAULT_DEPTH
    method: str = "induction"
    max_bar_bytes: int | None = None
    """None: every BAR size the hardware allows (up to 2^63 for a 64-bit BAR)."""
    events: tuple[VmaEventKind, ...] = tuple(VmaEventKind)


class VmaSolver:
    """Fresh mapping states and mmap choices in one session."""

    def __init__(self, st: VmaStructure, page_shift: int, settings: VmaSettings) -> None:
        self.st, self.page_shift, self.width = st, page_shift, settings.width
        self.ctx = z3.Context()
        self.ops = SymbolicOps(settings.width, self.ctx)
        self.session = Session(settings.seed, settings.rlimit, self.ctx)

    def fresh_state(self, tag: str, constants: VmaState | None = None) -> VmaState:
        values: dict[str, Any] = {"page_shift": self.page_shift}
        for f in dataclasses.fields(VmaState):
            if f.name == "page_shift":
                continue
            if constants is not None and f.name in CONSTANT_FIELDS:
                values[f.name] = getattr(constants, f.name)
                continue
            count = len(self.st.devices) if f.name in DEVICE_FIELDS else len(self.st.bar_device)
            values[f.name] = tuple(self._fresh(f"{tag}.{f.name}[{i}]", f.name in WORD_FIELDS) for i in range(count))
        return VmaState(**values)

    def _fresh(self, name: str, word: bool) -> Any:
        return z3.BitVec(name, self.width, self.ctx) if word else z3.Bool(name, self.ctx)

    def fresh_choice(self, tag: str) -> MmapChoice:
        return MmapChoice(z3.BitVec(f"{tag}.offset_pages", self.width, self.ctx),
                          z3.BitVec(f"{tag}.pages", self.width, self.ctx))


def equal_states(a: VmaState, b: VmaState) -> list:
    parts = []
    for f in dataclasses.fields(VmaState):
        if f.name != "page_shift":
            parts += [x == y for x, y in zip(getattr(a, f.name), getattr(b, f.name))]
    return parts


class _VmaInstance:
    """The mapping system (model/vma.py) on one session: `procedure.Instance` for a mapping property."""

    boot_contradiction = "the BAR and boot assumptions contradict each other"

    def __init__(self, problem: _VmaProblem) -> None:
        self.problem, self.prop, self.policy, self.st = problem, problem.prop, problem.policy, problem.st
        self.solver = VmaSolver(problem.st, page_shift_of(problem.page_bytes), problem.settings)
        self.session, self.ops = self.solver.session, self.solver.ops
        self.events = all_vma_events(problem.st, problem.settings.events)

    def fresh_state(self, tag: str, constants: VmaState | None = None) -> VmaState:
        return self.solver.fresh_state(tag, constants)

    def fresh_choice(self, tag: str) -> MmapChoice:
        return self.solver.fresh_choice(tag)

    def constants(self, s: VmaState) -> Clauses:
        return constant_clauses(self.ops, self.policy, self.st, s, self.problem.settings.max_bar_bytes)

    def boot(self, s: VmaState) -> Clauses:
        return boot_clauses(self.ops, self.policy, self.st, s)

    def invariant(self, s: VmaState) -> Clauses:
        prop = self.prop
        extra = prop.strengthening(self.ops, self.policy, self.st, s) if prop.strengthening else []
        return invariant_clauses(self.ops, self.policy, self.st, s) + extra

    def successors(self, s: VmaState, choice: MmapChoice, placement: str) -> list:
        return [vma_transition(self.ops, self.policy, self.st, s, e, choice) for e in self.events]

    def link(self, selected: Any, step: Any, after: VmaState) -> Any:
        enabled = z3.BoolVal(step.enabled, self.solver.ctx) if isinstance(step.enabled, bool) else step.enabled
        return z3.Implies(selected, z3.And(enabled, *equal_states(after, step.after)))

    def state_props(self, s: VmaState) -> Clauses:
        return self.prop.state_clauses(self.ops, self.policy, self.st, s) if self.prop.state_clauses else []

    def step_props(self, before: VmaState, event: VmaEvent, after: VmaState) -> Clauses:
        prop = self.prop
        return prop.step_clauses(self.ops, self.policy, self.st, before, event, after) if prop.step_clauses else []

    def has_step_props(self) -> bool:
        return self.prop.step_clauses is not None

    def antecedent(self, s: VmaState) -> Any:
        return None if self.prop.antecedent is None else self.prop.antecedent(self.ops, self.st, s)

    def describe(self, event: VmaEvent) -> str:
        target = self.st.slot_name(event.target) if event.kind.on_bar else self.st.devices[event.target].name
        return f"{event.kind.value} {target}"

    def canonical_plan(self, trace: Unrolling, model_now: Callable[[], Any]) -> Iterator[Preference]:
        """Pull the BARs toward a typical MMIO layout, then the events, then the mmaps toward one page
        at offset 0.

        No BAR is left at physical address 0, where RAM or firmware sits on real machines.  Each
        step's event is pulled toward the first event in the system's order, so the trace is the
        least one the layout allows.  Slots no event of the trace touches are then made
        non-mmappable when that is possible, then the other slots too, so the report shows only the
        BARs the trace needs as mmappable.  Last, whatever else of the boot state the replay reads
        is pulled to a typical value, so no field of the report is left to the model z3 happened
        to return.
        """
        s0, st, page_bytes = trace.states[0], self.st, self.problem.page_bytes
        mask = (1 << self.problem.settings.width) - 1
        slots = range(len(st.bar_device))
        yield Together(tuple(Prefer(s0.start[b] != 0) for b in slots))
        yield Together(tuple(Pull(s0.index[b], st.devices[st.device_of(b)].bars.index(b)) for b in slots))
        yield Together(tuple(p for b in slots for p in (
            Pull(s0.size[b], page_bytes), Pull(s0.start[b], (MMIO_ANCHOR + 2 * b * page_bytes) & mask))))
        for selector in trace.selectors:
            yield Pull(selector, 0)
        used = _slots_used(st, trace, model_now())
        yield Together(tuple(Prefer(z3.Not(s0.mmappable[b])) for b in slots if b not in used))
        yield Together(tuple(Prefer(z3.Not(s0.mmappable[b])) for b in slots if b in used))
        yield Together(tuple(p for c in trace.choices for p in (Pull(c.offset_pages, 0), Pull(c.pages, 1))))
        yield Together(tuple(_typical_rest(s0)))

    def replay(self, trace: Unrolling, model: Any, placement: str) -> VmaCounterexample:
        choices = [MmapChoice(*(model.eval(v, model_completion=True).as_long() for v in (c.offset_pages, c.pages)))
                   for c in trace.choices]
        return replay_vma(self.prop, self.policy, self.st, _decode(model, trace.states[0]),
                          list(zip(trace.picked(model), choices)), self.problem.settings.width)


MMIO_ANCHOR = 0xFE000000

_PULLED_FIRST = frozenset({"page_shift", "index", "start", "size", "mmappable"})
_TYPICALLY_ON = frozenset({"mem_on", "d0"})
"""Memory decode enabled and full power: how a device is found at boot."""


def _typical_rest(s0: VmaState) -> Iterator[Pull | Prefer]:
    """Every boot-state field the plan has not pulled: flags to their typical value, words to 0."""
    for f in dataclasses.fields(VmaState):
        if f.name in _PULLED_FIRST:
            continue
        for term in getattr(s0, f.name):
            if z3.is_bool(term):
                yield Prefer(term if f.name in _TYPICALLY_ON else z3.Not(term))
            else:
                yield Pull(term, 0)


def _slots_used(st: VmaStructure, trace: Unrolling, model: Any) -> set[int]:
    used: set[int] = set()
    for event in trace.picked(model):
        used.update([event.target] if event.kind.on_bar else st.devices[event.target].bars)
    return used


def _decode(model: Any, s: VmaState) -> VmaState:
    values: dict[str, Any] = {"page_shift": s.page_shift}
    for f in dataclasses.fields(VmaState):
        if f.name == "page_shift":
            continue
        terms = [model.eval(t, model_completion=True) for t in getattr(s, f.name)]
        values[f.name] = tuple(z3.is_true(t) if z3.is_bool(t) else t.as_long() for t in terms)
    return VmaState(**values)


@dataclass(frozen=True)
class _VmaProblem(ProblemFields):
    """A mapping property on one policy, structure and page size: `procedure.Problem`."""

    prop: VmaProperty
    policy: Policy
    st: VmaStructure
    page_bytes: int
    settings: VmaSettings

    @property
    def placement(self) -> str:
        """BARs stay where they are: events have no placement to choose."""
        return "none"

    def open(self, family: bool = False) -> _VmaInstance:
        if family:
            raise ValueError("mapping checks prove each page size on its own")
        return _VmaInstance(self)

    def family_key(self) -> tuple | None:
        return None

    def witness_placement(self) -> str:
        return self.placement

    def inductive_key(self) -> tuple:
        """The property may strengthen the invariant, so init and step are per property."""
        return ("mapping", self.policy, self.prop.id, self.st, self.page_bytes, self.settings)

    def scope(self) -> dict[str, Any]:
        s, st = self.settings, self.st
        size_scope = (f"BARs up to {s.max_bar_bytes:#x} bytes" if s.max_bar_bytes is not None
                      else "every BAR size the hardware allows")
        return {
            **self.scope_head(),
            "bars": len(st.bar_device),
            "events": [kind.value for kind in s.events],
            "placement": "none (BARs stay where they are)",
            "depth": s.depth,
            "max_bar_size": None if s.max_bar_bytes is None else hex(s.max_bar_bytes),
            "quantified": self.quantified(f" over {len(st.devices)} devices with {len(st.bar_device)} BAR slots "
                                          f"(one vma each), all BAR indices, addresses, mmap offsets and lengths "
                                          f"symbolic, {size_scope}"),
        }

    def assumption_names(self) -> list[str]:
        ops = ConcreteOps(self.settings.width)
        probe = idle_vma_state(self.st, self.page_bytes, [(0, 0, 16, False)] * len(self.st.bar_device))
        names = {name.split(":")[0] for name, _ in
                 constant_clauses(ops, self.policy, self.st, probe, self.settings.max_bar_bytes)}
        return sorted(names | {"boot.idle"})


def check_vma(prop: VmaProperty, policy: Policy, st: VmaStructure, page_bytes: int,
              settings: VmaSettings = VmaSettings()) -> Result:
    return Procedure(_VmaProblem(prop, policy, st, page_bytes, settings)).check()


@dataclass(frozen=True)
class OneVmaStep:
    """A free state and one step of every event from it."""

    ops: Ops
    state: VmaState
    steps: tuple[tuple[VmaEvent, VmaState], ...]


def encode_system(policy: Policy, st: VmaStructure, page_bytes: int, settings: VmaSettings) -> OneVmaStep:
    """Build, without solving, the terms every property shares: constant, boot and invariant clauses and
    one step of every event (barcheck/run/depends.py records the reads)."""
    inst = _VmaProblem(VmaProperty("", "", ""), policy, st, page_bytes, settings).open()
    s = inst.fresh_state("s")
    inst.constants(s)
    inst.boot(s)
    inst.invariant(s)
    steps = []
    for event, step in zip(inst.events, inst.successors(s, inst.fresh_choice("c"), "none")):
        inst.invariant(step.after)
        steps.append((event, step.after))
    return OneVmaStep(inst.ops, s, tuple(steps))


def encode_property(prop: VmaProperty, policy: Policy, st: VmaStructure, one: OneVmaStep) -> None:
    """Build, without solving, the property's strengthening and clauses on the free state and on every
    step, and its antecedent."""
    ops, s = one.ops, one.state
    for state in (s,) + tuple(after for _, after in one.steps):
        if prop.strengthening is not None:
            prop.strengthening(ops, policy, st, state)
    if prop.state_clauses is not None:
        prop.state_clauses(ops, policy, st, s)
    for event, after in one.steps:
        if prop.step_clauses is not None:
            prop.step_clauses(ops, policy, st, s, event, after)
    if prop.antecedent is not None:
        prop.antecedent(ops, st, s)


def replay_vma(prop: VmaProperty, policy: Policy, st: VmaStructure, initial: VmaState,
               moves: Sequence[tuple[VmaEvent, MmapChoice]], width: int = 64) -> VmaCounterexample:
    """Run the trace on integers and name the clause it breaks; a trace that breaks none is a checker bug."""
    ops = ConcreteOps(width)
    state, steps = initial, []
    for number, (event, choice) in enumerate(moves, start=1):
        step = vma_transition(ops, policy, st, state, event, choice)
        if not step.enabled:
            raise EncodingMismatch(f"replay: step {number} ({event.kind.value}) is not enabled concretely")
        steps.append(VmaTraceStep(number, event, choice, state, step.after, _live(ops, policy, st, state),
                                  _live(ops, policy, st, step.after)))
        state = step.after
    violated = _violated(prop, ops, policy, st, state, steps)
    if violated is None:
        raise EncodingMismatch(f"replay: the trace does not violate {prop.id} concretely")
    return VmaCounterexample(st, initial, tuple(steps), violated, prop.id, prop.title, policy.name)


def _live(ops: Ops, policy: Policy, st: VmaStructure, s: VmaState) -> tuple:
    """Physical bytes each slot's live PTEs point to, for the report."""
    live = []
    for b in range(len(st.bar_device)):
        pages = pte_pfn(ops, policy, st, s, b)
        live.append((pages.first << s.page_shift, ((pages.last + 1) << s.page_shift) - 1) if s.pte_live[b] else None)
    return tuple(live)


def _violated(prop: VmaProperty, ops: Ops, policy: Policy, st: VmaStructure, last: VmaState,
              steps: list[VmaTraceStep]) -> str | None:
    if prop.state_clauses:
        for name, flag in prop.state_clauses(ops, policy, st, last):
            if not flag:
                return name
    if steps and prop.step_clauses:
        s = steps[-1]
        for name, flag in prop.step_clauses(ops, policy, st, s.before, s.event, s.after):
            if not flag:
                return name
    return None


__all__ = ["DEFAULT_DEPTH", "VmaSettings", "check_vma", "replay_vma"]
