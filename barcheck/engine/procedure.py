"""One procedure checks every transition system: induction, bounded search, witnesses, replayed traces.

It proves by induction, searches bounded traces, finds a witness for the antecedent, and
extracts a canonical counterexample that it replays on integers.

A system plugs in through engine/system.py: an `Instance` (one session's view of the states,
events and clauses) and a `Problem` (how to open an instance, and what a result says of its
scope).  The trace checks (engine/tracecheck.py) and the mapping checks (engine/vmacheck.py)
are its two instances.

Induction discharges three kinds of query, each reported by name when it fails:
- init: every boot state satisfies the invariant;
- step: the invariant survives every event (one query per event and clause);
- safety: the invariant implies every clause of the property.
When a step or safety query fails, bounded model checking looks for a real trace;
without one the verdict is UNKNOWN, never PROVED.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3

from barcheck.engine.induction import Clauses, first_failure
from barcheck.engine.session import SAT, UNKNOWN, UNSAT, Session, z3_version
from barcheck.engine.system import BMC, INDUCTION, Instance, Prefer, Preference, Problem, Pull, Together, Unrolling
from barcheck.engine.verdict import EncodingMismatch, Result, SolverInfo, Verdict
from model.ops import Ops

WITNESS_DEPTH = 4


def _conj(ops: Ops, clauses: Clauses) -> Any:
    return ops.all_of(*(flag for _, flag in clauses))


_INDUCTIVE: dict[tuple, tuple[str | None, int]] = {}
"""Init and step results per problem key (policy object, structure, page, settings, and the property
when it strengthens the invariant), and per page-family key; safety results per property and
page-family key; boot results per problem key.  Keyed by the policy object, not its name or
class: two revisions of a user policy may share both."""


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
        """None when init, step and safety all hold; else a description of a failure.

        Safety is asked first.  It is cheap, and when a clause of the property does not follow
        from the invariant the verdict is the trace search's, whatever the step would say: the
        costly step queries are then skipped (only the boot layout is checked for vacuity).
        """
        safety, self.work, shared_safety = _safety_for(self.problem)
        if safety is not None and not safety.startswith("unknown:"):
            vacuous, work = _boot_for(self.problem)
            self.work += work
            return vacuous or safety
        failure, work, shared_step = _inductive_for(self.problem)
        self.work += work
        shared = [name for name, flag in (("safety", shared_safety), ("init and step", shared_step)) if flag]
        if shared and failure is None:
            self.notes.append(f"{' and '.join(shared)} proved once for every page size of the run's page "
                              f"family, over one symbolic page size")
        return failure if failure is not None else safety

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


def _inductive_for(problem: Problem) -> tuple[str | None, int, bool]:
    """Init and step for this problem's page size: from the proof shared by its page family when that
    one holds, else from its own (memoised either way).

    A family proof is the same queries over one symbolic page size that may be any size of the family,
    so it holds for each of them.  When it does not hold, the failure it names may be another page
    size's, so this page size is asked on its own and reports its own failure.
    """
    family = problem.family_key()
    shared_work = 0
    if family is not None:
        failure, shared_work = _memo(family, lambda: _inductive(problem, family=True))
        if failure is None:
            own_boot, boot_work = _boot_for(problem)
            return own_boot, shared_work + boot_work, own_boot is None
    failure, work = _memo(problem.inductive_key(), lambda: _inductive(problem))
    return failure, work + shared_work, False


def _boot_for(problem: Problem) -> tuple[str | None, int]:
    """Whether this page size has a boot state (a family's proof only shows that some size of it has)."""
    return _memo(("boot", problem.inductive_key()), lambda: _boot(problem))


def _memo(key: tuple, compute: Callable[[], tuple[str | None, int]]) -> tuple[str | None, int]:
    if key not in _INDUCTIVE:
        _INDUCTIVE[key] = compute()
    return _INDUCTIVE[key]


def _safety_for(problem: Problem) -> tuple[str | None, int, bool]:
    """Safety for this problem's page size, from the page family's shared proof when that one holds."""
    family = problem.family_key()
    if family is None:
        return (*_safety(problem), False)
    failure, shared_work = _memo(("safety", problem.prop_id, family), lambda: _safety(problem, family=True))
    if failure is None:
        return None, shared_work, True
    failure, work = _safety(problem)
    return failure, work + shared_work, False


def _setup(problem: Problem, family: bool = False) -> tuple[Instance, Any]:
    inst = problem.open(family)
    state = inst.fresh_state("s")
    inst.session.add(*(flag for _, flag in inst.constants(state)))
    return inst, state


def _first_failure(inst: Instance, literals: list, clauses: Clauses, what: str, known: dict | None = None) -> str:
    return first_failure(inst.session.check_hard, inst.ops, literals, clauses, what, known)


def _boot_failure(inst: Instance, boot: Any) -> str | None:
    """Why no boot state can be shown to exist (vacuous or unknown), or None when one exists."""
    status = inst.session.check(boot)
    if status == UNKNOWN:
        return f"unknown: init query: {inst.session.reason_unknown()}"
    if status == UNSAT:
        return f"vacuous: {inst.boot_contradiction}"
    return None


def _boot(problem: Problem) -> tuple[str | None, int]:
    inst, state = _setup(problem)
    failure = _boot_failure(inst, inst.session.literal(_conj(inst.ops, inst.boot(state))))
    return failure, inst.session.work()


def _inductive(problem: Problem, family: bool = False) -> tuple[str | None, int]:
    inst, state = _setup(problem, family)
    ops, session = inst.ops, inst.session
    boot = session.literal(_conj(ops, inst.boot(state)))
    failure = _boot_failure(inst, boot)
    if failure is not None:
        return failure, session.work()
    invariant = inst.invariant(state)
    failure = _first_failure(inst, [boot], invariant, "init") or None
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


def _safety(problem: Problem, family: bool = False) -> tuple[str | None, int]:
    inst, state = _setup(problem, family)
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
    if isinstance(preference, Together):
        return _apply_together(session, preference.parts, model)
    if isinstance(preference, Pull):
        return session.pull_toward(preference.term, preference.target, model)
    if session.check(preference.condition) == SAT:
        model = session.model()
        session.add(preference.condition)
    return model


def _apply_together(session: Session, parts: Sequence[Pull | Prefer], model: z3.ModelRef) -> z3.ModelRef:
    if len(parts) == 1:
        return _apply(session, parts[0], model)
    if not parts:
        return model
    wanted = [part.term == part.target if isinstance(part, Pull) else part.condition for part in parts]
    if session.check(*wanted) == SAT:
        model = session.model()
        session.add(*wanted)
        return model
    half = len(parts) // 2
    model = _apply_together(session, parts[:half], model)
    return _apply_together(session, parts[half:], model)
