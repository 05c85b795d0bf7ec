"""The conformance suite's wall time: per scenario, per architecture, serial and with parallel guests.

Usage: python3 bench/conform_suite.py [--jobs 1,2] [SCENARIO.toml ...]   (default: conformance/*.toml)
The first pass also fills the kernel and agent cache; its preparation time is printed separately.
Needs QEMU and the compilers (`barcheck conform --setup`).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from barcheck.conform.plan import make_plan
from barcheck.conform.run import prepare, run_all
from barcheck.scenario.file import load_scenario
from model.policies import get_policy

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", default="1,2")
    parser.add_argument("scenario", nargs="*")
    args = parser.parse_args()
    paths = args.scenario or sorted(str(p) for p in (ROOT / "conformance").glob("*.toml"))
    plans = [make_plan(load_scenario(p)) for p in paths]
    started = time.monotonic()
    prepare(list({p.machine.arch: p.machine for p in plans}.values()))
    print(f"prepare (kernel download/extract, agent build, or cache hits): {time.monotonic() - started:.1f} s")
    for jobs in (int(j) for j in args.jobs.split(",")):
        started = time.monotonic()
        results = run_all([(p, get_policy(p.spec.policy)) for p in plans], jobs, None, lambda r: None)
        wall = time.monotonic() - started
        print(f"\njobs={jobs}: suite wall time {wall:.1f} s")
        print(f"{'scenario':32} {'arch':8} {'verdict':9} {'seconds':>8}")
        for r in sorted(results, key=lambda r: (r.machine.arch, r.plan.spec.name)):
            print(f"{r.plan.spec.name:32} {r.machine.arch:8} {r.verdict:9} {r.seconds:8.1f}")
        for arch in sorted({r.machine.arch for r in results}):
            times = [r.seconds for r in results if r.machine.arch == arch]
            print(f"{arch}: {len(times)} scenarios, sum {sum(times):.1f} s, median {statistics.median(times):.1f} s")


if __name__ == "__main__":
    main()
