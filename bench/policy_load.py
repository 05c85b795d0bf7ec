"""What loading a policy file costs: validation, the differential check and the anti-monotone proof.

    python3 bench/policy_load.py [--repeat N]

Prints seconds per example policy file (load and check, end to end) and, per built-in policy, the
differential check and the side-condition proof separately.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import z3

from barcheck.engine import policycheck
from barcheck.run.userpolicy import CHECKED, forget_user_policies, load_policy_file
from model.policies import BUILTIN

ROOT = Path(__file__).resolve().parents[1]


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for path in sorted((ROOT / "examples" / "policies").glob("*.py")):
        def load() -> None:
            forget_user_policies()
            CHECKED.clear()
            load_policy_file(str(path))
        times = [timed(load) for _ in range(args.repeat)]
        print(f"load {path.name:32} median {statistics.median(times):6.2f} s  (min {min(times):.2f})")
    samples = sum(len(policycheck._pair_samples(page)) for page in policycheck.PAGES_BYTES)
    print(f"differential inputs: {samples} placements over {len(policycheck.PAGES_BYTES)} page sizes, "
          f"{policycheck.RANDOM_RECORDS} records per function property and page size")
    for name, policy in BUILTIN.items():
        ctx = z3.Context()
        differential = timed(lambda: policycheck._differential(policy, ctx))
        monotone = timed(lambda: policycheck._check_anti_monotone(policy, ctx))
        print(f"  {name:18} differential {differential:6.2f} s   anti-monotone {monotone:6.2f} s")


if __name__ == "__main__":
    main()
