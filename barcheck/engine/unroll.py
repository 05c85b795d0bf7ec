"""Symbolic states and transitions of a `Structure`, and decoding of models back to ints."""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import z3

from barcheck.engine.session import UNKNOWN, Session
from model.events import Event, Step, transition
from model.ops_z3 import SymbolicOps
from model.policies import Policy
from model.ranges import Range
from model.system import State, Structure

SELECTOR_BITS = 16


def _counts(st: Structure) -> dict[str, int]:
    return {"window": len(st.windows), "fixed": len(st.fixed), "device": len(st.devices), "bar": len(st.bars)}


FIELD_DOMAIN = {
    "window": ("window", "range"), "fixed": ("fixed", "range"), "size": ("bar", "word"),
    "present": ("device", "flag"), "opened": ("device", "flag"), "assigned": ("bar", "flag"),
    "start": ("bar", "word"), "mmap_ok": ("bar", "flag"), "dummy_held": ("bar", "flag"),
    "dummy": ("bar", "range"), "mapped": ("bar", "flag"), "mapping": ("bar", "range"),
}


class TraceSolver:
    """One session (z3 context and solver) for the unrolled transitions of one structure."""

    def __init__(self, st: Structure, pages_bytes: Sequence[int], width: int, seed: int, rlimit: int) -> None:
        """One page size is a constant; several make the page size a variable that may be any of them."""
        self.st, self.width = st, width
        self.ctx = z3.Context()
        self.ops = SymbolicOps(width, self.ctx)
        self.session = Session(seed, rlimit, self.ctx)
        if len(pages_bytes) == 1:
            self.page = z3.BitVecVal(pages_bytes[0], width, self.ctx)
        else:
            self.page = z3.BitVec("page_bytes", width, self.ctx)
            self.session.add(z3.Or(*(self.page == page for page in pages_bytes)))

    def fresh_state(self, tag: str, constants: State | None = None) -> State:
        """A state of fresh variables; structural constants (windows, fixed, sizes) may be shared."""
        counts = _counts(self.st)
        values: dict[str, Any] = {"page_bytes": self.page}
        for name, (slot, kind) in FIELD_DOMAIN.items():
            if constants is not None and name in ("window", "fixed", "size"):
                values[name] = getattr(constants, name)
                continue
            values[name] = tuple(self._fresh(f"{tag}.{name}[{i}]", kind) for i in range(counts[slot]))
        return State(**values)

    def _fresh(self, name: str, kind: str) -> Any:
        if kind == "flag":
            return z3.Bool(name, self.ctx)
        if kind == "word":
            return z3.BitVec(name, self.width, self.ctx)
        return Range(z3.BitVec(f"{name}.first", self.width, self.ctx), z3.BitVec(f"{name}.last", self.width, self.ctx))

    def fresh_choices(self, tag: str) -> tuple:
        return tuple(z3.BitVec(f"{tag}.choice[{b}]", self.width, self.ctx) for b in range(len(self.st.bars)))

    def selector(self, tag: str, count: int) -> z3.BitVecRef:
        sel = z3.BitVec(f"{tag}.event", SELECTOR_BITS, self.ctx)
        self.session.add(z3.ULT(sel, count))
        return sel

    def selected(self, sel: z3.BitVecRef, k: int) -> z3.BoolRef:
        return sel == k

    def successors(self, policy: Policy, state: State, events: Sequence[Event], placement: str,
                   choices: tuple) -> list[Step]:
        return [transition(self.ops, policy, self.st, state, event, placement, choices) for event in events]

    def equal_states(self, a: State, b: State) -> z3.BoolRef:
        parts = []
        for f in dataclasses.fields(State):
            for x, y in zip(_flatten(getattr(a, f.name)), _flatten(getattr(b, f.name))):
                parts.append(x == y)
        return z3.And(*parts) if parts else z3.BoolVal(True, self.ctx)

    def add(self, *conditions: Any) -> None:
        self.session.add(*conditions)

    def check_with(self, condition: z3.BoolRef, *literals: z3.BoolRef) -> tuple[z3.CheckSatResult, str]:
        """Is `condition` satisfiable together with the literals?  Leaves nothing behind."""
        return self.session.check_with(condition, *literals)

    def check(self, *literals: z3.BoolRef) -> tuple[z3.CheckSatResult, str]:
        result = self.session.check(*literals)
        return result, (self.session.reason_unknown() if result == UNKNOWN else "")

    def model(self) -> z3.ModelRef:
        return self.session.model()



def _flatten(value: Any) -> list:
    if isinstance(value, tuple):
        return [item for element in value for item in _flatten(element)]
    if isinstance(value, Range):
        return [value.first, value.last]
    return [value]


def decode_value(model: z3.ModelRef, value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(decode_value(model, element) for element in value)
    if isinstance(value, Range):
        return Range(decode_value(model, value.first), decode_value(model, value.last))
    term = model.eval(value, model_completion=True)
    return z3.is_true(term) if z3.is_bool(term) else term.as_long()


def decode_state(model: z3.ModelRef, state: State) -> State:
    return State(**{f.name: decode_value(model, getattr(state, f.name)) for f in dataclasses.fields(State)})


def merge_states(ops: SymbolicOps, cond: Any, then: State, other: State) -> State:
    """`then` where `cond` holds, else `other`, field by field."""
    values: dict[str, Any] = {"page_bytes": then.page_bytes}
    for name, (_, kind) in FIELD_DOMAIN.items():
        pairs = zip(getattr(then, name), getattr(other, name))
        if kind == "flag":
            values[name] = tuple(ops.flag_ite(cond, a, b) for a, b in pairs)
        elif kind == "word":
            values[name] = tuple(ops.ite(cond, a, b) for a, b in pairs)
        else:
            values[name] = tuple(Range(ops.ite(cond, a.first, b.first), ops.ite(cond, a.last, b.last)) for a, b in pairs)
    return State(**values)
