"""Function properties: a claim over one small record of symbolic fields, checked without traces.

A record property names its fields (words and flags), evaluates to an
`Evaluation` in any `Ops` domain, and says how a counterexample is minimised
and described.  The engine is barcheck/engine/recordcheck.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from model.ops import Flag, Ops
from model.policies import Policy
from properties.registry import Evaluation


@dataclass(frozen=True, slots=True)
class RecordOptions:
    """Check-wide options some record properties use."""

    no_unsafe_interrupts: bool = False
    """Assume vfio's allow_unsafe_interrupts is 0 (the module default)."""
    max_bar_bytes: int | None = None


Evaluate = Callable[[Ops, Mapping[str, Any], Policy, int, RecordOptions], Evaluation]
Describe = Callable[[Mapping[str, Any], Mapping[str, Any], str, int], list[str]]


@dataclass(frozen=True, slots=True)
class RecordProperty:
    id: str
    title: str
    statement: str
    scope: str
    """What a proof quantifies over."""
    words: tuple[str, ...]
    flags: tuple[str, ...]
    evaluate: Evaluate
    objectives: tuple[tuple[str, int], ...]
    """Fields in minimisation order, each with the value it is pulled toward."""
    describe: Describe
    """The report lines of a replayed counterexample: (fields, facts, policy name, page size) -> lines."""
    preferences: Callable[[Ops, Mapping[str, Any]], list[Flag]] = field(default=lambda ops, rec: [])
    """Conditions a counterexample should meet if it can (tried in order)."""
    applies: Callable[[Policy], str] = field(default=lambda policy: "")
    """Why the property does not apply to a policy ("" when it does)."""
    needs_vmm: bool = False
    """The property is about the guest side: only policies with a VMM are checked on it."""


RECORD_PROPERTIES: dict[str, RecordProperty] = {}


def register_record(prop: RecordProperty) -> RecordProperty:
    if prop.id in RECORD_PROPERTIES:
        raise ValueError(f"duplicate record property id {prop.id!r}")
    RECORD_PROPERTIES[prop.id] = prop
    return prop
