"""Time the MSI-X and guest checks and the mappable-fraction measure.

    python3 bench/msix_guest.py [--repeat N]

Prints the median wall time and solver work of every function check of the
MSI-X and guest properties, then the time of the measure per policy and page.
"""

from __future__ import annotations

import argparse
import statistics
import time

from barcheck.engine.checker import check
from barcheck.engine.msixmeasure import DEFAULT_POLICIES, measure
from barcheck.engine.recordcheck import check_record
from model.policies import get_policy, guest_catalogue, msix_catalogue
from properties import REGISTRY
from properties.record import RECORD_PROPERTIES

PAGES = (0x1000, 0x4000, 0x10000)


def timed(run, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    total = 0.0
    print(f"{'check':58} {'page':>7} {'verdict':15} {'seconds':>8} {'work':>12}")
    for prop_id in sorted(RECORD_PROPERTIES):
        policies = guest_catalogue() if RECORD_PROPERTIES[prop_id].needs_vmm else msix_catalogue()
        for policy in policies:
            for page in PAGES:
                seconds, result = timed(lambda: check_record(RECORD_PROPERTIES[prop_id], policy, page), args.repeat)
                total += seconds
                print(f"{prop_id + ' ' + policy.name:58} {page:>#7x} {result.verdict.value:15} {seconds:8.2f} "
                      f"{result.solver.work:12}")
    for name in ("qemu-subpage", "linux-4.8+enhanced_allocation+qemu-subpage"):
        for page in PAGES:
            seconds, result = timed(lambda: check(REGISTRY["guest.no-foreign-host-page"], get_policy(name), page),
                                    args.repeat)
            total += seconds
            print(f"{'guest.no-foreign-host-page ' + name:58} {page:>#7x} {result.verdict.value:15} {seconds:8.2f} "
                  f"{result.solver.work:12}")
    print(f"function and guest checks: {total:.1f} s")
    measured = 0.0
    for name in DEFAULT_POLICIES:
        for page in PAGES:
            seconds, rows = timed(lambda: measure(get_policy(name), page), args.repeat)
            measured += seconds
            print(f"measure {name:50} {page:>#7x} {len(rows):3} rows {seconds:8.2f} s")
    print(f"msix.mappable-fraction: {measured:.1f} s")


if __name__ == "__main__":
    main()
