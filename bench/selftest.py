"""Time each part of `barcheck selftest`: prints seconds per section and per mutant kill.

    python3 bench/selftest.py [--jobs N] [--section NAME ...]
"""

from __future__ import annotations

import argparse
import time

from barcheck.selftest.render import document
from barcheck.selftest.run import SECTIONS, Options, run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--section", action="append", choices=SECTIONS, default=[])
    args = parser.parse_args()
    started = time.perf_counter()
    outcome = run(Options(tuple(args.section) or SECTIONS, jobs=args.jobs))
    doc = document(outcome, 0, timings=True)
    for section, seconds in outcome.seconds.items():
        print(f"{section:10} {seconds:8.1f} s")
    for kill in outcome.sections.get("mutants", []):
        print(f"  kill {kill.mutant.slug:40} {kill.seconds:7.2f} s  {len(kill.attempts)} attempt(s)")
    agreement = outcome.sections.get("agreement", [])
    if agreement:
        times = sorted(a.seconds for a in agreement)
        print(f"  agreement: {len(times)} cases, median {times[len(times) // 2]:.2f} s, max {times[-1]:.2f} s")
    print(f"total      {time.perf_counter() - started:8.1f} s  verdict {doc['verdict']}")


if __name__ == "__main__":
    main()
