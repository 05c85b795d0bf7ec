"""Saved counterexamples: the concrete inputs of each kind, and replaying them on the concrete semantics.

A witness (`barcheck.witness/1`) holds exactly what the concrete replay of
its engine consumed: a `PairScenario` and `Shape`; a trace's structure, boot
state and moves; a record's fields and options; or the four numbers of a
pgoff round trip.  `replay_witness` runs it again against today's policy and
property code and says whether it still violates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from barcheck.engine.pgoffcheck import ROUND_TRIP_ID, RoundTripCounterexample, assumptions as round_trip_assumptions
from barcheck.engine.pgoffcheck import claims as round_trip_claims, replay_round_trip
from barcheck.engine.recordcheck import RecordCounterexample, RecordSettings, replay_record
from barcheck.engine.vmacheck import replay_vma
from barcheck.engine.tracecheck import TraceCounterexample, TraceSettings, boot_assumptions, constant_assumptions, replay_trace
from barcheck.engine.verdict import EncodingMismatch, Result, Verdict, Witness
from barcheck.engine.replay import replay as replay_pair
from barcheck.engine.vmatrace import VmaCounterexample
from barcheck.engine.wire import WireError, decode, encode
from model.ops import ConcreteOps
from model.pgoff import page_shift_of
from model.policies import Policy, UnknownPolicy, get_policy
from model.scenario import PairScenario, Shape
from model.simulate import Move
from model.system import State, Structure
from model.vma import MmapChoice, VmaEvent, VmaState, VmaStructure
from model.events import Event
from properties import REGISTRY
from properties.record import RECORD_PROPERTIES, RecordOptions
from properties.revoke import VMA_PROPERTIES, boot_clauses as vma_boot_clauses, constant_clauses as vma_constant_clauses
from properties.trace import TRACE_PROPERTIES

WITNESS_SCHEMA = "barcheck.witness/1"
STILL_VIOLATES, NO_LONGER_VIOLATES, NOT_A_VALID_INPUT = "violates", "holds", "invalid"


@dataclass(frozen=True, slots=True)
class Replayed:
    status: str
    """`violates`, `holds` (the input no longer breaks the property) or `invalid` (it breaks an assumption)."""
    detail: str
    counterexample: Any = None
    """The freshly replayed counterexample object when it still violates."""


def witness_of(result: Result) -> dict[str, Any] | None:
    """The concrete inputs of a counterexample result, or None for other verdicts."""
    if result.verdict is not Verdict.COUNTEREXAMPLE:
        return None
    head = {"schema": WITNESS_SCHEMA, "property": result.property, "policy": result.policy,
            "page_size": hex(result.page_size)}
    body = _body(result)
    return {**head, **body}


def _body(result: Result) -> dict[str, Any]:
    cex, trace = result.counterexample, result.trace
    if cex is not None:
        return {"engine": "pair", "scenario": encode(cex.scenario), "shape": encode(cex.shape or Shape())}
    width = result.scope.get("width_bits", 64)
    if isinstance(trace, TraceCounterexample):
        moves = [{"event": encode(step.event), "choices": encode(trace.choices[i]) if trace.choices else None}
                 for i, step in enumerate(trace.steps)]
        return {"engine": "trace", "width_bits": width, "placement": trace.placement,
                "structure": encode(trace.structure), "initial": encode(trace.initial), "moves": moves}
    if isinstance(trace, VmaCounterexample):
        moves = [{"event": encode(step.event), "choice": encode(step.choice)} for step in trace.steps]
        return {"engine": "vma", "width_bits": width, "structure": encode(trace.structure),
                "initial": encode(trace.initial), "moves": moves}
    if isinstance(trace, RoundTripCounterexample):
        return {"engine": "round-trip", "width_bits": width, "index": hex(trace.index),
                "size": hex(trace.size_bytes), "offset_pages": hex(trace.offset_pages)}
    if isinstance(trace, RecordCounterexample):
        options = RecordOptions(no_unsafe_interrupts=bool(result.scope.get("no_unsafe_interrupts")),
                                max_bar_bytes=_max_bar(result.scope))
        return {"engine": "record", "width_bits": width, "fields": encode(trace.fields), "options": encode(options)}
    raise TypeError(f"no witness for a {type(trace).__name__}")


def _max_bar(scope: Mapping[str, Any]) -> int | None:
    value = scope.get("max_bar_size")
    return None if value is None else int(value, 16)


def replay_witness(witness: Mapping[str, Any], policy: Policy | None = None) -> Replayed:
    """Run a saved witness on the concrete semantics; WireError names a malformed field.

    `policy` replays the same inputs under another policy than the one named in the witness
    (the self-test asks whether a mutant's counterexample also breaks the unmutated policy).
    A trace of the witness's own policy must start from a state that policy boots in (the
    assumptions of the trace proofs); under another policy the boot state is taken as given.
    """
    if not isinstance(witness, Mapping):
        raise WireError("replay: expected an object")
    if witness.get("schema") != WITNESS_SCHEMA:
        raise WireError(f"replay.schema: expected {WITNESS_SCHEMA!r}, got {witness.get('schema')!r}")
    own_policy = policy is None
    policy = policy if policy is not None else _policy(witness)
    page_bytes = decode(int, witness.get("page_size"), "replay.page_size")
    if page_bytes <= 0 or page_bytes & (page_bytes - 1):
        raise WireError(f"replay.page_size: {page_bytes:#x} is not a power of two")
    engines: dict[str, Callable[..., Replayed]] = {"pair": _replay_pair, "trace": _replay_trace, "vma": _replay_vma,
               "round-trip": _replay_round_trip, "record": _replay_record}
    engine = witness.get("engine")
    if engine not in engines:
        raise WireError(f"replay.engine: unknown engine {engine!r} (known: {', '.join(sorted(engines))})")
    if engine in ("trace", "vma"):
        return engines[engine](witness, policy, page_bytes, own_policy)
    return engines[engine](witness, policy, page_bytes)


def _policy(witness: Mapping[str, Any]) -> Policy:
    name = witness.get("policy")
    if not isinstance(name, str):
        raise WireError("replay.policy: expected a policy name")
    try:
        return get_policy(name)
    except UnknownPolicy as err:
        raise WireError(f"replay.policy: {err}") from None


def _lookup(table: Mapping[str, Any], witness: Mapping[str, Any], engine: str) -> Any:
    prop_id = witness.get("property")
    if not isinstance(prop_id, str) or prop_id not in table:
        raise WireError(f"replay.property: {prop_id!r} is not a {engine} property "
                        f"(known: {', '.join(sorted(table))})")
    return table[prop_id]


def _width(witness: Mapping[str, Any]) -> int:
    width = witness.get("width_bits")
    if not isinstance(width, int) or isinstance(width, bool) or not 8 <= width <= 64:
        raise WireError(f"replay.width_bits: expected an integer from 8 to 64, got {width!r}")
    return width


def _replay_pair(witness: Mapping[str, Any], policy: Policy, page_bytes: int) -> Replayed:
    prop = _lookup(REGISTRY, witness, "pair")
    scenario = decode(PairScenario, witness.get("scenario"), "replay.scenario")
    shape = decode(Shape, witness.get("shape"), "replay.shape")
    if scenario.page_bytes != page_bytes:
        raise WireError("replay.scenario.page_bytes: differs from replay.page_size")
    ops = ConcreteOps(shape.width)
    evaluation = prop.evaluate(ops, scenario, policy, shape)
    broken = [name for name, holds in evaluation.assumptions if not holds]
    if broken:
        return Replayed(NOT_A_VALID_INPUT, f"the scenario breaks the assumption {broken[0]}")
    if evaluation.holds:
        return Replayed(NO_LONGER_VIOLATES, f"{prop.id} holds for {policy.name} on this scenario")
    cex = replay_pair(prop, policy, scenario, shape)
    return Replayed(STILL_VIOLATES, cex.explanation, cex)


def _moves(witness: Mapping[str, Any]) -> list[dict[str, Any]]:
    moves = witness.get("moves")
    if not isinstance(moves, list):
        raise WireError("replay.moves: expected a list")
    for i, move in enumerate(moves):
        if not isinstance(move, dict):
            raise WireError(f"replay.moves[{i}]: expected an object")
    return moves


def _broken(clauses) -> str | None:
    return next((name for name, holds in clauses if not holds), None)


def _replay_trace(witness: Mapping[str, Any], policy: Policy, page_bytes: int, check_boot: bool) -> Replayed:
    prop = _lookup(TRACE_PROPERTIES, witness, "trace")
    structure = decode(Structure, witness.get("structure"), "replay.structure")
    initial = decode(State, witness.get("initial"), "replay.initial")
    moves = [Move(decode(Event, m.get("event"), f"replay.moves[{i}].event"),
                  decode(tuple[int, ...] | None, m.get("choices"), f"replay.moves[{i}].choices"))
             for i, m in enumerate(_moves(witness))]
    placement = witness.get("placement")
    if placement not in ("any-free", "first-fit"):
        raise WireError(f"replay.placement: expected any-free or first-fit, got {placement!r}")
    if initial.page_bytes != page_bytes:
        raise WireError("replay.initial.page_bytes: differs from replay.page_size")
    settings = TraceSettings(width=_width(witness), placement=placement)
    ops = ConcreteOps(settings.width)
    broken = check_boot and _broken(constant_assumptions(ops, structure, initial) +
                                    boot_assumptions(ops, policy, structure, initial))
    if broken:
        return Replayed(NOT_A_VALID_INPUT, f"the boot state breaks the assumption {broken}")
    return _run(lambda: replay_trace(prop, policy, structure, initial, moves, settings), _trace_detail)


def _replay_vma(witness: Mapping[str, Any], policy: Policy, page_bytes: int, check_boot: bool) -> Replayed:
    prop = _lookup(VMA_PROPERTIES, witness, "mapping trace")
    structure = decode(VmaStructure, witness.get("structure"), "replay.structure")
    initial = decode(VmaState, witness.get("initial"), "replay.initial")
    moves = [(decode(VmaEvent, m.get("event"), f"replay.moves[{i}].event"),
              decode(MmapChoice, m.get("choice"), f"replay.moves[{i}].choice"))
             for i, m in enumerate(_moves(witness))]
    if initial.page_shift != page_bytes.bit_length() - 1:
        raise WireError("replay.initial.page_shift: differs from replay.page_size")
    width = _width(witness)
    ops = ConcreteOps(width)
    broken = check_boot and _broken(vma_constant_clauses(ops, policy, structure, initial, None) +
                                    vma_boot_clauses(ops, policy, structure, initial))
    if broken:
        return Replayed(NOT_A_VALID_INPUT, f"the boot state breaks the assumption {broken}")
    return _run(lambda: replay_vma(prop, policy, structure, initial, moves, width), _trace_detail)


def _trace_detail(tcx: Witness) -> str:
    """The violated clause; a resource-tree trace's line leaves out the property's title."""
    if isinstance(tcx, TraceCounterexample):
        return f"violated: {tcx.property_id} at {tcx.summary_clause()}"
    return tcx.lines()[-1]


def _run(replayer, detail) -> Replayed:
    try:
        tcx = replayer()
    except EncodingMismatch as err:
        return Replayed(NO_LONGER_VIOLATES, str(err).removeprefix("replay: "))
    return Replayed(STILL_VIOLATES, detail(tcx), tcx)


def _replay_round_trip(witness: Mapping[str, Any], policy: Policy, page_bytes: int) -> Replayed:
    if witness.get("property") != ROUND_TRIP_ID:
        raise WireError(f"replay.property: the round-trip engine checks only {ROUND_TRIP_ID}")
    width = _width(witness)
    index = decode(int, witness.get("index"), "replay.index")
    size = decode(int, witness.get("size"), "replay.size")
    offset = decode(int, witness.get("offset_pages"), "replay.offset_pages")
    ops, shift = ConcreteOps(width), page_shift_of(page_bytes)
    if not all(flag for _, flag in round_trip_assumptions(ops, index, size, offset, shift, None)):
        return Replayed(NOT_A_VALID_INPUT, "the BAR breaks the round trip's assumptions")
    if all(flag for _, flag in round_trip_claims(ops, index, offset, shift)):
        return Replayed(NO_LONGER_VIOLATES, "the offset round-trips")
    cex = replay_round_trip(page_bytes, index, size, offset, width)
    return Replayed(STILL_VIOLATES, cex.lines()[-1], cex)


def _replay_record(witness: Mapping[str, Any], policy: Policy, page_bytes: int) -> Replayed:
    prop = _lookup(RECORD_PROPERTIES, witness, "function")
    fields = decode(dict[str, Any], witness.get("fields"), "replay.fields")
    missing = sorted(set(prop.words + prop.flags) - set(fields))
    if missing:
        raise WireError(f"replay.fields.{missing[0]}: missing")
    options = decode(RecordOptions, witness.get("options"), "replay.options")
    settings = RecordSettings(width=_width(witness), options=options)
    ops = ConcreteOps(settings.width)
    evaluation = prop.evaluate(ops, fields, policy, page_bytes, options)
    broken = [name for name, flag in evaluation.assumptions if not flag]
    if broken:
        return Replayed(NOT_A_VALID_INPUT, f"the fields break the assumption {broken[0]}")
    if not evaluation.antecedent or evaluation.holds:
        return Replayed(NO_LONGER_VIOLATES, f"{prop.id} holds for {policy.name} on these fields")
    cex = replay_record(prop, policy, page_bytes, fields, settings)
    return Replayed(STILL_VIOLATES, cex.report_lines[0], cex)
