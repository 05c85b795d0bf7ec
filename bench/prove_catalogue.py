"""Benchmark: wall time of `barcheck prove` over the whole built-in catalogue, and per check.

Usage: python bench/prove_catalogue.py [--repeat N]
Prints one line per (property, policy, page size) with the median seconds and
the solver work units (deterministic), then the total.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from barcheck.engine.checker import check
from barcheck.engine.session import z3_version
from model.policies import BUILTIN
from model.units import PRESET_PAGE_SIZES, size_name
from properties import REGISTRY


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"z3 {z3_version()}, python {sys.version.split()[0]}, repeat {args.repeat}")
    print(f"{'property':34} {'policy':12} {'page':5} {'median s':>9} {'min s':>7} {'work units':>12}")
    total = 0.0
    for prop in sorted(REGISTRY):
        for policy in sorted(BUILTIN):
            for page in PRESET_PAGE_SIZES:
                runs = [check(REGISTRY[prop], BUILTIN[policy], page) for _ in range(args.repeat)]
                seconds = [r.seconds for r in runs]
                total += statistics.median(seconds)
                print(f"{prop:34} {policy:12} {size_name(page):5} {statistics.median(seconds):9.3f} "
                      f"{min(seconds):7.3f} {runs[0].solver.work:12d}")
    print(f"sum of per-check medians: {total:.2f} s")
    started = time.perf_counter()
    done = subprocess.run(["barcheck", "prove", "--format", "json"], capture_output=True)
    print(f"`barcheck prove --format json` end to end: {time.perf_counter() - started:.2f} s (exit {done.returncode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
