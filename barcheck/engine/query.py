"""A query: one encoded scenario with named assumptions, answering checks in plain Python terms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import z3

from barcheck.engine.encode import decode, symbolic_scenario
from barcheck.engine.session import Escalating, make_solver, pull_toward, work_done
from model.ops_z3 import SymbolicOps
from model.scenario import FLAG_FIELDS, PairScenario, Shape

SAT, UNSAT, UNKNOWN = "sat", "unsat", "unknown"


@dataclass(frozen=True, slots=True)
class Answer:
    status: str
    core: tuple[str, ...] = ()
    reason: str = ""


class Query:
    """Owns one solver in a fresh z3 context, so no check can influence another.

    Assumptions are tracked by name so proofs can report the ones they used.
    """

    def __init__(self, shape: Shape, page_bytes: int, seed: int, rlimit: int) -> None:
        self.shape = shape
        self.ctx = z3.Context()
        self.ops = SymbolicOps(shape.width, self.ctx)
        self.scenario, domain = symbolic_scenario(shape, page_bytes, self.ctx)
        self.solver = make_solver(seed, rlimit, self.ctx)
        self.solver.add(*domain)
        self._domain = list(domain)
        self._seed, self._rlimit = seed, rlimit
        self._literals: dict[str, z3.BoolRef] = {}
        self._conditions: dict[str, z3.BoolRef] = {}
        self._goals = 0
        self._decided_work = 0

    def assume(self, named: Sequence[tuple[str, z3.BoolRef]]) -> None:
        for name, condition in named:
            if name in self._literals:
                raise ValueError(f"assumption {name!r} tracked twice")
            literal = z3.Bool(f"assume|{name}", self.ctx)
            self.solver.add(z3.Implies(literal, condition))
            self._literals[name] = literal
            self._conditions[name] = condition

    def goal(self, condition: z3.BoolRef) -> z3.BoolRef:
        self._goals += 1
        literal = z3.Bool(f"goal|{self._goals}", self.ctx)
        self.solver.add(z3.Implies(literal, condition))
        return literal

    def check(self, names: Sequence[str], goal: z3.BoolRef) -> Answer:
        """Is `goal` satisfiable together with the named assumptions?"""
        result = self.solver.check(goal, *(self._literals[name] for name in names))
        if result == z3.sat:
            return Answer(SAT)
        if result == z3.unknown:
            return Answer(UNKNOWN, reason=self.solver.reason_unknown())
        core = {str(literal) for literal in self.solver.unsat_core()}
        return Answer(UNSAT, tuple(name for name in names if f"assume|{name}" in core))

    def minimal_core(self, goal: z3.BoolRef, core: Sequence[str]) -> tuple[str, ...]:
        """Drop assumptions from an unsat core while it stays unsat (deletion-based, in order)."""
        kept = list(core)
        for name in list(core):
            trial = [other for other in kept if other != name]
            if self.check(trial, goal).status == UNSAT:
                kept = trial
        return tuple(kept)

    def decide(self, names: Sequence[str], condition: z3.BoolRef) -> tuple[Answer, z3.ModelRef | None]:
        """Is `condition` satisfiable with the named assumptions?  Asked of a fresh solver with
        everything asserted outright, which lets z3 preprocess: often ten times faster than
        `check`, but with no unsat core.  Returns the model when satisfiable.
        """
        solver = make_solver(self._seed, self._rlimit, self.ctx, cores=False)
        solver.add(*self._domain, *(self._conditions[name] for name in names), condition)
        result = solver.check()
        self._decided_work += work_done(solver)
        if result == z3.sat:
            return Answer(SAT), solver.model()
        if result == z3.unknown:
            return Answer(UNKNOWN, reason=solver.reason_unknown()), None
        return Answer(UNSAT), None

    def work(self) -> int:
        return work_done(self.solver) + self._decided_work

    def canonical_model(self, names: Sequence[str], goal: z3.BoolRef,
                        preferences: Sequence[z3.BoolRef],
                        objectives: Sequence[tuple[str, int]]) -> PairScenario:
        """The lexicographically least witness: preferences first, then each field
        as close (bit by bit, most significant first) to its target value.

        The result depends only on which constraint sets are satisfiable, not on
        the models z3 happens to return, so it is stable across z3 versions.
        """
        solver = Escalating(self.solver, self._seed, self._rlimit)
        self.solver.push()
        try:
            solver.add(goal, *(self._literals[name] for name in names))
            if solver.check() != z3.sat:
                raise RuntimeError("canonical_model called on a query with no witness")
            model = solver.model()
            for preference in preferences:
                if solver.check(preference) == z3.sat:
                    model = solver.model()
                    solver.add(preference)
            for field, target in objectives:
                model = self._pull_toward(solver, field, target, model)
            return decode(model, self.scenario)
        finally:
            self.solver.pop()
            self._decided_work += solver.fresh_work

    def _pull_toward(self, solver: Escalating, field: str, target: int, model: z3.ModelRef) -> z3.ModelRef:
        """Fix `field` as close to `target` as the constraints allow; `model` stays a witness."""
        variable = getattr(self.scenario, field)
        if field in FLAG_FIELDS:
            wanted = variable == bool(target)
            if not z3.is_true(model.eval(wanted, model_completion=True)):
                if solver.check(wanted) != z3.sat:
                    solver.add(z3.Not(wanted))
                    return model
                model = solver.model()
            solver.add(wanted)
            return model
        return pull_toward(solver, variable, target, model)
