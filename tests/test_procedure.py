"""The one procedure (barcheck/engine/procedure.py) on a system that is neither the trace nor the mapping
system: an 8-bit counter.  Shows the procedure is generic, and that each of its verdicts is reachable."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import pytest
import z3

from barcheck.engine import procedure
from barcheck.engine.procedure import Procedure
from barcheck.engine.system import BMC, INDUCTION, Pull
from barcheck.engine.session import Session
from barcheck.engine.verdict import EncodingMismatch, Verdict
from model.ops import ConcreteOps
from model.ops_z3 import SymbolicOps

WIDTH_BITS = 8


class Kind(enum.Enum):
    INC = "inc"
    RESET = "reset"


@dataclass(frozen=True)
class Event:
    kind: Kind
    target: int = 0


@dataclass(frozen=True)
class Step:
    enabled: Any
    after: Any


@dataclass(frozen=True)
class Counted:
    property_id: str
    values: tuple[int, ...]

    def lines(self) -> list[str]:
        return [f"{n}. x = {v}" for n, v in enumerate(self.values)]

    def doc(self) -> dict[str, Any]:
        return {"property": self.property_id, "values": list(self.values)}


def _transition(ops, limit: Any, guarded: bool, x, event: Event) -> Step:
    if event.kind is Kind.RESET:
        return Step(ops.true(), ops.const(0))
    enabled = ops.ult(x, limit) if guarded else ops.true()
    return Step(enabled, ops.add(x, ops.const(1)))


class Counter:
    """A counter that `inc` raises and `reset` zeroes; the claim is x <= limit."""

    boot_contradiction = "the counter cannot boot"

    def __init__(self, problem: CounterProblem, family: bool = False) -> None:
        self.problem = problem
        self.session = Session(0, problem.rlimit, z3.Context())
        self.ops = SymbolicOps(WIDTH_BITS, self.session.ctx)
        self.events = [Event(Kind.INC), Event(Kind.RESET)]
        self.limit = self.ops.const(problem.limit)
        if family:
            self.limit = z3.BitVec("limit", WIDTH_BITS, self.session.ctx)
            self.session.add(z3.Or(*(self.limit == value for value in problem.family)))

    def fresh_state(self, tag: str, constants: Any = None) -> Any:
        return z3.BitVec(f"{tag}.x", WIDTH_BITS, self.session.ctx)

    def fresh_choice(self, tag: str) -> Any:
        return ()

    def constants(self, x) -> list:
        return []

    def boot(self, x) -> list:
        start = self.ops.eq(x, self.ops.const(0))
        if self.problem.no_boot_at is not None:
            stuck = self.ops.eq(self.limit, self.ops.const(self.problem.no_boot_at))
            start = self.ops.all_of(start, self.ops.negate(stuck))
        return [("boot.zero", start if self.problem.can_boot else self.ops.all_of(start, self.ops.false()))]

    def invariant(self, x) -> list:
        return [("x.at-most-limit", self.ops.ule(x, self.limit))]

    def successors(self, x, choice, placement: str) -> list[Step]:
        return [_transition(self.ops, self.limit, self.problem.guarded, x, e) for e in self.events]

    def link(self, selected, step: Step, after) -> Any:
        return z3.Implies(selected, z3.And(step.enabled, after == step.after))

    def state_props(self, x) -> list:
        if self.problem.claim is not None:
            return [("x.within-claim", self.ops.ule(x, self.ops.const(self.problem.claim)))]
        bound = self.ops.sub(self.limit, self.ops.const(1)) if self.problem.strict else self.limit
        return [("x.within-claim", self.ops.ule(x, bound))]

    def step_props(self, before, event, after) -> list:
        return []

    def has_step_props(self) -> bool:
        return False

    def antecedent(self, x) -> Any:
        return self.ops.eq(x, self.limit)

    def describe(self, event: Event) -> str:
        return f"{event.kind.value} c"

    def canonical_plan(self, trace, model_now):
        yield Pull(trace.states[0], 0)

    def replay(self, trace, model, placement: str) -> Counted:
        ops, x, values = ConcreteOps(WIDTH_BITS), 0, [0]
        for event in trace.picked(model):
            step = _transition(ops, self.problem.limit, self.problem.guarded, x, event)
            if not step.enabled:
                raise EncodingMismatch("replay: a step is not enabled")
            x = step.after
            values.append(x)
        bound = self.problem.claim if self.problem.claim is not None else self.problem.limit - self.problem.strict
        if x <= bound:
            raise EncodingMismatch("replay: the trace does not violate the claim")
        return Counted("counter.bounded", tuple(values))


@dataclass(frozen=True)
class CounterProblem:
    limit: int = 3
    guarded: bool = True
    can_boot: bool = True
    strict: bool = False
    """Claim x < limit, which the invariant x <= limit does not imply."""
    claim: int | None = None
    """Claim x <= claim instead, whatever the limit."""
    family: tuple[int, ...] = ()
    """Limits proved together, as the page sizes of a page family are."""
    no_boot_at: int | None = None
    """A limit under which the counter cannot boot."""
    method: str = INDUCTION
    depth: int = 6
    rlimit: int = 10_000_000
    prop_id: str = "counter.bounded"
    policy_name: str = "toy"
    page_bytes: int = 4096
    placement: str = "none"
    seed: int = 0

    def open(self, family: bool = False) -> Counter:
        return Counter(self, family)

    def family_key(self) -> tuple | None:
        if len(self.family) < 2 or self.limit not in self.family:
            return None
        return ("test-counter-family", self.family, self.guarded, self.can_boot, self.strict, self.claim,
                self.no_boot_at, self.rlimit)

    def has_antecedent(self) -> bool:
        return True

    def witness_placement(self) -> str:
        return self.placement

    def inductive_key(self) -> tuple:
        return ("test-counter", self)

    def scope(self) -> dict[str, Any]:
        return {"method": self.method, "depth": self.depth}

    def assumption_names(self) -> list[str]:
        return ["boot.zero"]


def _check(**fields) -> Any:
    return Procedure(CounterProblem(**fields)).check()


def test_a_guarded_counter_is_proved_and_its_antecedent_is_reached() -> None:
    result = _check()
    assert result.verdict is Verdict.PROVED
    assert result.assumptions == ("boot.zero",)
    assert "antecedent reached by: inc c, inc c, inc c" in result.notes
    assert result.solver.work > 0


def test_an_unguarded_counter_gives_the_shortest_replayed_trace() -> None:
    result = _check(guarded=False)
    assert result.verdict is Verdict.COUNTEREXAMPLE
    assert result.trace.values == (0, 1, 2, 3, 4)
    assert result.trace.lines()[-1] == "4. x = 4"


def test_an_unreachable_antecedent_is_vacuous_not_proved() -> None:
    result = _check(limit=10)
    assert result.verdict is Verdict.VACUOUS
    assert "no trace of up to 4 events" in result.reason


def test_contradictory_boot_assumptions_are_vacuous() -> None:
    result = _check(can_boot=False)
    assert result.verdict is Verdict.VACUOUS
    assert result.reason == "the counter cannot boot"


def test_a_budget_overrun_is_unknown() -> None:
    result = _check(rlimit=1)
    assert result.verdict is Verdict.UNKNOWN
    assert result.reason.startswith("init query")


def test_a_bounded_run_too_shallow_for_the_trace_is_a_bounded_proof() -> None:
    result = _check(guarded=False, method=BMC, depth=3)
    assert result.verdict is Verdict.PROVED
    deeper = _check(guarded=False, method=BMC, depth=4)
    assert deeper.verdict is Verdict.COUNTEREXAMPLE


def test_an_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown method"):
        _check(method="k-induction")


def test_when_safety_fails_the_trace_search_decides_without_the_step(monkeypatch) -> None:
    def no_step(problem):
        raise AssertionError("the inductive step was asked")
    monkeypatch.setattr(procedure, "_inductive", no_step)
    result = _check(strict=True)
    assert result.verdict is Verdict.COUNTEREXAMPLE
    assert result.trace.values == (0, 1, 2, 3)


def test_safety_failing_on_contradictory_boot_assumptions_is_still_vacuous() -> None:
    result = _check(strict=True, can_boot=False)
    assert result.verdict is Verdict.VACUOUS
    assert result.reason == "the counter cannot boot"


def test_a_family_shares_one_proof_across_its_members() -> None:
    procedure._INDUCTIVE.clear()
    results = [_check(limit=limit, family=(2, 3)) for limit in (2, 3)]
    assert [r.verdict for r in results] == [Verdict.PROVED, Verdict.PROVED]
    shared = ("safety and init and step proved once for every page size of the run's page family, "
              "over one symbolic page size")
    assert all(shared in r.notes for r in results)
    assert sorted(key[0] for key in procedure._INDUCTIVE) == ["boot", "boot", "safety", "test-counter-family"]
    alone = _check(limit=3)
    assert alone.verdict is Verdict.PROVED and shared not in alone.notes


def test_a_family_whose_shared_proof_fails_asks_each_member_on_its_own() -> None:
    """x <= 3 holds when the limit is 2 and fails when it is 9: the family's failed proof must neither
    turn 3 into a counterexample nor 9 into a proof."""
    procedure._INDUCTIVE.clear()
    low, high = (_check(limit=limit, claim=3, family=(2, 9)) for limit in (2, 9))
    assert low.verdict is Verdict.PROVED
    assert [n for n in low.notes if "proved once" in n] == [
        "init and step proved once for every page size of the run's page family, over one symbolic page size"]
    assert high.verdict is Verdict.COUNTEREXAMPLE
    assert high.trace.values == (0, 1, 2, 3, 4)
    assert low.solver.work > _check(limit=2, claim=3).solver.work


def test_a_member_outside_its_family_is_proved_on_its_own() -> None:
    procedure._INDUCTIVE.clear()
    result = _check(limit=3, claim=3, family=(2, 9))
    assert result.verdict is Verdict.PROVED
    assert not any("proved once" in note for note in result.notes)


def test_a_member_that_cannot_boot_is_vacuous_though_its_family_is_proved():
    """The family's proof holds because the other member boots; this one must still say it cannot."""
    procedure._INDUCTIVE.clear()
    booting, stuck = (_check(limit=limit, family=(2, 3), no_boot_at=3) for limit in (2, 3))
    assert booting.verdict is Verdict.PROVED
    assert stuck.verdict is Verdict.VACUOUS and stuck.reason == "the counter cannot boot"
    assert not any("proved once" in note for note in stuck.notes)
