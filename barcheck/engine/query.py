"""A query: one encoded scenario with named assumptions, answering checks in plain Python terms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import z3

from barcheck.engine.encode import decode, symbolic_scenario
from barcheck.engine.session import SAT as Z3_SAT, UNKNOWN as Z3_UNKNOWN, UNSAT as Z3_UNSAT, Escalating, Session, pull_toward
from model.ops_z3 import SymbolicOps
from model.scenario import FLAG_FIELDS, PairScenario, Shape

SAT, UNSAT, UNKNOWN = "sat", "unsat", "unknown"

TRIAL_CONFLICTS = 1_000
"""How long a minimal-core trial may search before its name is left for the later steps.  Measured on
the pair proofs of four policies at 4K: 22.9 s with full deletion, 19.5 s with 100 conflicts,
18.5 s with 1,000, 18.7 s with 10,000; the cores were the same."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: str
    core: tuple[str, ...] = ()
    reason: str = ""


class Query:
    """Owns one session in a fresh z3 context, so no check can influence another.

    Assumptions are tracked by name so proofs can report the ones they used.
    """

    def __init__(self, shape: Shape, page_bytes: int, seed: int, rlimit: int) -> None:
        self.shape = shape
        self.ctx = z3.Context()
        self.ops = SymbolicOps(shape.width, self.ctx)
        self.scenario, domain = symbolic_scenario(shape, page_bytes, self.ctx)
        self.session = Session(seed, rlimit, self.ctx)
        self.session.add(*domain)
        self._domain = list(domain)
        self._literals: dict[str, z3.BoolRef] = {}
        self._conditions: dict[str, z3.BoolRef] = {}

    def assume(self, named: Sequence[tuple[str, z3.BoolRef]]) -> None:
        for name, condition in named:
            if name in self._literals:
                raise ValueError(f"assumption {name!r} tracked twice")
            self._literals[name] = self.session.literal(condition, name)
            self._conditions[name] = condition

    def goal(self, condition: z3.BoolRef) -> z3.BoolRef:
        return self.session.literal(condition)

    def check(self, names: Sequence[str], goal: z3.BoolRef) -> Answer:
        """Is `goal` satisfiable together with the named assumptions?"""
        result = self.session.check(goal, *(self._literals[name] for name in names))
        if result == Z3_SAT:
            return Answer(SAT)
        if result == Z3_UNKNOWN:
            return Answer(UNKNOWN, reason=self.session.reason_unknown())
        core = {str(literal) for literal in self.session.unsat_core()}
        return Answer(UNSAT, tuple(name for name in names if f"assume|{name}" in core))

    def minimal_core(self, goal: z3.BoolRef, core: Sequence[str]) -> tuple[str, ...]:
        """A minimal subset of an unsat core that stays unsat with `goal`, in the core's order.

        A name is *needed* when the kept names without it are satisfiable: then every subset
        of the kept names needs it too.  Three steps, each keeping only names needed by a
        superset of the final set, so the result is minimal whenever every check is decided
        (a check that runs out of budget keeps its name unproven):
        1. each name is tried out briefly (`TRIAL_CONFLICTS`): sat marks it needed, unsat drops
           it and every name outside that trial's core;
        2. the names still unsure are dropped together; if that is unsat the rest is the answer
           (all of it needed: it is then the only minimal core);
        3. else the model found names one: an unsure name it alone breaks is needed; otherwise the
           first unsure name gets a full deletion trial.  Then step 2 again.
        z3's core.minimize is not used: on these queries it costs several times the whole search.
        """
        kept: list[str] = list(core)
        unsure: list[str] = []
        for name in core:
            if name in kept:
                status = self._trial(kept, name, goal)
                if status == Z3_UNSAT:
                    kept = self._core_of([other for other in kept if other != name])
                    unsure = [other for other in unsure if other in kept]
                elif status == Z3_UNKNOWN:
                    unsure.append(name)
        while unsure:
            rest = [name for name in kept if name not in unsure]
            answer = self.check(rest, goal)
            if answer.status == UNSAT:
                return tuple(name for name in rest if name in answer.core)
            broken = self._broken(unsure) if answer.status == SAT else []
            if len(broken) == 1:
                unsure.remove(broken[0])
                continue
            name = unsure.pop(0)
            trial = self.check([other for other in kept if other != name], goal)
            if trial.status == UNSAT:
                kept = [other for other in kept if other in trial.core and other != name]
                unsure = [other for other in unsure if other in kept]
        return tuple(kept)

    def _trial(self, kept: Sequence[str], name: str, goal: z3.BoolRef) -> z3.CheckSatResult:
        literals = (self._literals[other] for other in kept if other != name)
        return self.session.check_briefly(TRIAL_CONFLICTS, goal, *literals)

    def _core_of(self, names: Sequence[str]) -> list[str]:
        core = {str(literal) for literal in self.session.unsat_core()}
        return [name for name in names if f"assume|{name}" in core]

    def _broken(self, names: Sequence[str]) -> list[str]:
        """The named assumptions the last satisfying model breaks."""
        model = self.session.model()
        return [name for name in names
                if z3.is_false(model.eval(self._conditions[name], model_completion=True))]

    def decide(self, names: Sequence[str], condition: z3.BoolRef) -> tuple[Answer, z3.ModelRef | None]:
        """Is `condition` satisfiable with the named assumptions?  Asked of a fresh solver with
        everything asserted outright, which lets z3 preprocess: often ten times faster than
        `check`, but with no unsat core.  Returns the model when satisfiable.
        """
        result, model, reason = self.session.decide(*self._domain, *(self._conditions[name] for name in names),
                                                    condition)
        if result == Z3_SAT:
            return Answer(SAT), model
        if result == Z3_UNKNOWN:
            return Answer(UNKNOWN, reason=reason), None
        return Answer(UNSAT), None

    def work(self) -> int:
        return self.session.work()

    def canonical_model(self, names: Sequence[str], goal: z3.BoolRef,
                        preferences: Sequence[z3.BoolRef],
                        objectives: Sequence[tuple[str, int]]) -> PairScenario:
        """The lexicographically least witness: preferences first, then each field
        as close (bit by bit, most significant first) to its target value.

        The result depends only on which constraint sets are satisfiable, not on
        the models z3 happens to return, so it is stable across z3 versions.
        """
        search = self.session.escalating()
        with self.session.scope():
            search.add(goal, *(self._literals[name] for name in names))
            if search.check() != Z3_SAT:
                raise RuntimeError("canonical_model called on a query with no witness")
            model = search.model()
            for preference in preferences:
                if search.check(preference) == Z3_SAT:
                    model = search.model()
                    search.add(preference)
            for field, target in objectives:
                model = self._pull_toward(search, field, target, model)
            return decode(model, self.scenario)

    def _pull_toward(self, search: Escalating, field: str, target: int, model: z3.ModelRef) -> z3.ModelRef:
        """Fix `field` as close to `target` as the constraints allow; `model` stays a witness."""
        variable = getattr(self.scenario, field)
        if field in FLAG_FIELDS:
            wanted = variable == bool(target)
            if not z3.is_true(model.eval(wanted, model_completion=True)):
                if search.check(wanted) != Z3_SAT:
                    search.add(z3.Not(wanted))
                    return model
                model = search.model()
            search.add(wanted)
            return model
        return pull_toward(search, variable, target, model)
