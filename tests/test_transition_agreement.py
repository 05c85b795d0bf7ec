"""`transition` means the same on ints and on bit-vectors, and concrete runs keep the invariant.

The symbolic unrolling (barcheck/engine/unroll.py) and the concrete replay (model/simulate.py) share one
transition function.  Here it is run on random concrete states twice, with `ConcreteOps` and with
`SymbolicOps` on the same values as Z3 constants, for every event, policy and placement; every field
of the simplified symbolic successor must equal the concrete one.  Then random concrete runs from
valid boot layouts must keep the inductive invariant and the trace properties' state clauses.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest
import z3

from broken_policies import ReleaseOnReset
from model.events import ALL_EVENTS, KERNEL_EVENTS, Event, EventKind, Step, all_events, transition
from model.ops import ConcreteOps
from model.ops_z3 import SymbolicOps
from model.placement import ANY_FREE, FIRST_FIT, first_fit
from model.policies import get_policy
from model.ranges import Range
from model.simulate import Move, idle_state, run
from model.system import State, Structure, standard_structure, window_children
from properties.trace import TRACE_PROPERTIES, invariant_clauses

WIDTH = 16
POLICIES = [get_policy("linux-4.7"), get_policy("linux-4.8"), get_policy("v3-per-bar"), ReleaseOnReset()]
STRUCTURES = {"3 devices": standard_structure(3), "2 devices x 2 BARs": standard_structure(2, 2)}
STATE_PROPERTIES = ("isolation.window", "dummy.no-leak", "dummy.held-while-mapped")


# ----------------------------------------------------------------------------- random concrete states


def pow2_at_least_16(rng: random.Random, top: int) -> int:
    return 1 << rng.randint(4, top)


def aligned_in(rng: random.Random, window: Range, size: int) -> int:
    """A start aligned to `size` somewhere in (or just around) `window`, within the width."""
    lo, hi = window.first // size, max(window.first // size, window.last // size)
    return (rng.randint(lo, hi) * size) & ((1 << WIDTH) - 1) & ~(size - 1)


def random_range(rng: random.Random) -> Range:
    first = rng.randint(0, (1 << WIDTH) - 1)
    return Range(first, rng.choice([first, min(first + rng.randint(0, 0x800), 0xFFFF), rng.randint(0, 0xFFFF)]))


def page_remainder(start: int, size: int, page: int) -> Range:
    """The dummy vfio requests for a sub-page BAR: [end + 1, start + page - 1] (wrapping like the model)."""
    mask = (1 << WIDTH) - 1
    return Range((start + size) & mask, (start + page - 1) & mask)


def page_window(start: int, size: int, page: int) -> Range:
    """PAGE_ALIGN(len) from the page of the start, as linux-4.8 maps it."""
    mask = (1 << WIDTH) - 1
    first = start & ~(page - 1) & mask
    return Range(first, (first + ((size + page - 1) & ~(page - 1)) - 1) & mask)


def packed_starts(ops: ConcreteOps, st: Structure, state: State, rng: random.Random) -> tuple:
    """Assign BARs first fit, in random order, so that sub-page BARs of different devices share pages."""
    starts: list[int | None] = [None] * len(st.bars)
    order = list(range(len(st.bars)))
    rng.shuffle(order)
    for b in order:
        current = state.replace(start=tuple(0 if s is None else s for s in starts),
                                assigned=tuple(s is not None for s in starts))
        w = st.devices[st.device_of(b)].window
        children = [child for _, child in window_children(ops, st, current, w, exclude_bar=b)]
        slot = first_fit(ops, state.window[w], children, state.size[b])
        starts[b] = slot.start if slot.ok else None
    return tuple(starts)


def random_state(st: Structure, rng: random.Random) -> State:
    """Any state of the right shape at width 16: mostly plausible, sometimes nonsense."""
    ops = ConcreteOps(WIDTH)
    page = rng.choice([0x100, 0x400])
    outer_first = rng.choice([0x0, 0x1000, 0x4000, 0x8000, 0xC000])  # the upper half catches signed compares
    outer = Range(outer_first, rng.choice([0xFFFF, min(0xFFFF, outer_first + rng.choice([0x1FFF, 0x3FFF, 0x7FFF]))]))
    inner_first = outer.first + 0x400 * rng.randint(0, 4)
    inner = Range(inner_first, min(outer.last, inner_first + rng.choice([0x3FF, 0x7FF, 0xFFF, 0x1FFF])))
    windows = [(outer.first, outer.last), (inner.first, inner.last)]
    fixed_first = min(outer.last, inner.last + 1 + 0x100 * rng.randint(0, 4))
    fixed = [(fixed_first, min(outer.last, fixed_first + rng.choice([0xF, 0xFF, 0x3FF])))]
    sizes = [pow2_at_least_16(rng, rng.choice([6, 8, 10, 11, 11, 15])) for _ in st.bars]
    present = [rng.random() < 0.85 for _ in st.devices]
    base = idle_state(st, page, windows, fixed, sizes, present, [None] * len(st.bars))
    if rng.random() < 0.5:
        starts = packed_starts(ops, st, base.replace(present=(True,) * len(st.devices)), rng)
    else:
        starts = tuple(None if rng.random() < 0.15 else
                       aligned_in(rng, base.window[st.devices[st.device_of(b)].window], sizes[b])
                       for b in range(len(st.bars)))
    state = idle_state(st, page, windows, fixed, sizes, present, starts)
    bars = range(len(st.bars))
    flag = lambda p: rng.random() < p  # noqa: E731
    dummy = tuple(page_remainder(state.start[b], sizes[b], page) if flag(0.7) else random_range(rng) for b in bars)
    mapping = tuple(page_window(state.start[b], sizes[b], page) if flag(0.7) else random_range(rng) for b in bars)
    return state.replace(
        opened=tuple(flag(0.5) for _ in st.devices),
        assigned=tuple(a if flag(0.9) else not a for a in state.assigned),
        mmap_ok=tuple(flag(0.5) for _ in bars),
        dummy_held=tuple(flag(0.4) for _ in bars),
        dummy=dummy,
        mapped=tuple(flag(0.3) for _ in bars),
        mapping=mapping,
    )


def random_choices(st: Structure, state: State, rng: random.Random) -> tuple[int, ...]:
    """Any-free picks: aligned slots in the BAR's window (free or not), sometimes any word at all."""
    picks = []
    for b in range(len(st.bars)):
        window = state.window[st.devices[st.device_of(b)].window]
        if rng.random() < 0.8:
            picks.append(aligned_in(rng, window, state.size[b]))
        else:
            picks.append(rng.randint(0, (1 << WIDTH) - 1))
    return tuple(picks)


# ----------------------------------------------------------------------------- lifting and grounding


def lift(value: Any, ctx: z3.Context) -> Any:
    if isinstance(value, bool):
        return z3.BoolVal(value, ctx)
    if isinstance(value, int):
        return z3.BitVecVal(value, WIDTH, ctx)
    if isinstance(value, Range):
        return Range(lift(value.first, ctx), lift(value.last, ctx))
    if isinstance(value, tuple):
        return tuple(lift(item, ctx) for item in value)
    raise TypeError(f"cannot lift {value!r}")


def lift_state(state: State, ctx: z3.Context) -> State:
    return State(**{f.name: lift(getattr(state, f.name), ctx) for f in dataclasses.fields(State)})


def ground(term: Any) -> Any:
    term = z3.simplify(term)
    if z3.is_bool(term):
        assert z3.is_true(term) or z3.is_false(term), f"not a constant after simplify: {term}"
        return z3.is_true(term)
    assert z3.is_bv_value(term), f"not a constant after simplify: {term}"
    return term.as_long()


def ground_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(ground_value(item) for item in value)
    if isinstance(value, Range):
        return Range(ground_value(value.first), ground_value(value.last))
    return ground(value)


def typed(value: Any) -> Any:
    """Tag every leaf with its kind, so a flag never compares equal to the word 0 or 1."""
    if isinstance(value, tuple):
        return tuple(typed(item) for item in value)
    if isinstance(value, Range):
        return ("range", typed(value.first), typed(value.last))
    return ("flag" if isinstance(value, bool) else "word", value)


def mismatches(ops_c: ConcreteOps, ops_s: SymbolicOps, policy, st: Structure, state: State, lifted: State,
               event: Event, placement: str, choices, lifted_choices) -> tuple[Step, list[str]]:
    """The concrete step, and every field where the symbolic successor differs from it (none: they agree)."""
    conc = transition(ops_c, policy, st, state, event, placement, choices)
    sym = transition(ops_s, policy, st, lifted, event, placement, lifted_choices)
    bad = []
    if typed(ground(sym.enabled)) != typed(conc.enabled):
        bad.append(f"enabled: concrete {conc.enabled!r}, symbolic {ground(sym.enabled)!r}")
    for f in dataclasses.fields(State):
        expected, got = getattr(conc.after, f.name), ground_value(getattr(sym.after, f.name))
        if typed(got) != typed(expected):
            bad.append(f"{f.name}: concrete {expected!r}, symbolic {got!r}")
    return conc, bad


# ----------------------------------------------------------------------------- concrete vs symbolic


STATES_PER_SEED = 5


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", list(STRUCTURES))
def test_concrete_and_symbolic_transitions_agree(shape: str, seed: int) -> None:
    st = STRUCTURES[shape]
    rng = random.Random(1000 * seed + len(st.bars))
    ctx = z3.Context()
    ops_c, ops_s = ConcreteOps(WIDTH), SymbolicOps(WIDTH, ctx)
    events = all_events(st, ALL_EVENTS)
    assert {e.kind for e in events} == set(EventKind)
    cases, enabled, changed = 0, 0, 0
    for _ in range(STATES_PER_SEED):
        state = random_state(st, rng)
        lifted = lift_state(state, ctx)
        for placement in (FIRST_FIT, ANY_FREE):
            choices = random_choices(st, state, rng) if placement == ANY_FREE else None
            lifted_choices = lift(choices, ctx) if choices is not None else None
            for event in events:
                for policy in POLICIES:
                    step, bad = mismatches(ops_c, ops_s, policy, st, state, lifted, event, placement,
                                           choices, lifted_choices)
                    assert not bad, (f"{policy.name} {event.kind.value}({event.target}) {placement} "
                                     f"choices={choices} state={state}: " + "; ".join(bad))
                    cases += 1
                    enabled += bool(step.enabled)
                    changed += step.after != state
    assert cases == STATES_PER_SEED * 2 * len(events) * len(POLICIES)
    assert 0 < enabled < cases and changed > 0


def test_random_states_reach_the_interesting_outcomes() -> None:
    """The agreement check is only meaningful if its states make dummies succeed and fail, and place BARs."""
    ops = ConcreteOps(WIDTH)
    linux48 = get_policy("linux-4.8")
    seen = set()
    for shape, st in STRUCTURES.items():
        for seed in range(4):
            rng = random.Random(1000 * seed + len(st.bars))
            for _ in range(STATES_PER_SEED):
                state = random_state(st, rng)
                for d in range(len(st.devices)):
                    opened = transition(ops, linux48, st, state, Event(EventKind.OPEN, d))
                    for b in st.devices[d].bars:
                        if state.size[b] < state.page_bytes and state.start[b] % state.page_bytes == 0:
                            seen.add(("dummy held", opened.after.dummy_held[b]))
                    added = transition(ops, linux48, st, state, Event(EventKind.HOT_ADD, d))
                    seen.add(("hot-add places", all(added.after.assigned[b] for b in st.devices[d].bars)))
    assert seen == {("dummy held", True), ("dummy held", False), ("hot-add places", True),
                    ("hot-add places", False)}


# ----------------------------------------------------------------------------- concrete runs keep the invariant


RUN_WIDTH = 64
PAGE = 0x1000
MIB = 1 << 20
HOST_WINDOW = (0xC0000000, 0xC0FFFFFF)


def valid_boot(st: Structure, rng: random.Random) -> State:
    """A boot layout the kernel could produce: a 1 MiB granular bridge window inside the host window, a
    fixed resource beside it, BARs placed first fit (from a random lower bound) in random order."""
    ops = ConcreteOps(RUN_WIDTH)
    bridge_first = HOST_WINDOW[0] + MIB * rng.randint(0, 4)
    bridge = (bridge_first, bridge_first + MIB * rng.randint(1, 2) - 1)
    fixed_first = bridge[1] + 1 + PAGE * rng.randint(0, 16)
    fixed = (fixed_first, fixed_first + rng.choice([0xFFF, 0x3FFF]))
    sizes = [1 << rng.choice([4, 5, 6, 8, 8, 9, 10, 11, 12, 13]) for _ in st.bars]
    present = [rng.random() < 0.85 for _ in st.devices]
    state = idle_state(st, PAGE, [HOST_WINDOW, bridge], [fixed], sizes, present, [None] * len(st.bars))
    order = list(range(len(st.bars)))
    rng.shuffle(order)
    for b in order:
        if not present[st.device_of(b)]:
            continue
        w = st.devices[st.device_of(b)].window
        window = state.window[w]
        lower = window.first + PAGE * rng.choice([0, 0, rng.randint(0, 64)])
        children = [child for _, child in window_children(ops, st, state, w, exclude_bar=b)]
        slot = first_fit(ops, Range(lower, window.last), children, sizes[b], below_4g=True)
        if slot.ok:
            state = state.replace(assigned=state.assigned[:b] + (True,) + state.assigned[b + 1:],
                                  start=state.start[:b] + (slot.start,) + state.start[b + 1:])
    return state


def failed_clauses(policy, st: Structure, state: State) -> list[str]:
    ops = ConcreteOps(RUN_WIDTH)
    failed = [f"invariant {label}" for label, holds in invariant_clauses(ops, policy, st, state) if not holds]
    for pid in STATE_PROPERTIES:
        clauses = TRACE_PROPERTIES[pid].state_clauses(ops, policy, st, state)
        failed += [f"{pid} {label}" for label, holds in clauses if not holds]
    return failed


def random_walk(policy, st: Structure, initial: State, rng: random.Random, length: int) -> list[Move]:
    """A sequence of kernel events, each enabled where it is taken."""
    ops = ConcreteOps(RUN_WIDTH)
    events = all_events(st, KERNEL_EVENTS)
    state, moves = initial, []
    for _ in range(length):
        steps = [(e, transition(ops, policy, st, state, e)) for e in events]
        event, step = rng.choice([(e, s) for e, s in steps if s.enabled])
        moves.append(Move(event))
        state = step.after
    return moves


@pytest.mark.parametrize("shape", list(STRUCTURES))
def test_random_runs_keep_the_invariant_and_the_state_properties(shape: str) -> None:
    st = STRUCTURES[shape]
    policy = get_policy("linux-4.8")
    seen = set()
    for seed in range(50):
        rng = random.Random(seed)
        initial = valid_boot(st, rng)
        assert failed_clauses(policy, st, initial) == [], (seed, initial)
        moves = random_walk(policy, st, initial, rng, 10)
        taken = run(policy, st, initial, moves, RUN_WIDTH, FIRST_FIT)
        assert len(taken) == 10 and all(t.enabled for t in taken)
        for i, t in enumerate(taken):
            failed = failed_clauses(policy, st, t.after)
            assert failed == [], (seed, i, [m.event for m in moves[:i + 1]], failed, t.after)
            for b in range(len(st.bars)):
                if t.after.mapped[b]:
                    seen.add("mapped sub-page" if t.after.size[b] < PAGE else "mapped whole pages")
                if t.after.dummy_held[b]:
                    seen.add("dummy held")
            if t.event.kind is EventKind.OPEN:
                for b in st.devices[t.event.target].bars:
                    if t.after.size[b] < PAGE and not t.after.mmap_ok[b]:
                        seen.add("sub-page refused")
            seen.add(t.event.kind)
    assert {"mapped sub-page", "mapped whole pages", "dummy held", "sub-page refused"} <= seen
    assert set(KERNEL_EVENTS) <= seen


# ----------------------------------------------------------------------------- a broken policy breaks it


def reset_scenario() -> tuple[Structure, State]:
    """Device 0's 256-byte BAR alone in the first page of the bridge window."""
    st = standard_structure(3)
    state = idle_state(st, PAGE, [HOST_WINDOW, (0xC0000000, 0xC01FFFFF)], [(0xC0F00000, 0xC0F00FFF)],
                       [0x100, 0x100, 0x100], [True, True, True], [0xC0000000, 0xC0200000, 0xC0001000])
    return st, state


RESET_MOVES = [Move(Event(EventKind.OPEN, 0)), Move(Event(EventKind.MMAP, 0)), Move(Event(EventKind.RESET, 0))]


def held_while_mapped(policy, st: Structure, state: State) -> dict[str, bool]:
    clauses = TRACE_PROPERTIES["dummy.held-while-mapped"].state_clauses(ConcreteOps(RUN_WIDTH), policy, st, state)
    return dict(clauses)


def test_release_on_reset_breaks_held_while_mapped() -> None:
    st, initial = reset_scenario()
    policy = ReleaseOnReset()
    taken = run(policy, st, initial, RESET_MOVES, RUN_WIDTH)
    assert [t.enabled for t in taken] == [True, True, True]
    opened, mapped, reset = (t.after for t in taken)
    assert opened.dummy_held[0] and opened.dummy[0] == Range(0xC0000100, 0xC0000FFF)
    assert mapped.mapped[0] and mapped.mapping[0] == Range(0xC0000000, 0xC0000FFF)
    assert held_while_mapped(policy, st, mapped)["bar:0"] is True
    assert reset.mapped[0] and not reset.dummy_held[0]
    assert held_while_mapped(policy, st, reset)["bar:0"] is False
    failed = failed_clauses(policy, st, reset)
    assert "dummy.held-while-mapped bar:0" in failed
    assert not [name for name in failed if name.startswith("invariant ")], (
        "a policy that releases at reset is proved with the page-hull invariant, which the trace keeps")


def test_linux_48_keeps_the_dummy_across_reset() -> None:
    st, initial = reset_scenario()
    policy = get_policy("linux-4.8")
    taken = run(policy, st, initial, RESET_MOVES, RUN_WIDTH)
    assert [t.enabled for t in taken] == [True, True, True]
    reset = taken[-1].after
    assert reset.mapped[0] and reset.dummy_held[0]
    assert all(held_while_mapped(policy, st, reset).values())
    assert failed_clauses(policy, st, reset) == []
