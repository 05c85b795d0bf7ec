"""Bounded and unbounded trace checking: time and solver work as devices and depth grow.

Usage: python3 bench/trace_scaling.py [--devices 1,2,3] [--depths 1,2,3,4] [--property ID] [--policy NAME]
Prints one row per (devices, depth) for bounded checking, then one row per device count for the
unbounded (induction) proof.  Verdicts are printed with the numbers: an UNKNOWN is a budget overrun.
"""

from __future__ import annotations

import argparse
import time

from barcheck.tracecheck import TraceSettings, check_trace
from model.policies import get_policy
from model.system import standard_structure
from properties.trace import TRACE_PROPERTIES


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", default="1,2,3")
    parser.add_argument("--depths", default="1,2,3,4")
    parser.add_argument("--property", default="isolation.window")
    parser.add_argument("--policy", default="linux-4.8")
    parser.add_argument("--page-size", type=int, default=4096)
    args = parser.parse_args()
    prop, policy = TRACE_PROPERTIES[args.property], get_policy(args.policy)
    print(f"{'method':10} {'devices':>7} {'depth':>5} {'verdict':15} {'seconds':>9} {'work':>14}")
    for devices in _ints(args.devices):
        for depth in _ints(args.depths):
            _row("bmc", devices, depth, prop, policy, args.page_size)
    for devices in _ints(args.devices):
        _row("induction", devices, 0, prop, policy, args.page_size)


def _row(method: str, devices: int, depth: int, prop, policy, page: int) -> None:
    settings = TraceSettings(method=method, depth=max(depth, 1))
    started = time.perf_counter()
    result = check_trace(prop, policy, standard_structure(devices), page, settings)
    seconds = time.perf_counter() - started
    shown = depth if method == "bmc" else "-"
    print(f"{method:10} {devices:7} {shown:>5} {result.verdict.value:15} {seconds:9.2f} {result.solver.work:14}",
          flush=True)


if __name__ == "__main__":
    main()
