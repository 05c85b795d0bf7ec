"""Results are values: one `Result` per (property, policy, page size)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from model.scenario import PairScenario, Shape


class Verdict(str, enum.Enum):
    PROVED = "proved"
    COUNTEREXAMPLE = "counterexample"
    UNKNOWN = "unknown"
    VACUOUS = "vacuous"


@dataclass(frozen=True, slots=True)
class SolverInfo:
    z3_version: str
    seed: int
    rlimit: int
    """Work budget per solver call."""
    work: int
    """Resource units the whole check consumed (z3's "rlimit count")."""


@dataclass(frozen=True, slots=True)
class Counterexample:
    """A decoded, minimised and concretely replayed violation."""

    scenario: PairScenario
    facts: dict[str, Any]
    explanation: str
    bar_shaped_foreign: bool
    """The foreign resource has the shape of a PCI memory BAR (else: a platform decoder)."""
    shape: Shape | None = None
    """The scenario shape it was found and replayed in (for saving and replaying it again)."""


@dataclass(frozen=True, slots=True)
class Result:
    property: str
    policy: str
    page_size: int
    verdict: Verdict
    scope: dict[str, Any]
    assumptions: tuple[str, ...]
    """For PROVED: the assumptions the proof used (a minimal unsat core).
    For VACUOUS: a minimal set of assumptions that contradict each other or the antecedent."""
    seconds: float
    solver: SolverInfo
    reason: str = ""
    counterexample: Counterexample | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    trace: Any = None
    """For trace properties: a replayed `TraceCounterexample`."""


class InternalError(RuntimeError):
    """The checker contradicted itself (e.g. a counterexample failed to replay)."""


class EncodingMismatch(InternalError):
    """The symbolic and the concrete semantics disagree on a decoded scenario."""
