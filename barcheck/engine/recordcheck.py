"""The engine of record (function-kind) properties: vacuity, proof with a minimal core,
canonical counterexample, concrete replay."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import z3

from barcheck.engine.session import DEFAULT_RLIMIT, DEFAULT_SEED, Session, pull_toward, z3_version
from barcheck.engine.verdict import EncodingMismatch, Result, SolverInfo, Verdict
from model.ops import ConcreteOps
from model.ops_z3 import SymbolicOps
from model.policies import Policy
from properties.record import RecordOptions, RecordProperty


@dataclass(frozen=True, slots=True)
class RecordSettings:
    seed: int = DEFAULT_SEED
    rlimit: int = DEFAULT_RLIMIT
    width: int = 64
    options: RecordOptions = field(default_factory=RecordOptions)
    explain: bool = True
    """False: a counterexample is the solver's first model (replayed all the same), not the canonical one."""


@dataclass(frozen=True, slots=True)
class RecordCounterexample:
    """A decoded, minimised and concretely replayed violation of a record property."""

    property_id: str
    page_bytes: int
    fields: dict[str, Any]
    facts: dict[str, Any]
    report_lines: tuple[str, ...]

    def lines(self) -> list[str]:
        return [*self.report_lines[1:], f"explanation: {self.report_lines[0]}", f"violated: {self.property_id}"]

    def summary(self) -> str:
        """The whole explanation sentence: a record's describer writes it."""
        return self.report_lines[0]

    def doc(self) -> dict[str, Any]:
        return {"replayed": True, "property": self.property_id, "page_size": hex(self.page_bytes),
                "explanation": self.report_lines[0],
                "fields": {name: _json_value(value) for name, value in sorted(self.fields.items())},
                "facts": {name: _json_value(value) for name, value in sorted(self.facts.items())}}


def _json_value(value: Any) -> Any:
    return value if isinstance(value, bool) else hex(value)


class _Query:
    """One solver in a fresh context with the assumptions asserted outright.

    Tracking each assumption by a literal makes z3 skip the preprocessing
    these 64-bit offset proofs need (seconds instead of a fraction), so a
    proof reports every assumption it was given, and only a vacuous check
    asks for a core.
    """

    def __init__(self, prop: RecordProperty, settings: RecordSettings) -> None:
        self.settings = settings
        self.ctx = z3.Context()
        self.ops = SymbolicOps(settings.width, self.ctx)
        self.session = Session(settings.seed, settings.rlimit, self.ctx)
        self.fields: dict[str, Any] = {name: z3.BitVec(name, settings.width, self.ctx) for name in prop.words}
        self.fields.update({name: z3.Bool(name, self.ctx) for name in prop.flags})
        self.named: list[tuple[str, Any]] = []

    def assume(self, named) -> None:
        self.named = list(named)
        self.session.add(*(condition for _, condition in self.named))

    def check(self, goal) -> Any:
        return self.session.check(goal)

    def conflicting(self, goal) -> tuple[str, ...]:
        """A deletion-minimal set of assumptions that contradict each other or `goal`."""
        tracker = Session(self.settings.seed, self.settings.rlimit, self.ctx)
        literals = {name: tracker.literal(condition, name) for name, condition in self.named}
        tracker.add(goal)
        kept = [name for name, _ in self.named]
        for name in list(kept):
            trial = [other for other in kept if other != name]
            if tracker.check(*(literals[n] for n in trial)) == z3.unsat:
                kept = trial
        return tuple(kept)


def check_record(prop: RecordProperty, policy: Policy, page_bytes: int,
                 settings: RecordSettings = RecordSettings()) -> Result:
    started = time.perf_counter()
    query = _Query(prop, settings)
    ops = query.ops
    evaluation = prop.evaluate(ops, query.fields, policy, page_bytes, settings.options)
    query.assume(evaluation.assumptions)
    names = [name for name, _ in evaluation.assumptions]

    def done(verdict: Verdict, reason: str = "", used=(), trace=None) -> Result:
        info = SolverInfo(z3_version(), settings.seed, settings.rlimit, query.session.work())
        return Result(prop.id, policy.name, page_bytes, verdict, scope_of(prop, settings, page_bytes), tuple(used),
                      round(time.perf_counter() - started, 6), info, reason, None, (), trace=trace)

    status = query.check(evaluation.antecedent)
    if status == z3.unknown:
        return done(Verdict.UNKNOWN, f"vacuity check: {query.session.reason_unknown()}")
    if status == z3.unsat:
        core = query.conflicting(evaluation.antecedent)
        reason = prop.applies(policy) or (
            f"assumptions {', '.join(core)} contradict each other or the antecedent" if core
            else "the antecedent is unreachable: the policy never gets to the case the property is about")
        return done(Verdict.VACUOUS, reason, core)
    violation = z3.Not(evaluation.holds)
    status = query.check(violation)
    if status == z3.unknown:
        return done(Verdict.UNKNOWN, query.session.reason_unknown())
    if status == z3.unsat:
        return done(Verdict.PROVED, used=names)
    values = _canonical(query, prop, violation) if settings.explain else _values(query, query.session.model())
    return done(Verdict.COUNTEREXAMPLE, trace=replay_record(prop, policy, page_bytes, values, settings))


def _canonical(query: _Query, prop: RecordProperty, goal) -> dict[str, Any]:
    search = query.session.escalating()
    with query.session.scope():
        search.add(goal)
        if search.check() != z3.sat:
            raise EncodingMismatch(f"{prop.id}: the violation vanished while minimising")
        model = search.model()
        for preference in prop.preferences(query.ops, query.fields):
            if search.check(preference) == z3.sat:
                model = search.model()
                search.add(preference)
        for name in prop.flags:
            wanted = query.fields[name] == z3.BoolVal(False, query.ctx)
            if search.check(wanted) == z3.sat:
                model = search.model()
                search.add(wanted)
            else:
                search.add(z3.Not(wanted))
        for name, target in prop.objectives:
            model = pull_toward(search, query.fields[name], target & ((1 << query.ops.width) - 1), model)
        return _values(query, model)


def _values(query: _Query, model: z3.ModelRef) -> dict[str, Any]:
    return {name: (z3.is_true(model.eval(term, model_completion=True)) if z3.is_bool(term)
                   else model.eval(term, model_completion=True).as_long())
            for name, term in query.fields.items()}


def replay_record(prop: RecordProperty, policy: Policy, page_bytes: int, values: Mapping[str, Any],
                  settings: RecordSettings = RecordSettings()) -> RecordCounterexample:
    """Evaluate the decoded fields on integers; a violation that does not replay is an internal error."""
    ops = ConcreteOps(settings.width)
    evaluation = prop.evaluate(ops, values, policy, page_bytes, settings.options)
    broken = [name for name, flag in evaluation.assumptions if not flag]
    if broken:
        raise EncodingMismatch(f"{prop.id}: the decoded counterexample breaks {broken[0]} concretely")
    if not evaluation.antecedent or evaluation.holds:
        raise EncodingMismatch(f"{prop.id}: the decoded counterexample does not violate the property concretely")
    facts = dict(evaluation.facts)
    lines = prop.describe(values, facts, policy.name, page_bytes)
    return RecordCounterexample(prop.id, page_bytes, dict(values), facts, tuple(lines))


def scope_of(prop: RecordProperty, settings: RecordSettings, page_bytes: int) -> dict[str, Any]:
    scope: dict[str, Any] = {"bounded": False, "method": "function", "width_bits": settings.width,
                             "page_size": page_bytes, "quantified": prop.scope.format(width=settings.width)}
    if settings.options.no_unsafe_interrupts:
        scope["no_unsafe_interrupts"] = True
    if settings.options.max_bar_bytes is not None:
        scope["max_bar_size"] = hex(settings.options.max_bar_bytes)
    return scope
