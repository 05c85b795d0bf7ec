"""Property records and the registry that holds them by stable id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from model.ops import Flag, Ops
from model.policies import Policy
from model.scenario import PairScenario, Shape


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A property evaluated on one scenario, in some `Ops` domain."""

    assumptions: tuple[tuple[str, Flag], ...]
    """Named conditions the claim rests on; a proof reports the ones it used."""
    antecedent: Flag
    """The case the claim is about (e.g. "the BAR is mmappable"); must be reachable."""
    holds: Flag
    """The claim itself: antecedent implies the guarantee."""
    facts: tuple[tuple[str, Any], ...]
    """Derived values shown in counterexample reports."""


Evaluate = Callable[[Ops, PairScenario, Policy, Shape], Evaluation]
Explain = Callable[[PairScenario, dict[str, Any], str], str]


@dataclass(frozen=True, slots=True)
class Property:
    id: str
    title: str
    statement: str
    """What must hold, citing the kernel code it concerns."""
    scope: str
    """What a proof quantifies over, and why that covers the general case."""
    evaluate: Evaluate
    explain: Explain
    needs_vmm: bool = False
    """The property is about the guest side: only policies with a VMM (`+qemu-subpage`) are checked on it."""


REGISTRY: dict[str, Property] = {}


class UnknownProperty(KeyError):
    def __str__(self) -> str:
        known = ", ".join(sorted(REGISTRY))
        return f"unknown property {self.args[0]!r} (known: {known})"


def register(prop: Property) -> Property:
    if prop.id in REGISTRY:
        raise ValueError(f"duplicate property id {prop.id!r}")
    if not prop.id or prop.id != prop.id.strip() or " " in prop.id:
        raise ValueError(f"bad property id {prop.id!r}")
    REGISTRY[prop.id] = prop
    return prop


def get_property(prop_id: str) -> Property:
    try:
        return REGISTRY[prop_id]
    except KeyError:
        raise UnknownProperty(prop_id) from None
