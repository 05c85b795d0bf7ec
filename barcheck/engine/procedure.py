"""One procedure checks every transition system: induction, bounded search, witnesses, replayed traces.

It proves by induction, searches bounded traces, finds a witness for the antecedent, and
extracts a canonical counterexample that it replays on integers.

A system plugs in through `Instance` (one session's view of the states, events and clauses) and
`Problem` (how to open an instance, and what a result states about its scope).  The trace checks
(engine/tracecheck.py) and the mapping checks (engine/vmacheck.py) are its two instances.

Induction discharges three kinds of query, each reported by name when it fails:
- init: every boot state satisfies the invariant;
- step: the invariant survives every event (one query per event and clause);
- safety: the invariant implies every clause of the property.
When a step or safety query fails, bounded model checking looks for a real trace;
without one the verdict is UNKNOWN, never PROVED.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import z3

from barcheck.engine.induction import Clauses, first_failure
from barcheck.engine.session import SAT, UNKNOWN, UNSAT, Session, z3_version
from barcheck.engine.verdict import EncodingMismatch, Result, SolverInfo, Verdict
from model.ops import Ops

SELECTOR_BITS = 16
WITNESS_DEPTH = 4
INDUCTION, BMC = "induction", "bmc"


class Step(Protocol):
    enabled: Any
    after: Any


class Instance(Protocol):
    """One session's view of a transition system and of the property checked on it."""

    @property
    def session(self) -> Session: ...
    @property
    def ops(self) -> Ops: ...
    @property
    def events(self) -> Sequence[Any]: ...
    @property
    def boot_contradiction(self) -> str:
        """The vacuity reason when no boot state exists."""

    def fresh_state(self, tag: str, constants: Any = None) -> Any: ...
    def fresh_choice(self, tag: str) -> Any: ...
    def constants(self, state: Any) -> Clauses: ...
    def boot(self, state: Any) -> Clauses: ...
    def invariant(self, state: Any) -> Clauses: ...
    def successors(self, state: Any, choice: Any, placement: str) -> Sequence[Step]: ...
    def link(self, selected: Any, step: Step, after: Any) -> Any:
        """The unrolled next state is `after` of `step` when the step is the one selected."""
    def state_props(self, state: Any) -> Clauses: ...
    def step_props(self, before: Any, event: Any, after: Any) -> Clauses: ...
    def has_step_props(self) -> bool: ...
    def antecedent(self, state: Any) -> Any | None: ...
    def describe(self, event: Any) -> str: ...
    def canonical_plan(self, trace: Unrolling, model_now: Callable[[], z3.ModelRef]) -> Iterator[Preference]: ...
    def replay(self, trace: Unrolling, model: z3.ModelRef, placement: str) -> Any: ...


class Problem(Protocol):
    """One check: a property, a policy, a system and its settings."""

    @property
    def prop_id(self) -> str: ...
    @property
    def policy_name(self) -> str: ...
    @property
    def page_bytes(self) -> int: ...
    @property
    def method(self) -> str: ...
    @property
    def depth(self) -> int: ...
    @property
    def placement(self) -> str: ...
    @property
    def seed(self) -> int: ...
    @property
    def rlimit(self) -> int: ...

    def open(self) -> Instance: ...
    def has_antecedent(self) -> bool: ...
    def witness_placement(self) -> str:
        """The placement a witness for the antecedent is searched with."""
    def inductive_key(self) -> tuple: ...
    def scope(self) -> dict[str, Any]: ...
    def assumption_names(self) -> list[str]: ...


class ProblemFields:
    """The `Problem` members every system reads the same way from its property, policy and settings."""

    prop: Any
    policy: Any
    settings: Any

    @property
    def prop_id(self) -> str:
        return self.prop.id

    @property
    def policy_name(self) -> str:
        return self.policy.name

    @property
    def method(self) -> str:
        return self.settings.method

    @property
    def depth(self) -> int:
        return self.settings.depth

    @property
    def seed(self) -> int:
        return self.settings.seed

    @property
    def rlimit(self) -> int:
        return self.settings.rlimit

    def has_antecedent(self) -> bool:
        return self.prop.antecedent is not None

    def quantified(self, over: str) -> str:
        """The scope sentence: every trace (of any length, or up to the depth bound) over `over`."""
        unbounded = self.settings.method == INDUCTION
        return ("every trace of any length" if unbounded else f"every trace of up to {self.settings.depth} events") + over


@dataclass(frozen=True)
class Pull:
    """Move `term` as close to `target` as the constraints allow, and keep it there."""

    term: Any
    target: int


@dataclass(frozen=True)
class Prefer:
    """Keep `condition` when some model satisfies it."""

    condition: Any


Preference = Pull | Prefer


def _conj(ops: Ops, clauses: Clauses) -> Any:
    return ops.all_of(*(flag for _, flag in clauses))


def _value(model: z3.ModelRef, term: Any) -> int:
    return model.eval(term, model_completion=True).as_long()


@dataclass
class Unrolling:
    """The symbolic states of a trace so far, the event selected at each step, and its successors."""

    instance: Instance
    placement: str
    states: list[Any]
    selectors: list = field(default_factory=list)
    choices: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    """Per unrolled step: the successor of every event from the state before it."""

    @property
    def events(self) -> Sequence[Any]:
        return self.instance.events

    def extend(self) -> None:
        inst, i = self.instance, len(self.selectors)
        sel = z3.BitVec(f"e{i}.event", SELECTOR_BITS, inst.session.ctx)
        inst.session.add(z3.ULT(sel, len(self.events)))
        choice = inst.fresh_choice(f"e{i}")
        nxt = inst.fresh_state(f"s{i + 1}", constants=self.states[-1])
        steps = inst.successors(self.states[-1], choice, self.placement)
        for k, step in enumerate(steps):
            inst.session.add(inst.link(sel == k, step, nxt))
        self.states.append(nxt)
        self.selectors.append(sel)
        self.choices.append(choice)
        self.steps.append(steps)

    def picked(self, model: z3.ModelRef) -> list[Any]:
        return [self.events[_value(model, sel)] for sel in self.selectors]


_INDUCTIVE: dict[tuple, tuple[str | None, int]] = {}
"""Init and step results per problem key (policy object, structure, page, settings, and the property
when it strengthens the invariant).  Keyed by the policy object, not its name or class: two
revisions of a user policy may share both."""


@dataclass
class Procedure:
    """Induction, bounded search and witnesses for one problem, with the work and notes they leave."""

    problem: Problem
    started: float = field(default_factory=time.perf_counter)
    work: int = 0
    notes: list[str] = field(default_factory=list)

    def check(self, refute: Callable[[Procedure, str], Result] | None = None) -> Result:
        """Prove by induction (or bounded search, for method bmc); `refute` looks for a trace when induction fails."""
        method = self.problem.method
        if method not in (INDUCTION, BMC):
            raise ValueError(f"unknown method {method!r} (known: induction, bmc)")
        failure = self.induction() if method == INDUCTION else ""
        if failure is None:
            return self.proved()
        if failure.startswith("vacuous:"):
            return self.result(Verdict.VACUOUS, failure.removeprefix("vacuous: "))
        if failure.startswith("unknown:"):
            return self.result(Verdict.UNKNOWN, failure.removeprefix("unknown: "))
        return (refute or refute_by_bmc)(self, failure)

    def result(self, verdict: Verdict, reason: str = "", trace: Any = None, assumptions: Sequence[str] = ()) -> Result:
        p = self.problem
        info = SolverInfo(z3_version(), p.seed, p.rlimit, self.work)
        return Result(p.prop_id, p.policy_name, p.page_bytes, verdict, p.scope(), tuple(assumptions),
                      round(time.perf_counter() - self.started, 6), info, reason, None, tuple(self.notes), trace=trace)

    def not_inductive(self, failure: str) -> Result:
        return self.result(Verdict.UNKNOWN, f"the invariant is not inductive ({failure}) and no counterexample "
                                            f"exists up to depth {self.problem.depth}")

    def proved(self) -> Result:
        """PROVED only when some trace reaches the case the property is about; else VACUOUS or UNKNOWN."""
        witness = self.witness()
        if isinstance(witness, str):
            return self.result(Verdict.UNKNOWN, f"the proof holds but the antecedent check was undecided: {witness}")
        if witness is None:
            return self.result(Verdict.VACUOUS, f"no trace of up to {WITNESS_DEPTH} events reaches the case "
                                                f"{self.problem.prop_id} is about")
        self.notes.append("antecedent reached by: " + ", ".join(witness))
        return self.result(Verdict.PROVED, assumptions=self.problem.assumption_names())

    def induction(self) -> str | None:
        """None when init, step and safety all hold; else a description of the first failure."""
        key = self.problem.inductive_key()
        if key not in _INDUCTIVE:
            _INDUCTIVE[key] = _inductive(self.problem)
        failure, self.work = _INDUCTIVE[key]
        if failure is not None:
            return failure
        failure, work = _safety(self.problem)
        self.work += work
        return failure

    def start(self, placement: str, layout: Callable[[Instance, Any], list] | None = None) -> Unrolling:
        """A session holding a boot state, optionally with a layout's extra constraints on it."""
        inst = self.problem.open()
        state = inst.fresh_state("s0")
        inst.session.add(*(flag for _, flag in inst.constants(state)))
        if layout is not None:
            inst.session.add(*layout(inst, state))
        inst.session.add(*(flag for _, flag in inst.boot(state)))
        return Unrolling(inst, placement, [state])

    def witness(self) -> list[str] | str | None:
        """The events of a shortest trace to a state satisfying the antecedent; a reason when undecided."""
        if not self.problem.has_antecedent():
            return []
        trace = self.start(self.problem.witness_placement())
        inst, base_work = trace.instance, self.work
        for depth in range(WITNESS_DEPTH + 1):
            reached = inst.antecedent(trace.states[-1])
            status, reason = inst.session.check_with(reached)
            self.work = base_work + inst.session.work()
            if status == UNKNOWN:
                return reason
            if status == SAT:
                inst.session.add(reached)
                inst.session.check()
                return [inst.describe(e) for e in trace.picked(inst.session.model())]
            if depth < WITNESS_DEPTH:
                trace.extend()
        return None

    def bmc(self, placement: str, layout: Callable[[Instance, Any], list] | None = None) -> Any:
        """The shortest violating trace up to the depth bound (replayed), a reason it was undecided, or None."""
        trace = self.start(placement, layout)
        inst, base_work = trace.instance, self.work
        ops = inst.ops
        for depth in range(self.problem.depth + 1):
            bad = ops.negate(_conj(ops, inst.state_props(trace.states[-1])))
            if depth > 0:
                bad = ops.any_of(bad, _step_violation(trace))
            status, reason = inst.session.check_with(bad)
            self.work = base_work + inst.session.work()
            if status == UNKNOWN:
                return f"bounded check at depth {depth}: {reason}"
            if status == SAT:
                return extract(trace, bad)
            if depth < self.problem.depth:
                trace.extend()
        return None


def refute_by_bmc(proc: Procedure, failure: str) -> Result:
    """A bounded search with the problem's own placement: a replayed trace, an UNKNOWN, or (bmc) a bounded proof."""
    found = proc.bmc(proc.problem.placement)
    if isinstance(found, str):
        return proc.result(Verdict.UNKNOWN, found)
    if found is not None:
        return proc.result(Verdict.COUNTEREXAMPLE, trace=found)
    if proc.problem.method == BMC:
        return proc.proved()
    return proc.not_inductive(failure)


def _setup(problem: Problem) -> tuple[Instance, Any]:
    inst = problem.open()
    state = inst.fresh_state("s")
    inst.session.add(*(flag for _, flag in inst.constants(state)))
    return inst, state


def _first_failure(inst: Instance, literals: list, clauses: Clauses, what: str, known: dict | None = None) -> str:
    return first_failure(inst.session.check_hard, inst.ops, literals, clauses, what, known)


def _inductive(problem: Problem) -> tuple[str | None, int]:
    inst, state = _setup(problem)
    ops, session = inst.ops, inst.session
    boot = session.literal(_conj(ops, inst.boot(state)))
    status = session.check(boot)
    if status == UNKNOWN:
        return f"unknown: init query: {session.reason_unknown()}", session.work()
    if status == UNSAT:
        return f"vacuous: {inst.boot_contradiction}", session.work()
    invariant = inst.invariant(state)
    failure = _first_failure(inst, [boot], invariant, "init")
    holds = session.literal(_conj(ops, invariant))
    known = dict(invariant)
    choice = inst.fresh_choice("c")
    for event, step in zip(inst.events, inst.successors(state, choice, problem.placement)):
        if failure:
            break
        enabled = session.literal(step.enabled)
        failure = _first_failure(inst, [holds, enabled], inst.invariant(step.after),
                                 f"step {event.kind.value}({event.target})", known)
    return failure or None, session.work()


def _safety(problem: Problem) -> tuple[str | None, int]:
    inst, state = _setup(problem)
    session = inst.session
    holds = session.literal(_conj(inst.ops, inst.invariant(state)))
    failure = _first_failure(inst, [holds], inst.state_props(state), "safety")
    if inst.has_step_props() and not failure:
        choice = inst.fresh_choice("c")
        for event, step in zip(inst.events, inst.successors(state, choice, problem.placement)):
            clauses = inst.step_props(state, event, step.after)
            if clauses:
                failure = _first_failure(inst, [holds, session.literal(step.enabled)], clauses,
                                         f"safety on {event.kind.value}({event.target})")
            if failure:
                break
    return failure or None, session.work()


def _step_violation(trace: Unrolling) -> Any:
    """The last unrolled step is an event whose step clauses fail."""
    inst = trace.instance
    ops, before, sel = inst.ops, trace.states[-2], trace.selectors[-1]
    cases = []
    for k, (event, step) in enumerate(zip(trace.events, trace.steps[-1])):
        clauses = inst.step_props(before, event, step.after)
        if clauses:
            cases.append(ops.all_of(sel == k, ops.negate(_conj(ops, clauses))))
    return ops.any_of(*cases)


def extract(trace: Unrolling, bad: Any) -> Any:
    """The violating trace the solver found, made canonical and replayed on integers."""
    session = trace.instance.session
    session.add(bad)
    if session.check() != SAT:
        raise EncodingMismatch("bounded check: the violation vanished when asserted")
    model = canonicalise(session, trace, session.model())
    return trace.instance.replay(trace, model, trace.placement)


def canonicalise(session: Session, trace: Unrolling, model: z3.ModelRef) -> z3.ModelRef:
    """Apply the instance's preferences in order; each sees the model the earlier ones left."""
    current = [model]
    for preference in trace.instance.canonical_plan(trace, lambda: current[0]):
        current[0] = _apply(session, preference, current[0])
    return current[0]


def _apply(session: Session, preference: Preference, model: z3.ModelRef) -> z3.ModelRef:
    if isinstance(preference, Pull):
        return session.pull_toward(preference.term, preference.target, model)
    if session.check(preference.condition) == SAT:
        model = session.model()
        session.add(preference.condition)
    return model


def pin_events(session: Session, trace: Unrolling, model: z3.ModelRef) -> None:
    """Keep the events the model selected: later preferences then cannot change the trace."""
    for sel in trace.selectors:
        session.add(sel == model.eval(sel, model_completion=True))
