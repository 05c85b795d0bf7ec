"""Concrete runs of a `Structure`: the oracle every symbolic trace is replayed on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from model.events import Event, transition
from model.ops import ConcreteOps
from model.placement import FIRST_FIT
from model.policies import Policy
from model.ranges import Range
from model.system import State, Structure


@dataclass(frozen=True, slots=True)
class Move:
    """One step of a concrete trace."""

    event: Event
    choices: tuple[int, ...] | None = None
    """Per-BAR starts an any-free placement picks (None: first fit)."""


@dataclass(frozen=True, slots=True)
class Taken:
    event: Event
    enabled: bool
    before: State
    after: State


def idle_state(st: Structure, page_bytes: int, windows: Sequence[tuple[int, int]],
               fixed: Sequence[tuple[int, int]], sizes: Sequence[int], present: Sequence[bool],
               starts: Sequence[int | None]) -> State:
    """A state at boot: nothing open, mapped or reserved; `None` starts are unassigned."""
    bars = len(st.bars)
    zero = Range(0, 0)
    return State(
        page_bytes=page_bytes,
        window=tuple(Range(first, last) for first, last in windows),
        fixed=tuple(Range(first, last) for first, last in fixed),
        size=tuple(sizes),
        present=tuple(present),
        opened=(False,) * len(st.devices),
        assigned=tuple(start is not None and present[st.device_of(b)] for b, start in enumerate(starts)),
        start=tuple(0 if start is None else start for start in starts),
        mmap_ok=(False,) * bars,
        dummy_held=(False,) * bars,
        dummy=(zero,) * bars,
        mapped=(False,) * bars,
        mapping=(zero,) * bars,
    )


def run(policy: Policy, st: Structure, initial: State, moves: Sequence[Move], width: int = 64,
        placement: str = FIRST_FIT) -> list[Taken]:
    """Apply the moves in order; a disabled event leaves the state unchanged and is recorded so."""
    ops = ConcreteOps(width)
    state, taken = initial, []
    for move in moves:
        step = transition(ops, policy, st, state, move.event, placement, move.choices)
        after = step.after if step.enabled else state
        taken.append(Taken(move.event, bool(step.enabled), state, after))
        state = after
    return taken
