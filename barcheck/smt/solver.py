"""The one place a z3 solver is created."""

from __future__ import annotations

import z3

DEFAULT_SEED = 0
DEFAULT_RLIMIT = 400_000_000


def z3_version() -> str:
    return z3.get_version_string()


def make_solver(seed: int, rlimit: int, ctx: z3.Context) -> z3.Solver:
    """A QF_BV solver whose answers do not depend on machine speed.

    `rlimit` is a work budget per check() call, not a wall-clock timeout, so
    the same query gives the same answer (or the same UNKNOWN) on every machine.
    """
    solver = z3.SolverFor("QF_BV", ctx=ctx)
    solver.set("random_seed", seed)
    solver.set("rlimit", rlimit)
    solver.set("core.minimize", True)
    return solver


def work_done(solver: z3.Solver) -> int:
    """Resource units consumed so far in the solver's context: a deterministic measure of effort."""
    stats = solver.statistics()
    return int(stats.get_key_value("rlimit count")) if "rlimit count" in stats.keys() else 0
