"""How long the patch gate takes on examples/policies/munmap_release.py, and what it costs to choose.

Prints, for one run each (wall seconds, exit code, rows):
- the recording alone: which checks read the file's members (barcheck/run/depends.py);
- `barcheck diff --policy linux-4.8 --policy munmap_release.py` with the default selection at 4K,
  with 3 device slots (the default) and with 2, and with 2 slots and a 40M budget (the CI setting).

    python3 bench/patch_gate.py [--skip-slow]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "examples" / "policies" / "munmap_release.py"
BASE = ["diff", "--policy", "linux-4.8", "--policy", str(POLICY), "--page-size", "4K", "--format", "json",
        "--progress", "none", "--jobs", "2"]


def timed(argv: list[str]) -> tuple[float, int, dict]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "barcheck", *argv], capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError:
        doc = {"error": proc.stderr.strip()[-200:]}
    return seconds, proc.returncode, doc


def recording_seconds() -> float:
    sys.path.insert(0, str(ROOT))
    import argparse as ap

    from barcheck.cli.args import named_policy
    from barcheck.cli.prove import plan_checks
    from barcheck.cli.patchgate import dependent_checks, overridden_members
    policy = named_policy(str(POLICY))
    args = ap.Namespace(policy=[str(POLICY)], property=[], page_size=["4K"], seed=0, rlimit=400_000_000,
                        mode="all", mode_given=False, method="induction", depth=6, devices=None, max_bar_size=None,
                        no_unsafe_interrupts=False, placement="any-free", events="kernel", verdicts_only=False)
    started = time.perf_counter()
    plan = plan_checks(args, [policy])
    keep = dependent_checks(plan.jobs + plan.measure_jobs, {policy.name: policy}, overridden_members(policy),
                            {policy.name})
    seconds = time.perf_counter() - started
    print(f"recording: {len(plan.jobs) + len(plan.measure_jobs)} candidate checks, {len(keep)} kept "
          f"({', '.join(sorted(f'{p} ({e})' for e, p in keep))}): {seconds:.2f} s")
    return seconds


def show(label: str, argv: list[str]) -> None:
    seconds, code, doc = timed(argv)
    summary = doc.get("summary", doc)
    changed = {k: v for k, v in summary.items() if v} if isinstance(summary, dict) else summary
    print(f"{label:48} {seconds:8.1f} s  exit {code}  {changed}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-slow", action="store_true", help="leave out the 3-slot default-budget diff")
    args = parser.parse_args()
    recording_seconds()
    show("default diff, 2 slots, 40M budget (CI)", BASE + ["--devices", "2", "--rlimit", "40000000"])
    show("default diff, 2 slots", BASE + ["--devices", "2"])
    if not args.skip_slow:
        show("default diff, 3 slots (the default)", BASE)


if __name__ == "__main__":
    main()
