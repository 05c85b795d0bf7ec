"""Trace and mapping checks as Constrained Horn Clauses, and Z3's Spacer run on them.

The clauses are built from the very terms the engine's induction builds
(constant, boot and property clauses and the successors of every event, under
`settings.placement` for trace checks); only the invariant is left for the CHC
solver to find:

    constants(s) ∧ boot(s)                                      → Inv(s)
    Inv(s) ∧ constants(s) ∧ enabled_e(s, c) ∧ s' = after_e(s, c) → Inv(s')   for every event e
    Inv(s) ∧ constants(s) ∧ ¬state_clause(s)                      → Err      for every state clause
    Inv(s) ∧ constants(s) ∧ enabled_e(s, c) ∧ ¬step_clauses_e(s, after_e(s, c)) → Err

`c` are the event's free inputs (any-free placement choices, mmap offset and
length).  The query is Err: derivable (sat) is a counterexample, not derivable
(unsat) a proof.  Inv takes every state variable, the constant fields too.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import z3

from barcheck.engine.session import UNSAT as UNSAT_ANSWER
from barcheck.engine.session import Session
from barcheck.engine.session import new_fixedpoint as make_fixedpoint
from barcheck.engine.tracecheck import (
    TraceSettings,
    boot_assumptions,
    constant_assumptions,
    property_clauses,
)
from barcheck.engine.unroll import TraceSolver
from barcheck.engine.vmacheck import VmaSettings, VmaSolver
from barcheck.engine.vmacheck import equal_states as equal_vma_states
from model.events import all_events
from model.ops import Flag, Ops
from model.pgoff import page_shift_of
from model.policies import Policy
from model.ranges import Range
from model.system import Structure
from model.vma import VmaStructure, all_vma_events, vma_transition
from properties.revoke import VmaProperty, boot_clauses, constant_clauses
from properties.trace import TraceProperty

PROVED, COUNTEREXAMPLE, UNKNOWN = "proved", "counterexample", "unknown"
INVARIANT, ERROR = "Inv", "Err"


@dataclass(frozen=True)
class HornSystem:
    """The rules of one check, in their own z3 context, ready to be asserted into a fixedpoint."""

    ctx: z3.Context
    invariant: z3.FuncDeclRef
    error: z3.FuncDeclRef
    variables: tuple[z3.ExprRef, ...]
    """Every variable of every rule, to be universally quantified."""
    rules: tuple[tuple[str, z3.BoolRef], ...]
    """(name, body ⇒ head), one per rule; names like `init`, `step open(0)`, `safety bar:0`."""


@dataclass(frozen=True)
class SpacerRun:
    result: str
    """PROVED, COUNTEREXAMPLE or UNKNOWN."""
    seconds: float
    reason: str = ""
    """Why the run was unknown (z3's reason: timeout, resource limit, ...)."""
    work: int = 0
    """Resource units spent (z3's "rlimit count")."""
    invariant: Any = None
    """On a proof of a `HornSystem`: Spacer's inductive invariant, over `Var(i)` for argument i of Inv."""


@dataclass(frozen=True)
class _System:
    """One transition system as the engine builds it, on a free state `now` and a next state `then`."""

    ops: Ops
    now: Any
    then: Any
    constants: list[Flag]
    boot: list[Flag]
    steps: list[tuple[str, Flag, Flag]]
    """Per event: its name, its guard, and `then` equals its successor of `now`."""
    bad: list[tuple[str, Flag]]
    """Per property clause: the condition on `now` (and an enabled step) that violates it."""


def state_leaves(state: Any) -> list[Any]:
    """The state's variables in field order (fixed values such as the page size are not variables)."""
    leaves: list[Any] = []
    for f in dataclasses.fields(state):
        leaves += [leaf for leaf in _flatten(getattr(state, f.name)) if _is_variable(leaf)]
    return leaves


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, tuple):
        return [leaf for item in value for leaf in _flatten(item)]
    if isinstance(value, Range):
        return [value.first, value.last]
    return [value]


def _is_variable(term: Any) -> bool:
    return z3.is_expr(term) and z3.is_const(term) and term.decl().kind() == z3.Z3_OP_UNINTERPRETED


def export_trace(prop: TraceProperty, policy: Policy, st: Structure, page_bytes: int,
                 settings: TraceSettings | None = None) -> HornSystem:
    """The CHC system of one trace check (tracecheck.py's transition system and property clauses)."""
    settings = settings or TraceSettings()
    ts = TraceSolver(st, (page_bytes,), settings.width, settings.seed, settings.rlimit)
    ops = ts.ops
    now = ts.fresh_state("s")
    then = ts.fresh_state("n", constants=now)
    events = all_events(st, settings.events)
    successors = ts.successors(policy, now, events, settings.placement, ts.fresh_choices("c"))
    steps = [(_event_name(e), step.enabled, ts.equal_states(then, step.after)) for e, step in zip(events, successors)]
    bad = [(name, ops.negate(flag)) for name, flag in property_clauses(prop, ops, policy, st, now)]
    for event, step in zip(events, successors):
        clauses = property_clauses(prop, ops, policy, st, now, event, step.after)
        if clauses:
            bad.append((f"on {_event_name(event)}", ops.all_of(step.enabled, ops.negate(_conj(ops, clauses)))))
    return _assemble(ts.ctx, _System(ops, now, then, [flag for _, flag in constant_assumptions(ops, st, now)],
                                     [flag for _, flag in boot_assumptions(ops, policy, st, now)], steps, bad))


def export_vma(prop: VmaProperty, policy: Policy, st: VmaStructure, page_bytes: int,
               settings: VmaSettings | None = None) -> HornSystem:
    """The CHC system of one mapping check (vmacheck.py's transition system and property clauses)."""
    settings = settings or VmaSettings()
    ts = VmaSolver(st, page_shift_of(page_bytes), settings)
    ops = ts.ops
    now = ts.fresh_state("s")
    then = ts.fresh_state("n", constants=now)
    events = all_vma_events(st, settings.events)
    choice = ts.fresh_choice("c")
    successors = [vma_transition(ops, policy, st, now, e, choice) for e in events]
    steps = [(_event_name(e), step.enabled, ops.all_of(*equal_vma_states(then, step.after)))
             for e, step in zip(events, successors)]
    bad = [(name, ops.negate(flag)) for name, flag in
           (prop.state_clauses(ops, policy, st, now) if prop.state_clauses else [])]
    for event, step in zip(events, successors):
        clauses = prop.step_clauses(ops, policy, st, now, event, step.after) if prop.step_clauses else []
        if clauses:
            bad.append((f"on {_event_name(event)}", ops.all_of(step.enabled, ops.negate(_conj(ops, clauses)))))
    constants = [flag for _, flag in constant_clauses(ops, policy, st, now, settings.max_bar_bytes)]
    return _assemble(ts.ctx, _System(ops, now, then, constants,
                                     [flag for _, flag in boot_clauses(ops, policy, st, now)], steps, bad))


def _event_name(event: Any) -> str:
    return f"{event.kind.value}({event.target})"


def _conj(ops: Ops, clauses: Sequence[tuple[str, Flag]]) -> Flag:
    return ops.all_of(*(flag for _, flag in clauses))


def _assemble(ctx: z3.Context, system: _System) -> HornSystem:
    ops, leaves = system.ops, state_leaves(system.now)
    inv = z3.Function(INVARIANT, *(leaf.sort() for leaf in leaves), z3.BoolSort(ctx))
    err = z3.Function(ERROR, z3.BoolSort(ctx))
    here, constants = inv(*leaves), system.constants
    rules = [("init", z3.Implies(ops.all_of(*constants, *system.boot), here))]
    for name, enabled, moved in system.steps:
        body = ops.all_of(here, *constants, enabled, moved)
        rules.append((f"step {name}", z3.Implies(body, inv(*state_leaves(system.then)))))
    for name, violated in system.bad:
        rules.append((f"safety {name}", z3.Implies(ops.all_of(here, *constants, violated), err())))
    variables = tuple(v for v in _free_constants(rule for _, rule in rules) if not v.decl().eq(err))
    return HornSystem(ctx, inv, err, variables, tuple(rules))


def _free_constants(terms: Iterable[z3.ExprRef]) -> list[z3.ExprRef]:
    """Uninterpreted constants (the rules' variables) in the terms, sorted by name."""
    seen: set[int] = set()
    found: dict[int, z3.ExprRef] = {}
    stack = list(terms)
    while stack:
        term = stack.pop()
        if term.get_id() in seen:
            continue
        seen.add(term.get_id())
        if _is_variable(term):
            found[term.get_id()] = term
        stack.extend(term.children())
    return sorted(found.values(), key=str)


def load(fp: Any, system: HornSystem) -> None:
    """Assert the system's relations and rules into a fixedpoint of the same context."""
    fp.register_relation(system.invariant, system.error)
    fp.declare_var(*system.variables)
    for name, rule in system.rules:
        fp.rule(rule.arg(1), rule.arg(0), name=name)


def to_smtlib(system: HornSystem) -> str:
    """The rules and the query in z3's fixedpoint format (`declare-rel`, `rule`, `query`)."""
    fp = make_fixedpoint(system.ctx, seed=0)
    load(fp, system)
    return fp.to_string([system.error()])


def run_spacer(system: HornSystem | str, seed: int = 0, timeout_seconds: float = 60.0,
               rlimit: int = 0) -> SpacerRun:
    """Ask Spacer whether Err is derivable.  `system` may be the text `to_smtlib` returns;
    a proof of a `HornSystem` comes with Spacer's invariant, over `Var(i)` for argument i of Inv."""
    ctx = system.ctx if isinstance(system, HornSystem) else z3.Context()
    fp = make_fixedpoint(ctx, seed, int(timeout_seconds * 1000), rlimit)
    if isinstance(system, HornSystem):
        load(fp, system)
        queries = [system.error()]
    else:
        queries = fp.parse_string(system)
    started = time.perf_counter()
    try:
        answer = fp.query(*queries)
    except z3.Z3Exception as error:
        return SpacerRun(UNKNOWN, time.perf_counter() - started, _reason(error), _work(fp))
    seconds = time.perf_counter() - started
    if answer == z3.unsat:
        invariant = fp.get_cover_delta(-1, system.invariant) if isinstance(system, HornSystem) else None
        return SpacerRun(PROVED, seconds, work=_work(fp), invariant=invariant)
    if answer == z3.sat:
        return SpacerRun(COUNTEREXAMPLE, seconds, work=_work(fp))
    return SpacerRun(UNKNOWN, seconds, fp.reason_unknown(), _work(fp))


def _work(fp: Any) -> int:
    """Resource units Spacer spent (z3's "rlimit count"), comparable with the engine's `solver.work`."""
    stats = fp.statistics()
    return int(stats.get_key_value("rlimit count")) if "rlimit count" in stats.keys() else 0  # noqa: SIM118 (Statistics has no __contains__)


def _reason(error: z3.Z3Exception) -> str:
    """z3 reports a timeout or an exhausted rlimit inside a fixedpoint query as an exception."""
    text = error.value.decode() if isinstance(error.value, bytes) else str(error.value)
    return "timeout" if text == "canceled" else text


def refuted_rules(system: HornSystem, invariant: z3.BoolRef, seed: int = 0, rlimit: int = 0) -> list[str]:
    """The rules that Spacer's invariant (Inv := invariant, Err := false) does not make valid,
    each checked by the engine's own solver: an empty list certifies the proof."""
    session = Session(seed, rlimit, system.ctx)
    failed = []
    for name, rule in system.rules:
        closed = z3.substitute_funs(rule, (system.invariant, invariant), (system.error, z3.BoolVal(False, system.ctx)))
        if session.check_with(z3.Not(closed))[0] != UNSAT_ANSWER:
            failed.append(name)
    return failed
