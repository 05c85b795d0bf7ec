"""Benchmark: brute-force enumeration against the solver, width by width, then the solver at 64 bits.

Usage: python3 bench/brute_force.py [--property ID] [--policy NAME] [--widths 7,8,9,10] [--limit SECONDS]

At each width the enumeration tries every pair scenario the selftest's agreement
section tries (`barcheck.engine.space.small_space`, the same pins and granules
scaled with the width) and evaluates the property on integers; the solver answers
the same question with its verdict, minimal core and canonical counterexample
(the full engine, not --verdicts-only).  Both must agree.  The enumeration stops
at the first width where it passes --limit seconds; the ratio reported is at the
largest width it finished within the limit.
"""

from __future__ import annotations

import argparse
import sys
import time

from barcheck.engine.checker import Settings, check
from barcheck.engine.space import small_space
from barcheck.engine.verdict import Verdict
from model.ops import ConcreteOps
from model.policies import get_policy
from model.scenario import Shape
from properties import REGISTRY

PINS = (("bar_index", (0,)), ("bar_kind", (0,)), ("bar_prefetchable", (0,)), ("bar_origin", (0,)),
        ("foreign_origin", (4,)), ("realloc_start", (0,)))


def shape_at(width: int) -> Shape:
    """The agreement section's 8-bit shape (64-byte windows, 16-byte decoders), scaled to `width`."""
    return Shape(width=width, window_granule_bytes=1 << (width - 2), decoder_granule_bytes=1 << (width - 4),
                 pins=PINS)


def page_at(width: int) -> int:
    """The agreement section's 64-byte page at 8 bits, scaled the same way."""
    return 1 << (width - 2)


def enumerate_verdict(prop, policy, shape: Shape, page_bytes: int, limit_s: float) -> tuple[str, int, float]:
    ops = ConcreteOps(shape.width)
    started = time.perf_counter()
    reachable, violated, valid = False, False, 0
    for count, scenario in enumerate(small_space(shape, page_bytes)):
        if count % 4096 == 0 and time.perf_counter() - started > limit_s:
            return "stopped", valid, time.perf_counter() - started
        ev = prop.evaluate(ops, scenario, policy, shape)
        if not all(holds for _, holds in ev.assumptions):
            continue
        valid += 1
        reachable = reachable or bool(ev.antecedent)
        violated = violated or not ev.holds
    verdict = Verdict.VACUOUS if not reachable else Verdict.COUNTEREXAMPLE if violated else Verdict.PROVED
    return verdict.value, valid, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--property", default="isolation.window")
    parser.add_argument("--policy", default="linux-4.8")
    parser.add_argument("--widths", default="7,8,9,10,11,12")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds before the enumeration gives up")
    args = parser.parse_args()
    prop, policy = REGISTRY[args.property], get_policy(args.policy)
    print(f"{args.property} under {args.policy}; enumeration limit {args.limit:.0f} s")
    print(f"{'width':>5} {'page':>6} {'scenarios':>10} {'enumeration':>14} {'solver':>9} {'ratio':>9}  verdicts")
    best = None
    for width in (int(w) for w in args.widths.split(",")):
        shape, page = shape_at(width), page_at(width)
        verdict, valid, enum_s = enumerate_verdict(prop, policy, shape, page, args.limit)
        solved = check(prop, policy, page, Settings(shape=shape))
        ratio = enum_s / solved.seconds
        if verdict != "stopped" and verdict != solved.verdict.value:
            print(f"DISAGREEMENT at width {width}: enumeration {verdict}, solver {solved.verdict.value}")
            return 1
        enum_text = f"{enum_s:.2f} s" if verdict != "stopped" else f"> {args.limit:.0f} s"
        print(f"{width:5} {page:6} {valid:10} {enum_text:>14} {solved.seconds:7.3f} s {ratio:8.1f}x  "
              f"{verdict} / {solved.verdict.value}", flush=True)
        if verdict == "stopped":
            break
        best = (width, ratio)
    if best:
        print(f"largest width enumerated within {args.limit:.0f} s: {best[0]} bits; solver {best[1]:.1f}x faster")
    full = check(prop, policy, 65536)
    print(f"solver at 64 bits, 64K pages (enumeration impossible): {full.verdict.value} in {full.seconds:.2f} s, "
          f"{full.solver.work} work units")
    fast = check(prop, policy, 65536, Settings(explain=False))
    print(f"solver at 64 bits, verdict only: {fast.verdict.value} in {fast.seconds:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
