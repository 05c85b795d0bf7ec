"""Search the open ("any") values of a scenario for a property violation at some step."""

from __future__ import annotations

from typing import Sequence

from barcheck.engine.session import SAT, UNKNOWN
from barcheck.engine.unroll import TraceSolver, decode_state, decode_value, merge_states
from barcheck.engine.tracecheck import boot_assumptions, constant_assumptions
from model.events import transition
from model.placement import FIRST_FIT
from model.policies import Policy
from model.simulate import Move
from model.system import State
from model.topology import ANY, Layout
from properties.trace import TraceProperty

VACUOUS = "vacuous"
"""No value of the open fields lets every event of the scenario happen."""


def _pin(ts: TraceSolver, layout: Layout, s0: State) -> tuple[list, dict]:
    """Constraints fixing the concrete values, and the open values by name."""
    ops, st = ts.ops, layout.structure
    pins, open_values = [], {}

    def pin(term, value, name: str) -> None:
        if value == ANY:
            open_values[name] = term
        else:
            pins.append(ops.eq(term, ops.const(value)))

    for w, (first, last) in enumerate(layout.windows):
        pin(s0.window[w].first, first, f"{st.windows[w].name}.window.first")
        pin(s0.window[w].last, last, f"{st.windows[w].name}.window.last")
    for f, (first, last) in enumerate(layout.fixed):
        pin(s0.fixed[f].first, first, f"{st.fixed[f].name}.first")
        pin(s0.fixed[f].last, last, f"{st.fixed[f].name}.last")
    for b in range(len(st.bars)):
        pin(s0.size[b], layout.sizes[b], f"{st.label(b)}.size")
        start = layout.starts[b]
        present = layout.present[st.device_of(b)]
        pins.append(s0.assigned[b] if (start is not None and present) else ops.negate(s0.assigned[b]))
        if start is not None and present:
            pin(s0.start[b], start, f"{st.label(b)}.start")
    for d, present in enumerate(layout.present):
        pins.append(s0.present[d] if present else ops.negate(s0.present[d]))
    return pins, open_values


def search_open_values(spec, layout: Layout, policy: Policy, page_bytes: int, moves: Sequence[Move],
                       props: Sequence[TraceProperty], seed: int, rlimit: int):
    """(initial state, open values) of a violation; None when there is none; a reason when undecided."""
    st = layout.structure
    ts = TraceSolver(st, (page_bytes,), 64, seed, rlimit)
    ops = ts.ops
    s0 = ts.fresh_state("s0")
    ts.add(*(flag for _, flag in constant_assumptions(ops, st, s0)))
    ts.add(*(flag for _, flag in boot_assumptions(ops, policy, st, s0)))
    pins, open_values = _pin(ts, layout, s0)
    ts.add(*pins)
    status, reason = ts.check()
    if status != SAT:
        return reason if status == UNKNOWN else "the scenario's fixed values contradict the PCI or resource-tree rules"
    bad, state, happened = [], s0, []
    for move in moves:
        step = transition(ops, policy, st, state, move.event, FIRST_FIT)
        happened.append(step.enabled)
        after = merge_states(ops, step.enabled, step.after, state)
        for prop in props:
            clauses = prop.state_clauses(ops, policy, st, after) if prop.state_clauses else []
            if prop.step_clauses:
                stepped = prop.step_clauses(ops, policy, st, state, move.event, step.after)
                clauses += [(name, ops.implies(step.enabled, flag)) for name, flag in stepped]
            bad += [ops.negate(flag) for _, flag in clauses]
        state = after
    status, reason = ts.check_with(ops.all_of(*happened))
    if status == UNKNOWN:
        return f"search: {reason}"
    if status != SAT:
        return VACUOUS
    status, reason = ts.check_with(ops.any_of(*bad))
    if status == UNKNOWN:
        return f"search: {reason}"
    if status != SAT:
        return None
    ts.add(ops.any_of(*bad))
    ts.check()
    model = ts.model()
    values = {name: decode_value(model, term) for name, term in sorted(open_values.items())}
    return decode_state(model, s0), values
