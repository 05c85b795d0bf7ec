"""The engine against Z3's Spacer on the same transition system, exported as Horn clauses.

Usage: python3 bench/spacer.py [--timeout SECONDS] [--kind trace|mapping|both] [--devices N]
                               [--page-size BYTES] [--policies A,B] [--mapping-policies A,B]
                               [--properties X,Y] [--seed N] [--spacer-rlimit UNITS]

For each (property, policy) it times the engine (`check_trace` or `check_vma`, default
settings) cold, with the shared init/step result cleared first, and warm, with it cached as
the catalogue runs the properties of one policy; then Spacer on `barcheck/engine/chc.py`'s
export of the same check.  A proof by Spacer is certified: its invariant is checked against
every rule by the engine's own solver.  `x` is Spacer's seconds over the engine's cold
seconds; `work x` the same for z3's resource units (machine independent).

A verdict clash (Spacer derives Err where the engine proved, or proves what the engine
refuted) or an invariant that fails a rule is printed as DISAGREEMENT; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass

from barcheck.engine import procedure
from barcheck.engine.chc import (
    COUNTEREXAMPLE,
    PROVED,
    export_trace,
    export_vma,
    refuted_rules,
    run_spacer,
)
from barcheck.engine.session import z3_version
from barcheck.engine.tracecheck import check_trace
from barcheck.engine.vmacheck import check_vma
from model.policies import get_policy
from model.system import standard_structure
from model.vma import vma_structure
from properties.revoke import VMA_PROPERTIES
from properties.trace import TRACE_PROPERTIES

TRACE_POLICIES = "linux-4.8,v3-per-bar,linux-6.10"
MAPPING_POLICIES = "linux-4.8,linux-5.8,linux-6.10"
TARGET_SPEEDUP = 100.0


@dataclass(frozen=True)
class Row:
    check: str
    engine: str
    engine_cold_s: float
    engine_warm_s: float
    engine_work: int
    spacer: str
    spacer_s: float
    spacer_work: int
    note: str

    @property
    def speedup(self) -> float:
        return self.spacer_s / self.engine_cold_s

    @property
    def work_speedup(self) -> float:
        return self.spacer_work / max(self.engine_work, 1)

    @property
    def finished(self) -> bool:
        return self.spacer in (PROVED, COUNTEREXAMPLE)


@dataclass(frozen=True)
class Kind:
    name: str
    properties: dict
    structure: object
    check: object
    export: object
    cache: dict


def main() -> int:
    args = _parser().parse_args()
    print(f"z3 {z3_version()}; {args.devices} devices, {args.page_size}-byte pages, default engine settings "
          f"(trace placement any-free); Spacer seed {args.seed}, timeout {args.timeout:g} s, "
          f"rlimit {args.spacer_rlimit or 'none'}")
    print(f"{'check':56} {'engine':14} {'cold s':>7} {'warm s':>6} {'work M':>7}  {'spacer':14} {'s':>6} "
          f"{'work M':>7} {'x':>7} {'work x':>7}  note")
    rows = []
    for kind, policies in _kinds(args):
        for policy in policies:
            for prop in _chosen(kind.properties, args.properties):
                rows.append(_measure(kind, prop, policy, args))
                _print_row(rows[-1])
    return _summary(rows, args.timeout)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=60.0, help="Spacer's wall-clock limit per check, seconds")
    parser.add_argument("--kind", choices=("trace", "mapping", "both"), default="both")
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--page-size", type=int, default=4096)
    parser.add_argument("--policies", default=TRACE_POLICIES, help="policies of the trace checks")
    parser.add_argument("--mapping-policies", default=MAPPING_POLICIES)
    parser.add_argument("--properties", default="", help="property ids (default: every one of the kind)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spacer-rlimit", type=int, default=0, help="Spacer's work limit (0: none)")
    return parser


def _kinds(args) -> list[tuple[Kind, list]]:
    trace = Kind("trace", TRACE_PROPERTIES, standard_structure(args.devices), check_trace, export_trace,
                 procedure._INDUCTIVE)
    mapping = Kind("mapping", VMA_PROPERTIES, vma_structure(args.devices), check_vma, export_vma, procedure._INDUCTIVE)
    chosen = []
    if args.kind in ("trace", "both"):
        chosen.append((trace, [get_policy(n) for n in args.policies.split(",")]))
    if args.kind in ("mapping", "both"):
        chosen.append((mapping, [get_policy(n) for n in args.mapping_policies.split(",")]))
    return chosen


def _chosen(properties: dict, wanted: str) -> list:
    return [properties[i] for i in (wanted.split(",") if wanted else properties) if i in properties]


def _measure(kind: Kind, prop, policy, args) -> Row:
    kind.cache.clear()
    started = time.perf_counter()
    result = kind.check(prop, policy, kind.structure, args.page_size)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    kind.check(prop, policy, kind.structure, args.page_size)
    warm = time.perf_counter() - started
    system = kind.export(prop, policy, kind.structure, args.page_size)
    run = run_spacer(system, args.seed, args.timeout, args.spacer_rlimit)
    note = run.reason
    if run.result == PROVED:
        failed = refuted_rules(system, run.invariant, args.seed)
        note = f"DISAGREEMENT: Spacer's invariant fails {', '.join(failed)}" if failed else "invariant certified"
    clash = _clash(result.verdict.value, run.result)
    if clash:
        note = f"DISAGREEMENT: {clash}; {note}"
    return Row(f"{kind.name} {prop.id} / {policy.name}", result.verdict.value, cold, warm, result.solver.work,
               run.result, run.seconds, run.work, note)


def _clash(engine: str, spacer: str) -> str:
    if spacer == COUNTEREXAMPLE and engine in ("proved", "vacuous"):
        return f"engine {engine}, Spacer derives Err"
    if spacer == PROVED and engine == "counterexample":
        return "engine found a counterexample, Spacer proved"
    return ""


def _print_row(r: Row) -> None:
    bound = "" if r.finished else ">"
    print(f"{r.check:56} {r.engine:14} {r.engine_cold_s:7.2f} {r.engine_warm_s:6.2f} {r.engine_work / 1e6:7.1f}  "
          f"{r.spacer:14} {r.spacer_s:6.2f} {r.spacer_work / 1e6:7.1f} {bound + format(r.speedup, '.3g'):>7} "
          f"{bound + format(r.work_speedup, '.3g'):>7}  {r.note}", flush=True)


def _summary(rows: list[Row], timeout: float) -> int:
    finished = [r for r in rows if r.finished]
    proofs = [r for r in finished if r.spacer == PROVED]
    clashes = [r for r in rows if "DISAGREEMENT" in r.note]
    print(f"\nSpacer finished {len(finished)} of {len(rows)} checks ({len(proofs)} proofs, "
          f"{len(finished) - len(proofs)} counterexamples) within {timeout:g} s each")
    if proofs:
        speedups, works = [r.speedup for r in proofs], [r.work_speedup for r in proofs]
        met = sum(s >= TARGET_SPEEDUP for s in speedups)
        print(f"on those proofs, Spacer s / engine cold s: min {min(speedups):.3g}, median "
              f"{statistics.median(speedups):.3g}, max {max(speedups):.3g} (work: min {min(works):.3g}, median "
              f"{statistics.median(works):.3g}); engine at least {TARGET_SPEEDUP:g}x faster on {met} of {len(proofs)}")
    for r in rows:
        if not r.finished:
            print(f"unfinished: {r.check}: Spacer ran {r.spacer_s:.1f} s, {r.spacer_work / 1e6:.0f} M units "
                  f"({r.note or r.spacer}); engine {r.engine} in {r.engine_cold_s:.2f} s")
    print(f"agreement: {'DISAGREEMENT on ' + str(len(clashes)) if clashes else 'no clash'} "
          f"({len(finished)} checks with verdicts from both)")
    return 1 if clashes else 0


if __name__ == "__main__":
    sys.exit(main())
