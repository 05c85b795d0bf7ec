"""Mapping properties over event traces: induction, bounded model checking, concrete replay.

The same three kinds of induction query as barcheck/engine/tracecheck.py (init,
step, safety), over model/vma.py's state.  When induction fails, bounded
model checking looks for the shortest violating trace; each one is decoded,
pulled toward a typical layout and replayed on integers before it is
reported.  No trace and no proof is UNKNOWN.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import z3

from barcheck.engine.induction import first_failure
from barcheck.engine.session import DEFAULT_RLIMIT, DEFAULT_SEED, SAT, UNKNOWN, UNSAT, Session, same_term, z3_version
from barcheck.engine.verdict import EncodingMismatch, Result, SolverInfo, Verdict
from barcheck.engine.vmatrace import VmaCounterexample, VmaTraceStep
from model.ops import ConcreteOps, Ops
from model.ops_z3 import SymbolicOps
from model.pgoff import page_shift_of
from model.policies import Policy
from model.vma import (CONSTANT_FIELDS, DEVICE_FIELDS, WORD_FIELDS, MmapChoice, VmaEvent, VmaEventKind, VmaState,
                       VmaStructure, all_vma_events, idle_vma_state, pte_pfn, vma_transition)
from properties.revoke import (Clauses, VmaProperty, boot_clauses, constant_clauses, invariant_clauses)

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


class _Solver:
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

    def literal(self, condition) -> z3.BoolRef:
        return self.session.literal(condition)

    def add(self, *conditions) -> None:
        self.session.add(*conditions)

    def check(self, *literals) -> tuple[Any, str]:
        result = self.session.check(*literals)
        return result, (self.session.reason_unknown() if result == UNKNOWN else "")

    def check_hard(self, condition, *literals) -> tuple[Any, str]:
        """`check_with` for a query expected to be hard: retried on a fresh solver when a small budget runs out."""
        return self.session.check_hard(condition, *literals)

    def work(self) -> int:
        return self.session.work()

    def check_with(self, condition, *literals) -> tuple[Any, str]:
        return self.session.check_with(condition, *literals)


def _equal(a: VmaState, b: VmaState) -> list:
    parts = []
    for f in dataclasses.fields(VmaState):
        if f.name != "page_shift":
            parts += [x == y for x, y in zip(getattr(a, f.name), getattr(b, f.name))]
    return parts


def _conj(ops: Ops, clauses: Clauses):
    return ops.all_of(*(flag for _, flag in clauses))


@dataclass
class _Run:
    prop: VmaProperty
    policy: Policy
    st: VmaStructure
    page_bytes: int
    settings: VmaSettings
    work: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def page_shift(self) -> int:
        return page_shift_of(self.page_bytes)

    def events(self) -> list[VmaEvent]:
        return all_vma_events(self.st, self.settings.events)

    def solver(self) -> _Solver:
        return _Solver(self.st, self.page_shift, self.settings)

    def constants(self, ops: Ops, s: VmaState) -> Clauses:
        return constant_clauses(ops, self.policy, self.st, s, self.settings.max_bar_bytes)


def _invariant(run: _Run, ops: Ops, s: VmaState) -> Clauses:
    extra = run.prop.strengthening(ops, run.policy, run.st, s) if run.prop.strengthening else []
    return invariant_clauses(ops, run.policy, run.st, s) + extra


def _state_props(run: _Run, ops: Ops, s: VmaState) -> Clauses:
    return run.prop.state_clauses(ops, run.policy, run.st, s) if run.prop.state_clauses else []


def _step_props(run: _Run, ops: Ops, before: VmaState, event: VmaEvent, after: VmaState) -> Clauses:
    return run.prop.step_clauses(ops, run.policy, run.st, before, event, after) if run.prop.step_clauses else []


def _successors(run: _Run, ts: _Solver, s: VmaState, choice: MmapChoice) -> list:
    return [vma_transition(ts.ops, run.policy, run.st, s, e, choice) for e in run.events()]


def check_vma(prop: VmaProperty, policy: Policy, st: VmaStructure, page_bytes: int,
              settings: VmaSettings = VmaSettings()) -> Result:
    started = time.perf_counter()
    run = _Run(prop, policy, st, page_bytes, settings)
    if settings.method not in ("induction", "bmc"):
        raise ValueError(f"unknown method {settings.method!r} (known: induction, bmc)")
    failure = _induction(run) if settings.method == "induction" else "bounded run requested"
    if failure is None:
        return _proved(run, started)
    if failure.startswith("vacuous:"):
        return _result(run, Verdict.VACUOUS, started, failure.removeprefix("vacuous: "))
    if failure.startswith("unknown:"):
        return _result(run, Verdict.UNKNOWN, started, failure.removeprefix("unknown: "))
    found = _bmc(run)
    if isinstance(found, VmaCounterexample):
        return _result(run, Verdict.COUNTEREXAMPLE, started, trace=found)
    if found:
        return _result(run, Verdict.UNKNOWN, started, found)
    if settings.method == "bmc":
        return _proved(run, started)
    return _result(run, Verdict.UNKNOWN, started, f"the invariant is not inductive ({failure}) and no "
                   f"counterexample exists up to depth {settings.depth}")


@dataclass(frozen=True)
class OneVmaStep:
    """A free state and one step of every event from it."""

    ops: Ops
    state: VmaState
    steps: tuple[tuple[VmaEvent, VmaState], ...]


def encode_system(policy: Policy, st: VmaStructure, page_bytes: int, settings: VmaSettings) -> OneVmaStep:
    """Build, without solving, the terms every property shares: constant, boot and invariant clauses and
    one step of every event (barcheck/run/depends.py records the reads)."""
    run = _Run(VmaProperty("", "", ""), policy, st, page_bytes, settings)
    ts, s = _setup(run)
    boot_clauses(ts.ops, policy, st, s)
    invariant_clauses(ts.ops, policy, st, s)
    steps = []
    for event, step in zip(run.events(), _successors(run, ts, s, ts.fresh_choice("c"))):
        invariant_clauses(ts.ops, policy, st, step.after)
        steps.append((event, step.after))
    return OneVmaStep(ts.ops, s, tuple(steps))


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


def _result(run: _Run, verdict: Verdict, started: float, reason: str = "", trace: Any = None,
            assumptions: Sequence[str] = ()) -> Result:
    s = run.settings
    size_scope = (f"BARs up to {s.max_bar_bytes:#x} bytes" if s.max_bar_bytes is not None
                  else "every BAR size the hardware allows")
    scope = {
        "bounded": s.method == "bmc",
        "method": s.method,
        "width_bits": s.width,
        "page_size": run.page_bytes,
        "devices": [device.name for device in run.st.devices],
        "bars": len(run.st.bar_device),
        "events": [kind.value for kind in s.events],
        "placement": "none (BARs stay where they are)",
        "depth": s.depth,
        "max_bar_size": None if s.max_bar_bytes is None else hex(s.max_bar_bytes),
        "quantified": ("every trace of any length" if s.method == "induction" else f"every trace of up to {s.depth} events")
        + f" over {len(run.st.devices)} devices with {len(run.st.bar_device)} BAR slots (one vma each), "
        f"all BAR indices, addresses, mmap offsets and lengths symbolic, {size_scope}",
    }
    info = SolverInfo(z3_version(), s.seed, s.rlimit, run.work)
    return Result(run.prop.id, run.policy.name, run.page_bytes, verdict, scope, tuple(assumptions),
                  round(time.perf_counter() - started, 6), info, reason, None, tuple(run.notes), trace=trace)


def _assumption_names(run: _Run) -> list[str]:
    ops = ConcreteOps(run.settings.width)
    probe = _probe_state(run)
    names = {name.split(":")[0] for name, _ in run.constants(ops, probe)}
    return sorted(names | {"boot.idle"})


def _probe_state(run: _Run) -> VmaState:
    return idle_vma_state(run.st, run.page_bytes, [(0, 0, 16, False)] * len(run.st.bar_device))


def _proved(run: _Run, started: float) -> Result:
    witness = _witness(run)
    if isinstance(witness, str):
        return _result(run, Verdict.UNKNOWN, started, f"the proof holds but the antecedent check was undecided: {witness}")
    if witness is None:
        return _result(run, Verdict.VACUOUS, started,
                       f"no trace of up to {WITNESS_DEPTH} events reaches the case {run.prop.id} is about")
    run.notes.append("antecedent reached by: " + ", ".join(witness))
    return _result(run, Verdict.PROVED, started, assumptions=_assumption_names(run))


_INDUCTIVE: dict[tuple, tuple[str | None, int]] = {}
"""Init and step results per (policy object, property, structure, page, settings).  Keyed by the
object, not its name: two revisions of a user policy may share a name."""


def _induction(run: _Run) -> str | None:
    key = (run.policy, run.prop.id, run.st, run.page_bytes, run.settings)
    if key not in _INDUCTIVE:
        _INDUCTIVE[key] = _inductive(run)
    failure, run.work = _INDUCTIVE[key]
    if failure is not None:
        return failure
    failure, work = _safety(run)
    run.work += work
    return failure


def _setup(run: _Run) -> tuple[_Solver, VmaState]:
    ts = run.solver()
    s = ts.fresh_state("s")
    ts.session.add(*(flag for _, flag in run.constants(ts.ops, s)))
    return ts, s


def _inductive(run: _Run) -> tuple[str | None, int]:
    ts, s = _setup(run)
    ops, policy, st = ts.ops, run.policy, run.st
    boot = ts.literal(_conj(ops, boot_clauses(ops, policy, st, s)))
    status, reason = ts.check(boot)
    if status == UNKNOWN:
        return f"unknown: init query: {reason}", ts.work()
    if status == UNSAT:
        return "vacuous: the BAR and boot assumptions contradict each other", ts.work()
    inv = _invariant(run, ops, s)
    failure = _first_failure(ts, [boot], inv, "init")
    holds = ts.literal(_conj(ops, inv))
    assumed = {name: flag for name, flag in inv}
    for event, step in zip(run.events(), _successors(run, ts, s, ts.fresh_choice("c"))):
        if failure:
            break
        enabled = ts.literal(step.enabled)
        changed = [(name, flag) for name, flag in _invariant(run, ops, step.after)
                   if not same_term(assumed.get(name), flag)]
        failure = _first_failure(ts, [holds, enabled], changed, f"step {event.kind.value}({event.target})")
    return failure or None, ts.work()


def _safety(run: _Run) -> tuple[str | None, int]:
    ts, s = _setup(run)
    ops = ts.ops
    holds = ts.literal(_conj(ops, _invariant(run, ops, s)))
    failure = _first_failure(ts, [holds], _state_props(run, ops, s), "safety")
    if run.prop.step_clauses is not None and not failure:
        for event, step in zip(run.events(), _successors(run, ts, s, ts.fresh_choice("c"))):
            clauses = _step_props(run, ops, s, event, step.after)
            if clauses:
                failure = _first_failure(ts, [holds, ts.literal(step.enabled)], clauses,
                                         f"safety on {event.kind.value}({event.target})")
            if failure:
                break
    return failure or None, ts.work()


def _first_failure(ts: _Solver, literals: list, clauses: Clauses, what: str) -> str:
    return first_failure(ts.check_hard, ts.ops, literals, clauses, what)


@dataclass
class _Unrolling:
    events: list[VmaEvent]
    states: list[VmaState]
    selectors: list = field(default_factory=list)
    choices: list = field(default_factory=list)
    steps: list = field(default_factory=list)

    def extend(self, ts: _Solver, run: _Run) -> None:
        i = len(self.selectors)
        sel = z3.BitVec(f"e{i}.event", 16, ts.ctx)
        ts.session.add(z3.ULT(sel, len(self.events)))
        choice = ts.fresh_choice(f"e{i}")
        nxt = ts.fresh_state(f"s{i + 1}", constants=self.states[-1])
        steps = _successors(run, ts, self.states[-1], choice)
        for k, step in enumerate(steps):
            ts.session.add(z3.Implies(sel == k, z3.And(_as_bool(ts, step.enabled), *_equal(nxt, step.after))))
        self.states.append(nxt)
        self.selectors.append(sel)
        self.choices.append(choice)
        self.steps.append(steps)


def _as_bool(ts: _Solver, flag) -> Any:
    return z3.BoolVal(flag, ts.ctx) if isinstance(flag, bool) else flag


def _start(run: _Run) -> tuple[_Solver, _Unrolling]:
    ts = run.solver()
    s0 = ts.fresh_state("s0")
    ts.session.add(*(flag for _, flag in run.constants(ts.ops, s0)))
    ts.session.add(*(flag for _, flag in boot_clauses(ts.ops, run.policy, run.st, s0)))
    return ts, _Unrolling(run.events(), [s0])


def _witness(run: _Run) -> list[str] | str | None:
    if run.prop.antecedent is None:
        return []
    ts, trace = _start(run)
    base = run.work
    for depth in range(WITNESS_DEPTH + 1):
        reached = run.prop.antecedent(ts.ops, run.st, trace.states[-1])
        status, reason = ts.check_with(reached)
        run.work = base + ts.work()
        if status == UNKNOWN:
            return reason
        if status == SAT:
            ts.session.add(reached)
            ts.check()
            model = ts.session.model()
            picked = [trace.events[model.eval(sel, model_completion=True).as_long()] for sel in trace.selectors]
            return [f"{e.kind.value} {_target(run.st, e)}" for e in picked]
        if depth < WITNESS_DEPTH:
            trace.extend(ts, run)
    return None


def _target(st: VmaStructure, event: VmaEvent) -> str:
    return st.slot_name(event.target) if event.kind.on_bar else st.devices[event.target].name


def _bmc(run: _Run) -> VmaCounterexample | str | None:
    ts, trace = _start(run)
    ops, base = ts.ops, run.work
    for depth in range(run.settings.depth + 1):
        bad = ops.negate(_conj(ops, _state_props(run, ops, trace.states[-1])))
        if depth > 0:
            bad = ops.any_of(bad, _step_violation(run, ts, trace))
        status, reason = ts.check_with(bad)
        run.work = base + ts.work()
        if status == UNKNOWN:
            return f"bounded check at depth {depth}: {reason}"
        if status == SAT:
            return _extract(run, ts, trace, bad)
        if depth < run.settings.depth:
            trace.extend(ts, run)
    return None


def _step_violation(run: _Run, ts: _Solver, trace: _Unrolling):
    ops, before, sel = ts.ops, trace.states[-2], trace.selectors[-1]
    cases = []
    for k, (event, step) in enumerate(zip(trace.events, trace.steps[-1])):
        clauses = _step_props(run, ops, before, event, step.after)
        if clauses:
            cases.append(ops.all_of(sel == k, ops.negate(_conj(ops, clauses))))
    return ops.any_of(*cases)


MMIO_ANCHOR = 0xFE000000


def _extract(run: _Run, ts: _Solver, trace: _Unrolling, bad) -> VmaCounterexample:
    ts.session.add(bad)
    if ts.check()[0] != SAT:
        raise EncodingMismatch("bounded check: the violation vanished when asserted")
    model = ts.session.model()
    for sel in trace.selectors:
        ts.session.add(sel == model.eval(sel, model_completion=True))
    model = _canonical(run, ts, trace, model)
    initial = _decode(model, trace.states[0])
    events = [trace.events[model.eval(sel, model_completion=True).as_long()] for sel in trace.selectors]
    choices = [MmapChoice(*(model.eval(v, model_completion=True).as_long() for v in (c.offset_pages, c.pages)))
               for c in trace.choices]
    return replay_vma(run.prop, run.policy, run.st, initial, list(zip(events, choices)), run.settings.width)


def _canonical(run: _Run, ts: _Solver, trace: _Unrolling, model):
    """Pull the BARs toward a typical MMIO layout and the mmaps toward one page at offset 0.

    Slots no event of the trace touches are made non-mmappable when that is
    possible, so the report shows only the BARs the trace needs.  No BAR is
    left at physical address 0, where RAM or firmware sits on real machines.
    """
    s0, mask = trace.states[0], (1 << run.settings.width) - 1
    used = _slots_used(run, trace, model)
    for b in range(len(run.st.bar_device)):
        if b not in used:
            model = _prefer(ts, z3.Not(s0.mmappable[b]), model)
        model = _prefer(ts, s0.start[b] != 0, model)
    for b in range(len(run.st.bar_device)):
        model = ts.session.pull_toward(s0.index[b], run.st.devices[run.st.device_of(b)].bars.index(b), model)
    for b in range(len(run.st.bar_device)):
        model = ts.session.pull_toward(s0.size[b], run.page_bytes, model)
        model = ts.session.pull_toward(s0.start[b], (MMIO_ANCHOR + 2 * b * run.page_bytes) & mask, model)
    for choice in trace.choices:
        model = ts.session.pull_toward(choice.offset_pages, 0, model)
        model = ts.session.pull_toward(choice.pages, 1, model)
    return model


def _slots_used(run: _Run, trace: _Unrolling, model) -> set[int]:
    used: set[int] = set()
    for sel in trace.selectors:
        event = trace.events[model.eval(sel, model_completion=True).as_long()]
        used.update([event.target] if event.kind.on_bar else run.st.devices[event.target].bars)
    return used


def _prefer(ts: _Solver, condition, model):
    """Keep `condition` when some model satisfies it (the event choices are already fixed)."""
    if ts.session.check(condition) == SAT:
        model = ts.session.model()
        ts.session.add(condition)
    return model


def _decode(model, s: VmaState) -> VmaState:
    values: dict[str, Any] = {"page_shift": s.page_shift}
    for f in dataclasses.fields(VmaState):
        if f.name == "page_shift":
            continue
        terms = [model.eval(t, model_completion=True) for t in getattr(s, f.name)]
        values[f.name] = tuple(z3.is_true(t) if z3.is_bool(t) else t.as_long() for t in terms)
    return VmaState(**values)


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
