"""The one place a z3 solver is created."""

from __future__ import annotations

import z3

DEFAULT_SEED = 0
DEFAULT_RLIMIT = 400_000_000


def z3_version() -> str:
    return z3.get_version_string()


def make_solver(seed: int, rlimit: int, ctx: z3.Context, cores: bool = True) -> z3.Solver:
    """A QF_BV solver whose answers do not depend on machine speed.

    `rlimit` is a work budget per check() call, not a wall-clock timeout, so
    the same query gives the same answer (or the same UNKNOWN) on every machine.
    """
    solver = z3.SolverFor("QF_BV", ctx=ctx)
    solver.set("random_seed", seed)
    solver.set("rlimit", rlimit)
    if cores:
        solver.set("core.minimize", True)
    return solver


def work_done(solver: z3.Solver) -> int:
    """Resource units consumed so far in the solver's context: a deterministic measure of effort."""
    stats = solver.statistics()
    return int(stats.get_key_value("rlimit count")) if "rlimit count" in stats.keys() else 0


QUICK_RLIMIT = 500_000
"""Work an incremental check may take before it is asked again of a fresh solver."""


class Escalating:
    """An incremental solver whose hard checks are retried on a fresh solver.

    Each check first runs on the incremental solver with a small work budget
    (cheap checks, most of a minimisation, finish there).  When that runs out,
    the same assertions and assumptions are asserted outright in a fresh solver
    with the full budget: z3 then preprocesses the whole problem, which is
    often ten times faster on these 64-bit queries than continuing
    incrementally.  Should the fresh solver run out of budget too, the
    incremental solver gets the full budget, as without escalation.  All
    budgets are work limits, so the answers, and the models, are the same on
    every machine.
    """

    def __init__(self, solver: z3.Solver, seed: int, rlimit: int) -> None:
        self.solver, self.seed, self.rlimit = solver, seed, rlimit
        self.fresh_work = 0
        self.reason = ""
        """Why the last check was unknown."""
        self._model: z3.ModelRef | None = None

    def add(self, *conditions) -> None:
        self.solver.add(*conditions)

    def check(self, *assumptions) -> z3.CheckSatResult:
        self.solver.set("rlimit", min(QUICK_RLIMIT, self.rlimit))
        try:
            result = self.solver.check(*assumptions)
        finally:
            self.solver.set("rlimit", self.rlimit)
        if result != z3.unknown:
            self._model = self.solver.model() if result == z3.sat else None
            return result
        fresh = make_solver(self.seed, self.rlimit, self.solver.ctx, cores=False)
        fresh.add(*self.solver.assertions(), *assumptions)
        result = fresh.check()
        self.fresh_work += work_done(fresh)
        if result == z3.unknown:
            return self._incremental(*assumptions)
        self._model = fresh.model() if result == z3.sat else None
        self.reason = ""
        return result

    def _incremental(self, *assumptions) -> z3.CheckSatResult:
        """The last resort, so escalating never answers unknown where the plain incremental check would not."""
        result = self.solver.check(*assumptions)
        self._model = self.solver.model() if result == z3.sat else None
        self.reason = self.solver.reason_unknown() if result == z3.unknown else ""
        return result

    def model(self) -> z3.ModelRef:
        if self._model is None:
            raise z3.Z3Exception("model is not available")
        return self._model


def check_escalating(solver: z3.Solver, seed: int, rlimit: int, condition, *literals) -> tuple[z3.CheckSatResult, str, int]:
    """Is `condition` satisfiable with the literals?  Leaves nothing behind; returns the
    answer, the reason when unknown, and the work a fresh solver spent (see `Escalating`)."""
    escalating = Escalating(solver, seed, rlimit)
    solver.push()
    try:
        solver.add(condition)
        result = escalating.check(*literals)
    finally:
        solver.pop()
    return result, escalating.reason, escalating.fresh_work


def pull_toward(solver: z3.Solver, variable: z3.BitVecRef, target: int, model: z3.ModelRef) -> z3.ModelRef:
    """Fix `variable` as close to `target` as the constraints allow, most significant bit first.

    The result depends only on which constraint sets are satisfiable, not on the
    models z3 returns; `model` is a witness before and after.
    """
    value = lambda m: m.eval(variable, model_completion=True).as_long()  # noqa: E731
    if value(model) != target and solver.check(variable == target) == z3.sat:
        model = solver.model()
    if value(model) == target:
        solver.add(variable == target)
        return model
    for bit in reversed(range(variable.size())):
        want = (target >> bit) & 1
        term = z3.Extract(bit, bit, variable)
        if ((value(model) >> bit) & 1) != want and solver.check(term == want) == z3.sat:
            model = solver.model()
        solver.add(term == ((value(model) >> bit) & 1))
    return model


def same_term(a, b) -> bool:
    """`b` is the very term `a` (hash-consed by z3), so a clause already assumed needs no new query."""
    if a is None:
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a.eq(b)
