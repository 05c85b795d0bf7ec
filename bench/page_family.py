"""Trace checks at several page sizes: each page proved on its own, against one shared proof per page family.

Usage: python3 bench/page_family.py [--policy NAME ...] [--property ID ...] [--pages 4K,16K,64K] [--devices N]

For every (policy, property) it runs the checks of all the pages twice in this process, with the
memo of inductive steps emptied before each side: once with each page size on its own, once
with the pages as one family (what `barcheck prove` and `matrix` do when given several page
sizes).  Prints seconds for both sides, their ratio, and whether every verdict agrees.
"""

from __future__ import annotations

import argparse
import time

from barcheck.engine import procedure
from barcheck.engine.tracecheck import TraceSettings, check_trace
from model.policies import get_policy
from model.system import standard_structure
from model.units import parse_size
from properties.trace import TRACE_PROPERTIES

DEFAULT_CHECKS = (("linux-4.8", "isolation.window"), ("linux-4.8", "dummy.no-leak"),
                  ("v3-per-bar", "dummy.held-while-mapped"), ("v3-per-bar", "hotplug.no-placement-in-mapped-page"))


def _side(prop_id: str, policy_name: str, pages: tuple[int, ...], devices: int, family: bool) -> tuple[float, list]:
    procedure._INDUCTIVE.clear()
    settings = TraceSettings(page_family=pages if family else ())
    started = time.perf_counter()
    verdicts = [check_trace(TRACE_PROPERTIES[prop_id], get_policy(policy_name), standard_structure(devices), page,
                            settings).verdict.value for page in pages]
    return time.perf_counter() - started, verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", action="append")
    parser.add_argument("--property", action="append")
    parser.add_argument("--pages", default="4K,16K,64K")
    parser.add_argument("--devices", type=int, default=3)
    args = parser.parse_args()
    pages = tuple(sorted({parse_size(p) for p in args.pages.split(",")}))
    checks = ([(pol, prop) for pol in args.policy for prop in (args.property or sorted(TRACE_PROPERTIES))]
              if args.policy else [c for c in DEFAULT_CHECKS if not args.property or c[1] in args.property])
    print(f"pages {', '.join(map(str, pages))}; {args.devices} devices")
    print(f"{'policy':12} {'property':40} {'alone s':>8} {'family s':>9} {'ratio':>6}  verdicts")
    totals = [0.0, 0.0]
    for policy_name, prop_id in checks:
        alone, alone_verdicts = _side(prop_id, policy_name, pages, args.devices, family=False)
        shared, shared_verdicts = _side(prop_id, policy_name, pages, args.devices, family=True)
        totals[0] += alone
        totals[1] += shared
        same = "same" if alone_verdicts == shared_verdicts else f"DIFFER {alone_verdicts} {shared_verdicts}"
        print(f"{policy_name:12} {prop_id:40} {alone:8.2f} {shared:9.2f} {alone / shared:6.2f}  "
              f"{','.join(shared_verdicts)} ({same})", flush=True)
    print(f"{'total':53} {totals[0]:8.2f} {totals[1]:9.2f} {totals[0] / totals[1]:6.2f}")


if __name__ == "__main__":
    main()
