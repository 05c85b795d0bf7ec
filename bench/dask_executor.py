"""Benchmark: one small selection with the local process pool (`--jobs 2`) and on Dask (`--scheduler local
--jobs 2`, which starts and closes a LocalCluster), as wall time of the whole command.

Usage: python3 bench/dask_executor.py [--repeat N] [-- SELECTION...]

Each run is a fresh `python3 -m barcheck` process, so imports, the pool or cluster start-up and its
shutdown are all counted; with --repeat the median is printed.  The two outputs must be byte-identical,
and the script says so.  Needs the dask extra (pip install 'barcheck[dask]').
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SELECTION = ["prove", "--policy", "linux-4.8", "--property", "isolation.window", "--page-size", "4K,64K",
             "--format", "json", "--no-timings"]
MODES = {"local pool (--jobs 2)": ["--jobs", "2"],
         "Dask (--scheduler local --jobs 2)": ["--scheduler", "local", "--jobs", "2"]}


def timed_run(argv: list[str]) -> tuple[float, int, bytes]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "barcheck", *argv], capture_output=True, check=False, cwd=ROOT,
                          timeout=900)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1, 3):
        sys.exit(f"barcheck {' '.join(argv)} exited {done.returncode}: {done.stderr.decode(errors='replace')}")
    return seconds, done.returncode, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each mode, alternating (median printed)")
    parser.add_argument("selection", nargs="*", help="barcheck arguments (default: %(default)s)", default=SELECTION)
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
    outputs: dict[str, set[tuple[int, bytes]]] = {mode: set() for mode in MODES}
    for _ in range(args.repeat):
        for mode, extra in MODES.items():
            wall, code, out = timed_run(args.selection + extra)
            seconds[mode].append(wall)
            outputs[mode].add((code, out))
    print(f"selection: barcheck {' '.join(args.selection)}  ({args.repeat} run(s) each, median wall time)")
    for mode in MODES:
        print(f"  {mode:<36} {statistics.median(seconds[mode]):7.2f} s")
    identical = len(set.union(*outputs.values())) == 1
    print(f"  outputs byte-identical: {'yes' if identical else 'NO'}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
