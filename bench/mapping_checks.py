"""Seconds and solver work of the mapping checks, per policy, property and structure size.

Usage: python3 bench/mapping_checks.py [--page 4096] [--devices 1,2,3] [--max-bar-size 1T]
Prints one row per check: property, policy, devices, verdict, seconds, work (z3 rlimit count).
"""

from __future__ import annotations

import argparse
import time

from barcheck.engine.pgoffcheck import RoundTripSettings, check_round_trip
from barcheck.engine.vmacheck import VmaSettings, check_vma
from model.policies import mapping_catalogue
from model.units import parse_size
from model.vma import vma_structure
from properties.revoke import VMA_PROPERTIES


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--page", type=int, default=4096)
    parser.add_argument("--devices", default="1,2")
    parser.add_argument("--max-bar-size", default=None)
    args = parser.parse_args()
    max_bar = parse_size(args.max_bar_size) if args.max_bar_size else None
    print(f"{'property':22} {'policy':14} {'devices':>7} {'verdict':15} {'seconds':>8} {'work':>12}")
    total = 0.0
    for devices in (int(d) for d in args.devices.split(",")):
        st = vma_structure(devices)
        for prop in VMA_PROPERTIES.values():
            for policy in mapping_catalogue():
                started = time.perf_counter()
                r = check_vma(prop, policy, st, args.page, VmaSettings(max_bar_bytes=max_bar))
                seconds = time.perf_counter() - started
                total += seconds
                print(f"{prop.id:22} {policy.name:14} {devices:7} {r.verdict.value:15} {seconds:8.2f} "
                      f"{r.solver.work:12}", flush=True)
    started = time.perf_counter()
    r = check_round_trip(mapping_catalogue()[0], args.page, RoundTripSettings(max_bar_bytes=max_bar))
    print(f"{'pgoff.round-trip':22} {'-':14} {'-':>7} {r.verdict.value:15} {time.perf_counter() - started:8.2f} "
          f"{r.solver.work:12}")
    print(f"total {total:.1f} s")


if __name__ == "__main__":
    main()
