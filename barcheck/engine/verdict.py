"""Results are values: one `Result` per (property, policy, page size)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol

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


class Witness(Protocol):
    """What every replayed counterexample of a trace, mapping or function property offers the reports."""

    @property
    def property_id(self) -> str: ...

    def lines(self) -> list[str]:
        """The counterexample as numbered steps in domain words, ending with the violated clause."""

    def doc(self) -> dict[str, Any]:
        """The same as JSON, for the result document."""

    def summary(self) -> str:
        """What went wrong, as one clause of the explanation sentence."""


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
    trace: Witness | None = None
    """For trace, mapping and function properties: the replayed counterexample."""


class InternalError(RuntimeError):
    """The checker contradicted itself (e.g. a counterexample failed to replay)."""


class EncodingMismatch(InternalError):
    """The symbolic and the concrete semantics disagree on a decoded scenario."""
