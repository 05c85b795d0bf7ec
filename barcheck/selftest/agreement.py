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


def enumerate_case(case: Case) -> tuple[Verdict, PairScenario | None, frozenset, int]:
    """The verdict by brute force, the least violation, every violation, and the valid scenarios counted."""
    shape, policy, prop = shape_of(case), policy_named(case.policy), REGISTRY[case.property]
    ops = ConcreteOps(shape.width)
    reachable, best, violations, valid = False, None, set(), 0
    for sc in _space(case.page_bytes, shape):
        ev = prop.evaluate(ops, sc, policy, shape)
        if not all(holds for _, holds in ev.assumptions):
            continue
        valid += 1
        reachable = reachable or bool(ev.antecedent)
        if not ev.holds:
            violations.add(sc)
            key = canonical_key(sc, shape.width)
            if best is None or key < best[0]:
                best = (key, sc)
    if not reachable:
        return Verdict.VACUOUS, None, frozenset(violations), valid
    verdict = Verdict.COUNTEREXAMPLE if best else Verdict.PROVED
    return verdict, (best[1] if best else None), frozenset(violations), valid


def agree(case: Case, seed: int = 0) -> Agreement:
    started = time.perf_counter()
    expected, least, violations, valid = enumerate_case(case)
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
    return Agreement(case, expected, result.verdict, valid, not detail, detail,
                     round(time.perf_counter() - started, 3))
