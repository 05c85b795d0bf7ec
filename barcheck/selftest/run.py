"""`barcheck selftest`: every section of the harness, run in worker processes, results in a fixed order."""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from barcheck.engine.checker import check
from barcheck.selftest import agreement, fuzz as fuzzing
from barcheck.selftest.kill import KillSettings, kill
from barcheck.selftest.mutants import MUTANTS, get_mutant
from barcheck.engine.settings import RunSettings
from barcheck.engine.harness_witness import pair_witness, record_witness
from barcheck.engine.pgoffcheck import check_round_trip
from barcheck.engine.recordcheck import check_record
from barcheck.engine.vmacheck import check_vma
from barcheck.engine.tracecheck import check_trace
from barcheck.engine.verdict import Verdict
from model.policies import catalogue, get_policy, guest_catalogue, msix_catalogue
from model.system import standard_structure
from model.vma import vma_structure
from properties import RECORD_PROPERTIES, REGISTRY
from properties.revoke import VMA_PROPERTIES
from properties.trace import TRACE_PROPERTIES

SECTIONS = ("mutants", "agreement", "coverage", "fuzz", "limits")
COVERAGE_PAGES = (4096, 16384, 65536)
TINY_RLIMIT = 1
TINY = RunSettings(rlimit=TINY_RLIMIT)


@dataclass(frozen=True, slots=True)
class Options:
    sections: tuple[str, ...] = SECTIONS
    mutants: tuple[str, ...] = ()
    """Slugs; empty means every mutant."""
    fuzz_inputs: int = 2000
    """Per target."""
    jobs: int = 1
    seed: int = 0


@dataclass
class Outcome:
    sections: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def run(options: Options) -> Outcome:
    outcome = Outcome()
    runners = {"mutants": _mutants, "agreement": _agreement, "coverage": _coverage, "fuzz": _fuzz,
               "limits": _limits}
    with _pool(options.jobs) as pool:
        for section in SECTIONS:
            if section in options.sections:
                started = time.perf_counter()
                outcome.sections[section] = runners[section](options, pool)
                outcome.seconds[section] = round(time.perf_counter() - started, 1)
    return outcome


class _Serial:
    def imap(self, fn: Callable, items: Iterable) -> Iterable:
        return map(fn, items)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


def _pool(jobs: int):
    if jobs <= 1:
        return _Serial()
    return multiprocessing.get_context("spawn").Pool(jobs)


def _mutants(options: Options, pool) -> list:
    slugs = options.mutants or tuple(m.slug for m in MUTANTS)
    return list(pool.imap(_kill_one, [(slug, options.seed) for slug in slugs]))


def _kill_one(item: tuple[str, int]):
    slug, seed = item
    return kill(get_mutant(slug), KillSettings(seed=seed))


def _agreement(options: Options, pool) -> list:
    """Every case, in `agreement.cases()` order; cases sharing an enumeration run together."""
    selected = agreement.cases()
    batches = agreement.groups(selected)
    results: list = [None] * len(selected)
    for batch, done in zip(batches, pool.imap(_agree_group, [([selected[i] for i in b], options.seed)
                                                             for b in batches])):
        for index, outcome in zip(batch, done):
            results[index] = outcome
    return results


def _agree_group(item):
    same, seed = item
    return agreement.agree_group(same, seed)


@dataclass(frozen=True, slots=True)
class Covered:
    kind: str
    property: str
    policy: str
    page_size: int
    status: str
    """`sat` (witness replayed), `unsat` (antecedent unreachable) or `unknown`."""
    witness: dict[str, Any] | None


def coverage_tasks() -> list[tuple[str, str, str, int]]:
    tasks = []
    for prop_id, prop in sorted(REGISTRY.items()):
        policies = guest_catalogue() if prop.needs_vmm else catalogue()
        tasks += [("pair", prop_id, p.name, page) for p in policies for page in COVERAGE_PAGES]
    for prop_id, record in sorted(RECORD_PROPERTIES.items()):
        policies = guest_catalogue() if record.needs_vmm else msix_catalogue()
        tasks += [("function", prop_id, p.name, page) for p in policies for page in COVERAGE_PAGES]
    return tasks


def _coverage(options: Options, pool) -> list:
    return list(pool.imap(_cover_one, [(task, options.seed) for task in coverage_tasks()]))


def _cover_one(item) -> Covered:
    (kind, prop_id, policy_name, page), seed = item
    policy = get_policy(policy_name)
    if kind == "pair":
        found = pair_witness(REGISTRY[prop_id], policy, page, RunSettings(seed=seed).pair())
    else:
        found = record_witness(RECORD_PROPERTIES[prop_id], policy, page, RunSettings(seed=seed).record())
    return Covered(kind, prop_id, policy_name, page, found.status, found.fields)


def _fuzz(options: Options, pool) -> list:
    return list(pool.imap(_fuzz_one, [(t, options.fuzz_inputs, options.seed) for t in fuzzing.TARGETS]))


def _fuzz_one(item):
    target, inputs, seed = item
    return fuzzing.fuzz(target, inputs, seed)


@dataclass(frozen=True, slots=True)
class Limited:
    engine: str
    check: str
    verdict: str


def _limits(options: Options, pool) -> list:
    """Every engine, starved of solver work (rlimit 1), must answer UNKNOWN: never PROVED, never a verdict."""
    return list(pool.imap(_limit_one, [name for name, _ in LIMIT_CHECKS]))


def _limit_one(name: str) -> Limited:
    engine, run_check = dict(LIMIT_CHECKS)[name]
    return Limited(engine, name, run_check().verdict.value)


def _pair_limited():
    return check(REGISTRY["isolation.window"], get_policy("linux-4.8"), 65536, TINY.pair())


def _record_limited():
    return check_record(RECORD_PROPERTIES["msix.table-protected"], get_policy("linux-4.8"), 4096,
                        TINY.record())


def _trace_limited():
    return check_trace(TRACE_PROPERTIES["isolation.window"], get_policy("linux-4.8"), standard_structure(3), 4096,
                       TINY.trace())


def _vma_limited():
    return check_vma(VMA_PROPERTIES["revoke.complete"], get_policy("linux-6.10"), vma_structure(2), 4096,
                     TINY.mapping())


def _round_trip_limited():
    return check_round_trip(get_policy("linux-6.10"), 4096, TINY.round_trip())


LIMIT_CHECKS = (
    ("pair isolation.window linux-4.8 64K", ("pair", _pair_limited)),
    ("function msix.table-protected linux-4.8 4K", ("function", _record_limited)),
    ("trace isolation.window linux-4.8 4K", ("trace", _trace_limited)),
    ("mapping revoke.complete linux-6.10 4K", ("mapping", _vma_limited)),
    ("function pgoff.round-trip linux-6.10 4K", ("round-trip", _round_trip_limited)),
)


UNKNOWN = Verdict.UNKNOWN.value
