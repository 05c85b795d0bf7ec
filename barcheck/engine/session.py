"""The one place a z3 solver is created and asked: `Session`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import z3

DEFAULT_SEED = 0
DEFAULT_RLIMIT = 400_000_000


def z3_version() -> str:
    return z3.get_version_string()


SAT, UNSAT, UNKNOWN = z3.sat, z3.unsat, z3.unknown
"""The one spelling of a check's answer everywhere in the engine."""


def _new_solver(seed: int, rlimit: int, ctx: z3.Context) -> z3.Solver:
    """A QF_BV solver whose answers do not depend on machine speed.

    `rlimit` is a work budget per check() call, not a wall-clock timeout, so
    the same query gives the same answer (or the same UNKNOWN) on every machine.
    Unsat cores come as z3 finds them: a caller that wants a minimal one reduces it
    itself (engine/query.py), which costs a fraction of z3's core.minimize.
    """
    solver = z3.SolverFor("QF_BV", ctx=ctx)
    solver.set("random_seed", seed)
    solver.set("rlimit", rlimit)
    return solver


def _work_done(solver: z3.Solver) -> int:
    """Resource units consumed so far in the solver's context: a deterministic measure of effort."""
    stats = solver.statistics()
    return int(stats.get_key_value("rlimit count")) if "rlimit count" in stats.keys() else 0  # noqa: SIM118 (Statistics has no __contains__)


class Session:
    """The only owner of a z3 solver: its context, seed and work budget, tracked assumptions,
    escalation of hard checks to a fresh solver, and the work every check spent.

    Nothing outside this module creates a z3 solver or calls one's check; the raw
    solver never leaves the session.
    """

    def __init__(self, seed: int = DEFAULT_SEED, rlimit: int = DEFAULT_RLIMIT, ctx: z3.Context | None = None) -> None:
        self.ctx = ctx if ctx is not None else z3.Context()
        self.seed, self.rlimit = seed, rlimit
        self._solver = _new_solver(seed, rlimit, self.ctx)
        self._frames: list[list[Any]] = [[]]
        self._fresh_work = 0
        self._goals = 0
        self._last_reason = ""
        self.rebuilds = 0
        """How often a cancelled check made the session replace its incremental solver."""

    def add(self, *conditions: Any) -> None:
        self._solver.add(*conditions)
        self._frames[-1].extend(conditions)

    def assertions(self) -> list:
        return list(self._solver.assertions())

    def push(self) -> None:
        self._solver.push()
        self._frames.append([])

    def pop(self) -> None:
        self._solver.pop()
        self._frames.pop()

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Assertions added inside are gone after."""
        self.push()
        try:
            yield
        finally:
            self.pop()

    def check(self, *assumptions: Any) -> z3.CheckSatResult:
        return self._incremental_check(self.rlimit, assumptions)

    def check_briefly(self, max_conflicts: int, *assumptions: Any) -> z3.CheckSatResult:
        """`check`, but unknown once the incremental solver reaches `max_conflicts` (its state stays usable)."""
        return self._incremental_check(self.rlimit, assumptions, max_conflicts)

    def _incremental_check(self, rlimit: int, assumptions: Sequence[Any], max_conflicts: int = 0) -> z3.CheckSatResult:
        """A check on the incremental solver; one that runs out of budget leaves a fresh solver in its place.

        z3's incremental solver is not trusted after a cancelled check: measured here, it then
        answered sat with models that break its own assertions where a fresh solver answers unsat
        (scripts/incremental_answers.py; every such answer came after a cancellation, none before).
        A wrong unsat would be invisible to the replay, so no answer is taken from a solver that
        was ever cancelled: its assertions, scope by scope, move to a new one.  A check stopped by
        `max_conflicts` is not a cancellation: the search ends at a clean point and the solver stays
        (measured: 540 of its later unsat answers confirmed by fresh solvers, 204 sat models checked).
        """
        solver = self._solver
        if rlimit != self.rlimit:
            solver.set("rlimit", rlimit)
        if max_conflicts:
            solver.set("max_conflicts", max_conflicts)
        try:
            result = solver.check(*assumptions)
        finally:
            if rlimit != self.rlimit:
                solver.set("rlimit", self.rlimit)
            if max_conflicts:
                solver.set("max_conflicts", UNLIMITED_CONFLICTS)
        if result == UNKNOWN:
            self._last_reason = solver.reason_unknown()
            if not (max_conflicts and self._last_reason == CONFLICTS_REACHED):
                self._rebuild()
        return result

    def _rebuild(self) -> None:
        solver = _new_solver(self.seed, self.rlimit, self.ctx)
        for depth, frame in enumerate(self._frames):
            if depth:
                solver.push()
            solver.add(*frame)
        self._solver = solver
        self.rebuilds += 1

    def reason_unknown(self) -> str:
        return self._last_reason

    def model(self) -> z3.ModelRef:
        return self._solver.model()

    def unsat_core(self) -> list:
        return list(self._solver.unsat_core())

    def literal(self, condition: Any, name: str | None = None) -> z3.BoolRef:
        """A fresh assumption literal that implies `condition` (tracked by `name` when given)."""
        if name is None:
            self._goals += 1
        literal = z3.Bool(f"assume|{name}" if name is not None else f"goal|{self._goals}", self.ctx)
        self.add(z3.Implies(literal, condition))
        return literal

    def check_with(self, condition: Any, *assumptions: Any) -> tuple[z3.CheckSatResult, str]:
        """Is `condition` satisfiable with the assumptions?  Leaves nothing behind."""
        with self.scope():
            self.add(condition)
            result = self.check(*assumptions)
            return result, (self._last_reason if result == UNKNOWN else "")

    def check_hard(self, condition: Any, *assumptions: Any) -> tuple[z3.CheckSatResult, str]:
        """`check_with` for a query expected to be hard: retried on a fresh solver when a small budget runs out."""
        escalating = Escalating(self)
        with self.scope():
            self.add(condition)
            result = escalating.check(*assumptions)
        return result, escalating.reason

    def escalating(self) -> Escalating:
        return Escalating(self)

    def decide(self, *conditions: Any) -> tuple[z3.CheckSatResult, z3.ModelRef | None, str]:
        """Are the conditions satisfiable on their own?  Asked of a fresh solver with everything asserted
        outright, which lets z3 preprocess (often ten times faster than an incremental check, but no core)."""
        fresh = _new_solver(self.seed, self.rlimit, self.ctx)
        fresh.add(*conditions)
        result = fresh.check()
        self._fresh_work += _work_done(fresh)
        model = fresh.model() if result == SAT else None
        return result, model, (fresh.reason_unknown() if result == UNKNOWN else "")

    @property
    def fresh_work(self) -> int:
        """Work units spent so far by fresh solvers (escalations and `decide`)."""
        return self._fresh_work

    def work(self) -> int:
        """Work units spent so far by this session's checks, fresh solvers included."""
        return _work_done(self._solver) + self._fresh_work

    def pull_toward(self, variable: z3.BitVecRef, target: int, model: z3.ModelRef) -> z3.ModelRef:
        return pull_toward(self, variable, target, model)


QUICK_CONFLICTS = 100
"""Conflicts an incremental check may take before it is asked again of a fresh solver.

A conflict limit stops z3's SAT search at a clean point, so the incremental solver stays usable.
A work limit (rlimit) cancels it wherever it is; with a quick work limit of 100,000 units the
cancelled solver later answered sat where a fresh solver answers unsat (see `_incremental_check`).
Measured, in one process, on the trace checks of v3-per-bar at 16K and the mapping checks of
linux-6.10 at 4K: 32.3 s and 21.2 s with a quick work limit of 500,000 units, 27.7 s and 14.2 s
with 100 conflicts (30, 300, 1,000 and 3,000 conflicts were no faster)."""

QUICK_RLIMIT = 0
"""A work limit on the quick incremental check as well (0: none but the session's budget).  Kept for
scripts/incremental_answers.py, which shows why work limits are not used there."""

UNLIMITED_CONFLICTS = 4294967295
CONFLICTS_REACHED = "sat.max.conflicts"
"""z3's reason for a check stopped by its conflict limit (any other unknown rebuilds the solver)."""


class Escalating:
    """Checks on a session whose hard ones are retried on a fresh solver.

    Each check first runs on the incremental solver with a small conflict limit
    (cheap checks, most of a minimisation, finish there).  When that is reached,
    the same assertions and assumptions are asserted outright in a fresh solver
    with the full budget: z3 then preprocesses the whole problem, which is
    often ten times faster on these 64-bit queries than continuing
    incrementally.  Should the fresh solver run out of budget too, the
    incremental solver gets the full budget, as without escalation.  Conflict
    counts and work units do not depend on the machine, so the answers, and
    the models, are the same on every machine.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.reason = ""
        """Why the last check was unknown."""
        self._model: z3.ModelRef | None = None

    def add(self, *conditions) -> None:
        self.session.add(*conditions)

    def check(self, *assumptions) -> z3.CheckSatResult:
        session = self.session
        quick_rlimit = min(QUICK_RLIMIT, session.rlimit) if QUICK_RLIMIT else session.rlimit
        result = session._incremental_check(quick_rlimit, assumptions, QUICK_CONFLICTS)
        if result != UNKNOWN:
            self._model = session.model() if result == SAT else None
            return result
        result, model, _ = session.decide(*session.assertions(), *assumptions)
        if result == UNKNOWN:
            return self._incremental(*assumptions)
        self._model = model
        self.reason = ""
        return result

    def _incremental(self, *assumptions) -> z3.CheckSatResult:
        """The last resort, so escalating never answers unknown where the plain incremental check would not."""
        session = self.session
        result = session.check(*assumptions)
        self._model = session.model() if result == SAT else None
        self.reason = session.reason_unknown() if result == UNKNOWN else ""
        return result

    def model(self) -> z3.ModelRef:
        if self._model is None:
            raise z3.Z3Exception("model is not available")
        return self._model


def new_fixedpoint(ctx: z3.Context, seed: int, timeout_ms: int = 0, rlimit: int = 0) -> z3.Fixedpoint:
    """A Spacer (CHC) engine for barcheck/engine/chc.py; a zero timeout or rlimit means no such limit."""
    fp = z3.Fixedpoint(ctx=ctx)
    fp.set(engine="spacer")
    fp.set("spacer.random_seed", seed)
    if timeout_ms:
        fp.set(timeout=timeout_ms)
    if rlimit:
        fp.set(rlimit=rlimit)
    return fp


def pull_toward(solver: Any, variable: z3.BitVecRef, target: int, model: z3.ModelRef) -> z3.ModelRef:
    """Fix `variable` as close to `target` as the constraints allow, most significant bit first.

    Each bit, from the top, takes the target's value when the constraints allow it with the bits
    above fixed.  Rather than ask bit by bit, a run of bits is asked at once: where the model
    already agrees nothing is asked, and at a bit where it does not, the longest run of target
    bits from there that the constraints allow is found by binary search (every shorter run is
    then allowed too, and the bit after it is forced the other way).  The result is the one the
    bit-by-bit order gives, and depends only on which constraint sets are satisfiable, not on the
    models z3 returns; `model` is a witness before and after, and every bit is fixed to its value
    in a witness (so a check the budget leaves undecided can cost closeness, never consistency).
    """
    value = lambda m: m.eval(variable, model_completion=True).as_long()  # noqa: E731
    if value(model) != target and solver.check(variable == target) == z3.sat:
        model = solver.model()
    if value(model) == target:
        solver.add(variable == target)
        return model
    high = variable.size() - 1
    while high >= 0:
        current = value(model)
        differ = [bit for bit in range(high, -1, -1) if (current >> bit) & 1 != (target >> bit) & 1]
        if not differ:
            solver.add(_bits(variable, high, 0) == _field(current, high, 0))
            break
        first = differ[0]
        if first < high:
            solver.add(_bits(variable, high, first + 1) == _field(current, high, first + 1))
        low, model = _longest_target_run(solver, variable, target, first, model)
        if low <= first:
            solver.add(_bits(variable, first, low) == _field(target, first, low))
        if low > 0:
            solver.add(_bits(variable, low - 1, low - 1) == (value(model) >> (low - 1)) & 1)
        high = low - 2
    return model


def _bits(variable: z3.BitVecRef, high: int, low: int) -> z3.BitVecRef:
    return z3.Extract(high, low, variable)


def _field(number: int, high: int, low: int) -> int:
    return (number >> low) & ((1 << (high - low + 1)) - 1)


def _longest_target_run(solver: Any, variable: z3.BitVecRef, target: int, first: int,
                        model: z3.ModelRef) -> tuple[int, z3.ModelRef]:
    """The least `low` such that bits first..low can all equal the target's (first + 1 when not even
    bit `first` can), with a model that has them so (`model` itself when none)."""
    allowed, refused = first + 1, -1
    while allowed - refused > 1:
        probe = (allowed + refused + 1) // 2 if allowed != first + 1 or refused != -1 else 0
        if solver.check(_bits(variable, first, probe) == _field(target, first, probe)) == z3.sat:
            allowed, model = probe, solver.model()
        else:
            refused = probe
    return allowed, model


def same_term(a, b) -> bool:
    """`b` is the very term `a` (hash-consed by z3), so a clause already assumed needs no new query."""
    if a is None:
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a.eq(b)
