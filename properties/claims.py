"""Every property of every kind as one `Claim`: kind, id, title, statement, scope, cited kernel code.

The kind's own definition (the pair evaluator, the record evaluator, the trace or mapping clauses)
rides along as `definition`, for the engine that checks it.  The assumptions a result rests on are
reported per result (a proof's minimal core, or the named assumptions of a trace proof), as they
depend on the policy and the page size.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from properties.declared import (MEASURE_ID, MEASURE_STATEMENT, MEASURE_TITLE, ROUND_TRIP_ID, ROUND_TRIP_SCOPE,
                                 ROUND_TRIP_STATEMENT, ROUND_TRIP_TITLE)
from properties.record import RECORD_PROPERTIES
from properties.registry import REGISTRY
from properties.revoke import VMA_PROPERTIES
from properties.trace import TRACE_PROPERTIES

PAIR, FUNCTION, TRACE, MEASURE = "pair", "function", "trace", "measure"
KINDS = (PAIR, FUNCTION, TRACE, MEASURE)
"""The kinds reports use: one symbolic configuration (pair), a pure encoding (function), event
traces (trace, over either transition system), and a least-greatest measure (measure)."""

TRACE_SCOPE = ("every state reachable from a boot layout by any sequence of {events} events over {slots} "
               "device slots, addresses and sizes symbolic")

_FUNCTION_CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\(\)")
_FUNCTION_NAMED = re.compile(r"\b((?:vfio|pci|pcibios)_[a-z0-9_]+):")
_ARRAY = re.compile(r"\b([a-z_][a-z0-9_]*)\[\]")
_SOURCE_FILE = re.compile(r"\b((?:[a-z0-9_-]+/)+[a-z0-9_-]+\.[ch])\b")
_MACRO = re.compile(r"\b((?:VFIO|PCI|IORESOURCE)_[A-Z0-9_]+)\b")


@dataclass(frozen=True, slots=True)
class Claim:
    kind: str
    engine: str
    """The engine that checks it: pair, record, round-trip, trace, mapping or measure."""
    id: str
    title: str
    statement: str
    scope: str
    """What a proof quantifies over."""
    references: tuple[str, ...]
    """Kernel functions (`name()`), macros and source files the statement cites, sorted."""
    definition: Any = None


def references_in(statement: str) -> tuple[str, ...]:
    """The kernel code a statement cites: functions (`name()`, or `vfio_x:` naming one), arrays (`name[]`),
    VFIO_/PCI_/IORESOURCE_ macros and source paths."""
    found = {f"{name}()" for name in _FUNCTION_CALL.findall(statement) + _FUNCTION_NAMED.findall(statement)}
    found |= {f"{name}[]" for name in _ARRAY.findall(statement)}
    found |= set(_MACRO.findall(statement)) | set(_SOURCE_FILE.findall(statement))
    return tuple(sorted(found))


def _claim(kind: str, engine: str, prop: Any, scope: str) -> Claim:
    return Claim(kind, engine, prop.id, prop.title, prop.statement, scope, references_in(prop.statement), prop)


def all_claims() -> list[Claim]:
    """Every claim, sorted by (kind, id); an id may name one claim per kind."""
    claims = [_claim(PAIR, "pair", p, p.scope) for p in REGISTRY.values()]
    claims += [_claim(FUNCTION, "record", p, p.scope) for p in RECORD_PROPERTIES.values()]
    claims.append(Claim(FUNCTION, "round-trip", ROUND_TRIP_ID, ROUND_TRIP_TITLE, ROUND_TRIP_STATEMENT,
                        ROUND_TRIP_SCOPE, references_in(ROUND_TRIP_STATEMENT)))
    claims += [_claim(TRACE, "trace", p, TRACE_SCOPE) for p in TRACE_PROPERTIES.values()]
    claims += [_claim(TRACE, "mapping", p, TRACE_SCOPE) for p in VMA_PROPERTIES.values()]
    claims.append(Claim(MEASURE, "measure", MEASURE_ID, MEASURE_TITLE, MEASURE_STATEMENT,
                        "every legal MSI-X table placement in a BAR of each size", references_in(MEASURE_STATEMENT)))
    return sorted(claims, key=lambda c: (KINDS.index(c.kind), c.id, c.engine))


@functools.cache
def _by_kind_and_id() -> dict[tuple[str, str], Claim]:
    return {(c.kind, c.id): c for c in all_claims()}


def claim(kind: str, prop_id: str) -> Claim:
    """The claim of that kind and id; KeyError naming both when there is none."""
    try:
        return _by_kind_and_id()[(kind, prop_id)]
    except KeyError:
        raise KeyError(f"no {kind} property {prop_id!r}") from None
