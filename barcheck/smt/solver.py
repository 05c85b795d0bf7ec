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
