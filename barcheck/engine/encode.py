"""Symbolic scenarios: fresh Z3 variables for every scenario field, and decoding."""

from __future__ import annotations

import z3

from model.scenario import DOMAIN_LIMITS, FIELDS, FLAG_FIELDS, PairScenario, Shape


def field_variable(name: str, width: int, ctx: z3.Context) -> z3.ExprRef:
    return z3.Bool(name, ctx) if name in FLAG_FIELDS else z3.BitVec(name, width, ctx)


def symbolic_scenario(shape: Shape, page_bytes: int, ctx: z3.Context) -> tuple[PairScenario, list[z3.BoolRef]]:
    """A scenario of free variables, with the page size fixed, and its domain constraints."""
    values = {name: field_variable(name, shape.width, ctx) for name in FIELDS if name != "page_bytes"}
    values["page_bytes"] = z3.BitVecVal(page_bytes, shape.width, ctx)
    domain = [z3.ULE(values[name], limit) for name, limit in DOMAIN_LIMITS.items()]
    for name, allowed in shape.pins:
        cast = bool if name in FLAG_FIELDS else int
        domain.append(z3.Or(*(values[name] == cast(value) for value in allowed)))
    return PairScenario(**values), domain


def decode(model: z3.ModelRef, scenario: PairScenario) -> PairScenario:
    """The concrete scenario a model describes."""
    values = {}
    for name in FIELDS:
        term = model.eval(getattr(scenario, name), model_completion=True)
        values[name] = z3.is_true(term) if name in FLAG_FIELDS else term.as_long()
    return PairScenario(**values)
