"""Benchmark: the engine against an earlier revision, both sides in one run, on the same machine.

Usage: python3 bench/engine_speed.py [--baseline REF] [--jobs N] [--only matrix,main,checks,agreement]

For REF (default: the commit before the one-engine work, 06ce46e) a temporary git worktree
is made, and each command runs once with that tree first on PYTHONPATH and once with this
one, through `python3 -m barcheck`:
  matrix  `barcheck matrix --mode all` cold (verdicts only, an empty cache), --jobs N
  main    the README's main job, `barcheck prove --mode all` (cores, canonical counterexamples)
  checks  single checks named in the issue: a pair proof with its minimal core, the slowest
          trace proof, a trace counterexample
  agreement  the self-test's solver-against-enumeration section (the integer oracle's speed)
Prints wall seconds per side and the ratio, and whether the verdicts agree check by check.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BASELINE = "06ce46e"
SINGLE_CHECKS = (
    ("pair proof + core", ["prove", "--policy", "linux-4.8", "--property", "isolation.window", "--page-size", "4K"]),
    ("trace proof", ["prove", "--mode", "trace", "--policy", "v3-per-bar", "--property", "dummy.held-while-mapped",
                     "--page-size", "16K"]),
    ("trace cex", ["prove", "--mode", "trace", "--policy", "rfc-2021", "--property", "pgoff.region-of-vma",
                   "--page-size", "4K"]),
)


def run(tree: Path, argv: list[str], out: Path) -> tuple[float, dict]:
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONHASHSEED="0")
    output_format = "all" if argv[0] == "matrix" else "json"
    command = [sys.executable, "-m", "barcheck", *argv, "--format", output_format, "--out", str(out),
               "--progress", "none"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tree)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1, 3):
        sys.exit(f"{' '.join(argv)} under {tree} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    report = next(out.glob("*report.json"), None)
    if report is None:
        sys.exit(f"{' '.join(argv)} under {tree} wrote no report.json")
    return seconds, json.loads(report.read_text())


def verdicts(doc: dict) -> dict:
    return {(r["property"], r["kind"], r["policy"], r["page_size"]): r["verdict"] for r in doc["results"]}


def compare(label: str, argv: list[str], base: Path, scratch: Path) -> None:
    old_s, old_doc = run(base, argv, scratch / f"{label}-old")
    new_s, new_doc = run(ROOT, argv, scratch / f"{label}-new")
    old_v, new_v = verdicts(old_doc), verdicts(new_doc)
    differ = sorted(k for k in old_v.keys() | new_v.keys() if old_v.get(k) != new_v.get(k))
    agree = "verdicts agree" if not differ else f"{len(differ)} VERDICTS DIFFER: {differ[:5]}"
    print(f"{label:20} baseline {old_s:8.2f} s   now {new_s:8.2f} s   x{old_s / new_s:5.2f}   "
          f"{len(new_v)} checks, {agree}")


def run_agreement(tree: Path, jobs: str, out: Path) -> tuple[float, dict]:
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONHASHSEED="0")
    command = [sys.executable, "-m", "barcheck", "selftest", "--section", "agreement", "--jobs", jobs,
               "--format", "json", "--no-timings", "--out", str(out)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tree)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"selftest under {tree} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return seconds, json.loads((out / "selftest.json").read_text())["agreement"]


def compare_agreement(jobs: str, base: Path, scratch: Path) -> None:
    old_s, old = run_agreement(base, jobs, scratch / "agreement-old")
    new_s, new = run_agreement(ROOT, jobs, scratch / "agreement-new")
    same = "same document" if old == new else "DOCUMENTS DIFFER"
    print(f"{'selftest agreement':20} baseline {old_s:8.2f} s   now {new_s:8.2f} s   x{old_s / new_s:5.2f}   "
          f"{new['cases']} cases, {new['agree']} agree, {same}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE)
    parser.add_argument("--jobs", default="2")
    parser.add_argument("--only", default="checks,matrix,main")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch, base = Path(scratch_dir), Path(scratch_dir) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", "--force", str(base), args.baseline],
                       cwd=ROOT, check=True, capture_output=True)
        try:
            print(f"baseline {args.baseline} vs working tree, --jobs {args.jobs}, {os.cpu_count()} cores")
            if "checks" in wanted:
                for label, argv in SINGLE_CHECKS:
                    compare(label, argv + ["--jobs", "1"], base, scratch)
            if "matrix" in wanted:
                compare("matrix (cold)", ["matrix", "--mode", "all", "--jobs", args.jobs], base, scratch)
            if "main" in wanted:
                compare("prove --mode all", ["prove", "--mode", "all", "--jobs", args.jobs], base, scratch)
            if "agreement" in wanted:
                compare_agreement(args.jobs, base, scratch)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
