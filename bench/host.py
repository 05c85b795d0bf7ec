"""Time `barcheck host` per machine dump, end to end (a fresh process each time), and the survey.

    python3 bench/host.py [DIR_OR_FILES...] [--repeat N]

Without arguments it uses the development set ../shared/data/pciconf-dev when present, and the
QEMU fixtures in tests/data/hostdumps/qemu otherwise.  Prints, per dump, the median wall time
of `barcheck host` (process start included) and the in-process parse + check time, then the
slowest dump and the time of `barcheck survey` over all of them.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from barcheck.hostcheck.report import check_host
from barcheck.hostdump import detect, load
from model.policies import get_policy

ROOT = Path(__file__).resolve().parents[1]
DEV_SET = ROOT.parent / "shared" / "data" / "pciconf-dev"
FIXTURES = ROOT / "tests" / "data" / "hostdumps" / "qemu"
PAGES = [4096, 16384, 65536]


def default_dumps() -> list[Path]:
    if DEV_SET.is_dir():
        return sorted(DEV_SET.glob("*.pciconf.txt"))
    return sorted(p for p in FIXTURES.rglob("*.txt") if p.name != "iomem-user.txt" and "command" not in p.name)


def wall(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def in_process(path: Path, repeat: int) -> float:
    policies = [get_policy("linux-4.7"), get_policy("linux-4.8")]
    fmt = detect(str(path))
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        check_host(load(fmt, str(path)), PAGES, policies, "linux-4.8")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    dumps = [Path(p) for p in args.paths] or default_dumps()
    exe = [sys.executable, "-m", "barcheck"]
    walls = []
    print(f"{'dump':<60} {'host (s)':>9} {'check (ms)':>11}")
    for path in dumps:
        fmt = detect(str(path))
        seconds = wall(exe + ["host", f"--{fmt}", str(path), "--format", "json"], args.repeat)
        walls.append(seconds)
        print(f"{path.name[:60]:<60} {seconds:9.3f} {1000 * in_process(path, args.repeat):11.1f}")
    print(f"barcheck host: {len(walls)} dumps, median {statistics.median(walls):.3f} s, max {max(walls):.3f} s")
    if dumps:
        started = time.perf_counter()
        subprocess.run(exe + ["survey", *map(str, dumps)], stdout=subprocess.DEVNULL, check=False)
        print(f"barcheck survey over {len(dumps)} dumps: {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
