"""Benchmark: the full catalogue matrix, cold and warm, and the cost of each counterexample.

Usage: python3 bench/matrix_catalogue.py [--jobs N] [--mode all|pair|trace] [--skip-full]

1. `barcheck matrix` (verdicts only) with an empty cache: cold.
2. The same command again on that cache: warm (every result loaded, counterexamples replayed).
3. `barcheck prove --format json` (the full engine: minimal cores, canonical counterexamples),
   and from its timings the seconds each counterexample took, minimisation included.
Prints wall seconds for each and the slowest checks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(command: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode not in (0, 1, 3):
        sys.exit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    return time.perf_counter() - started, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="2")
    parser.add_argument("--mode", default="all", choices=("all", "pair", "trace"))
    parser.add_argument("--skip-full", action="store_true", help="leave out the full-engine run (step 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        cache, out = Path(scratch) / "cache", Path(scratch) / "out"
        matrix = ["barcheck", "matrix", "--mode", args.mode, "--jobs", args.jobs, "--format", "all",
                  "--out", str(out), "--cache", str(cache), "--progress", "none"]
        cold, code = timed(matrix)
        doc = json.loads((out / "matrix.report.json").read_text())
        print(f"matrix --mode {args.mode}, {len(doc['results'])} checks, --jobs {args.jobs}")
        print(f"  cold (verdicts only, empty cache): {cold:8.2f} s  (exit {code})")
        warm, _ = timed(matrix)
        print(f"  warm (every result from the cache): {warm:8.2f} s")
        _slowest(doc["results"], "  slowest checks, verdicts only:")
        if args.skip_full:
            return 0
        full = Path(scratch) / "full"
        seconds, _ = timed(["barcheck", "prove", "--mode", args.mode, "--jobs", args.jobs, "--format", "json",
                            "--out", str(full), "--progress", "none"])
        results = json.loads((full / "report.json").read_text())["results"]
        print(f"  full engine (prove --mode {args.mode}: cores and canonical counterexamples): {seconds:8.2f} s")
        cexes = sorted((r["seconds"] for r in results if r["verdict"] == "counterexample"), reverse=True)
        if cexes:
            print(f"  counterexamples, minimisation included: {len(cexes)}, median {cexes[len(cexes) // 2]:.2f} s, "
                  f"max {cexes[0]:.2f} s, {sum(c <= 2.0 for c in cexes)} within 2 s")
        _slowest([r for r in results if r["verdict"] == "counterexample"], "  slowest counterexamples:")
    return 0


def _slowest(results: list[dict], title: str, count: int = 5) -> None:
    print(title)
    for r in sorted(results, key=lambda r: -r.get("seconds", 0))[:count]:
        print(f"    {r.get('seconds', 0):7.2f} s  {r['property']} [{r['kind']}] {r['policy']} {r['page_size']:#x}"
              f"  {r['verdict']}")


if __name__ == "__main__":
    sys.exit(main())
