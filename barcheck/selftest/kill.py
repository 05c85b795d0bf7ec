"""Killing mutants: find a property and an input that tell a mutant from the policy it breaks.

A pair property is asked directly for a world, valid under both policies, in
which the mutant breaks the property and the base keeps it.  The other kinds
(function, trace and mapping properties) are checked on the mutant, and its
replayed counterexample is replayed again under the base: the mutant is killed
only when the base keeps the property on those very inputs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator

from barcheck.selftest.mutants import ALIGNMENT, GUEST, LIFETIME, MAPPING, MSIX, PROBE, Mutant
from barcheck.engine.harness_distinguish import distinguish
from barcheck.engine.recordcheck import check_record
from barcheck.engine.vmacheck import check_vma
from barcheck.engine.tracecheck import check_trace
from barcheck.engine.session import DEFAULT_RLIMIT, DEFAULT_SEED
from barcheck.engine.settings import RunSettings
from barcheck.engine.verdict import Verdict
from barcheck.engine.witness import NO_LONGER_VIOLATES, replay_witness, witness_of
from model.policies import Policy, get_policy, is_plain
from model.system import standard_structure
from model.units import size_name
from model.vma import vma_structure
from properties import RECORD_PROPERTIES, REGISTRY
from properties.revoke import VMA_PROPERTIES
from properties.trace import TRACE_PROPERTIES

PAGES = (4096, 16384, 65536)
KIND_ORDER = {
    PROBE: ("pair", "trace", "function", "mapping"),
    LIFETIME: ("trace", "pair"),
    MSIX: ("function",),
    MAPPING: ("mapping",),
    ALIGNMENT: ("pair",),
    GUEST: ("function", "pair"),
}
"""For each aspect, the kinds of property whose model code reads the rules that aspect's mutants change,
in the order tried: the probe is read everywhere; the reservation's lifetime by the traces and the pair
probe.idempotent; the MSI-X rule by the function properties only; vm_pgoff, population and the zap by the
mapping model only; the PCI core's alignment by the pair model only (traces place BARs at natural alignment);
the VMM by the guest properties only."""


@dataclass(frozen=True, slots=True)
class Attempt:
    kind: str
    property: str
    page_size: int
    outcome: str
    """`killed`, `holds` (no distinguishing input), `base-also-fails`, `unknown` or `vacuous`."""
    seconds: float


@dataclass(frozen=True, slots=True)
class Kill:
    mutant: Mutant
    killed: bool
    attempts: tuple[Attempt, ...]
    explanation: str = ""
    """The replayed counterexample that kills the mutant, in the checker's words."""
    seconds: float = 0.0

    @property
    def killer(self) -> Attempt | None:
        return self.attempts[-1] if self.killed else None

    @property
    def unknown(self) -> bool:
        return any(a.outcome == "unknown" for a in self.attempts)


@dataclass(frozen=True, slots=True)
class KillSettings:
    seed: int = DEFAULT_SEED
    rlimit: int = DEFAULT_RLIMIT
    pages: tuple[int, ...] = PAGES

    def run(self) -> RunSettings:
        """The checks' settings: the engines' defaults with this seed and budget."""
        return RunSettings(seed=self.seed, rlimit=self.rlimit)


Check = Callable[[], tuple[str, str]]


def kill(mutant: Mutant, settings: KillSettings = KillSettings()) -> Kill:
    """Try every applicable property at every page size, the aspect's own kinds first, until one kills."""
    started = time.perf_counter()
    base = get_policy(mutant.base)
    attempts = []
    for kind, prop_id, page, run in _candidates(mutant, base, settings):
        began = time.perf_counter()
        outcome, explanation = run()
        attempts.append(Attempt(kind, prop_id, page, outcome, round(time.perf_counter() - began, 3)))
        if outcome == "killed":
            return Kill(mutant, True, tuple(attempts), explanation, round(time.perf_counter() - started, 3))
    return Kill(mutant, False, tuple(attempts), "", round(time.perf_counter() - started, 3))


def _candidates(mutant: Mutant, base: Policy, settings: KillSettings) -> Iterator[tuple[str, str, int, Check]]:
    """The expected killer's checks first, then every other check in the aspect's kind order."""
    makers = {"pair": _pair_checks, "function": _function_checks, "trace": _trace_checks, "mapping": _mapping_checks}
    for expected in (True, False):
        for kind in KIND_ORDER[mutant.aspect]:
            for candidate in makers[kind](mutant.policy, base, settings):
                if (candidate[1] == mutant.expect) == expected:
                    yield candidate


def _pair_checks(policy: Policy, base: Policy, settings: KillSettings):
    solver = settings.run().pair()
    for prop_id, prop in sorted(REGISTRY.items()):
        if prop.needs_vmm and policy.vmm is None:
            continue
        for page in settings.pages:
            def run(prop=prop, page=page):
                found = distinguish(prop, policy, base, page, solver)
                if found.status == "sat":
                    if found.counterexample is None:
                        raise ValueError(f"{prop.id}: a distinguishing answer without a counterexample")
                    return "killed", found.counterexample.explanation
                return ("unknown" if found.status == "unknown" else "holds"), ""
            yield "pair", prop_id, page, run


def _function_checks(policy: Policy, base: Policy, settings: KillSettings):
    solver = settings.run().record()
    for prop_id, prop in sorted(RECORD_PROPERTIES.items()):
        if (prop.needs_vmm and policy.vmm is None) or prop.applies(policy):
            continue
        for page in settings.pages:
            yield "function", prop_id, page, lambda prop=prop, page=page: _judge(
                check_record(prop, policy, page, solver), base)


def _trace_checks(policy: Policy, base: Policy, settings: KillSettings):
    if not is_plain(policy) or not policy.placed_by_pci_core:
        return
    solver = settings.run().trace()
    structure = standard_structure(3)
    for prop_id, prop in sorted(TRACE_PROPERTIES.items()):
        for page in settings.pages:
            yield "trace", prop_id, page, lambda prop=prop, page=page: _judge(
                check_trace(prop, policy, structure, page, solver), base)


def _mapping_checks(policy: Policy, base: Policy, settings: KillSettings):
    if not is_plain(policy):
        return
    solver = settings.run().mapping()
    structure = vma_structure(2)
    for prop_id, prop in sorted(VMA_PROPERTIES.items()):
        for page in settings.pages:
            yield "mapping", prop_id, page, lambda prop=prop, page=page: _judge(
                check_vma(prop, policy, structure, page, solver), base)


def _judge(result, base: Policy) -> tuple[str, str]:
    """A mutant's counterexample kills it when the base, on the same inputs, keeps the property."""
    if result.verdict is Verdict.UNKNOWN:
        return "unknown", ""
    if result.verdict is not Verdict.COUNTEREXAMPLE:
        return result.verdict.value, ""
    witness = witness_of(result)
    if witness is None:
        raise ValueError(f"{result.property}: a counterexample verdict without a witness")
    replayed = replay_witness(witness, base)
    if replayed.status != NO_LONGER_VIOLATES:
        return "base-also-fails", ""
    return "killed", _explanation(result)


def _explanation(result) -> str:
    trace = result.trace
    if trace is not None:
        lines = [line for line in trace.lines() if line.startswith("explanation:")]
        if lines:
            return lines[0].removeprefix("explanation: ")
    return f"{result.property} fails under {result.policy} at {size_name(result.page_size)} pages"
