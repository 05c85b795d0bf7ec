"""Solver against enumeration: at 8-bit width, every pair scenario is tried on plain integers.

For one property, policy and page size both sides must give the same verdict
(PROVED, COUNTEREXAMPLE or VACUOUS), the solver's counterexample must be one of
the enumerated violations, and it must be the very least one under the
checker's canonical order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

from barcheck.engine.checker import Settings, check, objectives
from barcheck.selftest.mutants import MUTANTS, PROBE
from barcheck.engine.space import small_space
from barcheck.engine.verdict import Verdict
from model.ops import ConcreteOps
from model.policies import BUILTIN, SAME_PROBE_AS_4_8, Policy, get_policy
from model.scenario import PairScenario, Shape, bar_size_is_pow2, foreign_is_bar_shaped, parent_is_bridge_window
from properties import REGISTRY
from properties.situation import shared_situations

WIDTH_BITS = 8
PAGES = (16, 64, 128)
SHAPE = Shape(width=WIDTH_BITS, window_granule_bytes=64, decoder_granule_bytes=16,
              pins=(("bar_index", (0,)), ("bar_kind", (0,)), ("bar_prefetchable", (0,)), ("bar_origin", (0,)),
                    ("foreign_origin", (4,)), ("realloc_start", (0,))))
"""Origins are pinned to an ordinary function's BAR and an arbitrary decoder; the configured cases
enumerate every origin (`configured_shape`)."""

CONFIGURED = ("linux-4.8+resource_alignment", "linux-4.8+resource_alignment=32", "linux-4.8+default_alignment",
              "linux-4.8+align_small_bars", "linux-4.8+extend_bar_to_page", "linux-4.8+enhanced_allocation")
"""At width 8, `=32` asks for half a 64-byte page: resize without reaching a whole page."""

GUEST_POLICIES = ("linux-4.8+qemu-subpage", "linux-4.8+enhanced_allocation+qemu-subpage")


@dataclass(frozen=True, slots=True)
class Case:
    property: str
    policy: str
    page_bytes: int
    configured: bool = False


@dataclass(frozen=True, slots=True)
class Agreement:
    case: Case
    enumerated: Verdict
    solved: Verdict
    scenarios: int
    """Scenarios enumerated that satisfy every assumption."""
    agrees: bool
    detail: str
    seconds: float


def configured_shape(prop_id: str) -> Shape:
    """Every origin of the BAR and the foreign resource, one parent window, and every realloc start
    for the property that reads it."""
    pins: tuple[tuple[str, tuple[int, ...]], ...] = (
        ("bar_index", (0,)), ("bar_kind", (0,)), ("bar_prefetchable", (0,)), ("bar_origin", (0, 1, 2, 3)),
        ("parent_first", (0,)), ("parent_last", (255,)))
    if prop_id == "alignment.preserved-across-realloc":
        pins += (("foreign_origin", (4,)), ("foreign_relation", (0,)), ("foreign_first", (224,)),
                 ("foreign_last", (255,)), ("realloc_start", tuple(range(0, 256, 16))))
    else:
        pins += (("foreign_origin", (0, 1, 2, 3, 4)), ("realloc_start", (0,)))
    return Shape(width=WIDTH_BITS, window_granule_bytes=64, decoder_granule_bytes=32, fixed_granule_bytes=32,
                 pins=pins)


AGREEMENT_MUTANTS = ("no-alignment-check", "dummy-end-short", "no-dummy")
"""Mutants whose violations the enumeration must find exactly as the solver does (they break isolation
and the window rule in the smallest ways)."""


def probe_mutants() -> dict[str, Policy]:
    return {m.policy.name: m.policy for m in MUTANTS if m.aspect == PROBE and m.slug in AGREEMENT_MUTANTS}


def policy_named(name: str) -> Policy:
    mutants = probe_mutants()
    return mutants[name] if name in mutants else get_policy(name)


def cases() -> list[Case]:
    """Every pair property against every policy with its own probe code, the configurations, the
    guest policies and the probe mutants.  Policies that run linux-4.8's probe code unchanged
    (SAME_PROBE_AS_4_8) evaluate every pair property exactly as linux-4.8 does."""
    host = sorted(p for p in REGISTRY if not REGISTRY[p].needs_vmm)
    guest = sorted(p for p in REGISTRY if REGISTRY[p].needs_vmm)
    probes = sorted(name for name in BUILTIN if name not in SAME_PROBE_AS_4_8)
    out = [Case(prop, policy, page) for prop in host for policy in probes for page in PAGES]
    out += [Case(prop, name, 64) for prop in host for name in sorted(probe_mutants())]
    out += [Case(prop, "linux-4.8+qemu-subpage", page) for prop in guest for page in (16, 128)]
    out += [Case(prop, name, 64, True) for prop in host if prop != "probe.idempotent" for name in CONFIGURED]
    out += [Case(prop, GUEST_POLICIES[1], 64, True) for prop in guest]
    return out


def shape_of(case: Case) -> Shape:
    return configured_shape(case.property) if case.configured else SHAPE


@lru_cache(maxsize=8)
def _space(page_bytes: int, shape: Shape) -> tuple[PairScenario, ...]:
    return tuple(small_space(shape, page_bytes))


def canonical_key(sc: PairScenario, width: int = WIDTH_BITS) -> tuple:
    """The checker's order on counterexamples: its preferences, then each field's distance to its target."""
    ops = ConcreteOps(width)
    prefs = (not foreign_is_bar_shaped(ops, sc), not parent_is_bridge_window(ops, sc), not bar_size_is_pow2(ops, sc))
    return prefs + tuple(int(getattr(sc, name)) ^ target for name, target in objectives(width))


Enumerated = tuple[Verdict, "PairScenario | None", frozenset, int]
"""The verdict by brute force, the least violation, every violation, and the valid scenarios counted."""


def groups(selected: list[Case]) -> list[list[int]]:
    """Indices of the cases that share a policy, page size and shape, in first-seen order: one pass
    over their scenario space serves them all."""
    grouped: dict[tuple, list[int]] = {}
    for index, case in enumerate(selected):
        grouped.setdefault((case.policy, case.page_bytes, shape_of(case)), []).append(index)
    return list(grouped.values())


def enumerate_case(case: Case) -> Enumerated:
    return enumerate_cases([case])[0]


def enumerate_cases(same: list[Case]) -> list[Enumerated]:
    """Each case by brute force, scenario by scenario; the cases share a policy, page size and shape,
    so each scenario's situation is computed once for all of them (`shared_situations`)."""
    first = same[0]
    shape, policy = shape_of(first), policy_named(first.policy)
    if any((c.policy, c.page_bytes, shape_of(c)) != (first.policy, first.page_bytes, shape) for c in same):
        raise ValueError("enumerate_cases: the cases must share a policy, page size and shape")
    ops = ConcreteOps(shape.width)
    props = [REGISTRY[case.property] for case in same]
    tallies = [_Tally() for _ in same]
    with shared_situations():
        for sc in _space(first.page_bytes, shape):
            for prop, tally in zip(props, tallies):
                tally.add(sc, prop.evaluate(ops, sc, policy, shape), shape.width)
    return [tally.result() for tally in tallies]


class _Tally:
    """One case's enumeration so far."""

    def __init__(self) -> None:
        self.reachable = False
        self.best: tuple[tuple, PairScenario] | None = None
        self.violations: set[PairScenario] = set()
        self.valid = 0

    def add(self, sc: PairScenario, ev, width: int) -> None:
        if not all(holds for _, holds in ev.assumptions):
            return
        self.valid += 1
        self.reachable = self.reachable or bool(ev.antecedent)
        if not ev.holds:
            self.violations.add(sc)
            key = canonical_key(sc, width)
            if self.best is None or key < self.best[0]:
                self.best = (key, sc)

    def result(self) -> Enumerated:
        if not self.reachable:
            return Verdict.VACUOUS, None, frozenset(self.violations), self.valid
        verdict = Verdict.COUNTEREXAMPLE if self.best else Verdict.PROVED
        return verdict, (self.best[1] if self.best else None), frozenset(self.violations), self.valid


def agree_group(same: list[Case], seed: int = 0) -> list[Agreement]:
    """`agree` for cases sharing one enumeration; each case's seconds are its solver time plus an
    equal share of the enumeration."""
    started = time.perf_counter()
    enumerated = enumerate_cases(same)
    share = (time.perf_counter() - started) / len(same)
    return [_compare(case, found, seed, share) for case, found in zip(same, enumerated)]


def agree(case: Case, seed: int = 0) -> Agreement:
    return agree_group([case], seed)[0]


def _compare(case: Case, enumerated: Enumerated, seed: int, enumeration_seconds: float) -> Agreement:
    started = time.perf_counter()
    expected, least, violations, valid = enumerated
    result = check(REGISTRY[case.property], policy_named(case.policy), case.page_bytes,
                   Settings(seed=seed, shape=shape_of(case)))
    detail = ""
    if result.verdict is not expected:
        detail = f"solver {result.verdict.value}, enumeration {expected.value}: {result.reason}".rstrip(": ")
    elif expected is Verdict.COUNTEREXAMPLE:
        if result.counterexample is None:
            raise ValueError(f"{case.property}: a counterexample verdict without a counterexample")
        found = result.counterexample.scenario
        if found not in violations:
            detail = f"the solver's counterexample {found} is not a violation"
        elif found != least:
            detail = f"the solver's counterexample {found} is not the least one {least}"
    seconds = enumeration_seconds + time.perf_counter() - started
    return Agreement(case, expected, result.verdict, valid, not detail, detail, round(seconds, 3))
