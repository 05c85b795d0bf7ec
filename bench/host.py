"""Time `barcheck host` per machine dump, end to end (a fresh process each time), and the survey;
then on synthetic machines of 500 to 4,000 packed BARs.

    python3 bench/host.py [DIR_OR_FILES...] [--repeat N] [--packed 500,1000,2000,4000]

Without arguments it uses the development set ../shared/data/pciconf-dev when present, and the
QEMU fixtures in tests/data/hostdumps/qemu otherwise.  Prints, per dump, the median wall time
of `barcheck host` (process start included) and the in-process parse + check time, then the
slowest dump and the time of `barcheck survey` over all of them.

A packed machine is a pciconf dump of N devices with one 1K BAR each, back to back, so every
page is shared and every BAR needs a checked resource_alignment= fix: the worst case for the
analysis.  For each N it prints the end-to-end wall and CPU time of `barcheck host --format json`
(on a busy machine the wall time is the CPU time plus waiting), the in-process CPU time of parse +
check + render, and the CPU time per BAR; the target is 2,000 BARs in at most 2 s end to end.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from barcheck.host.render import render_json
from barcheck.host.report import check_host
from barcheck.host.dump import detect, load, pciconf
from model.policies import get_policy

ROOT = Path(__file__).resolve().parents[1]
DEV_SET = ROOT.parent / "shared" / "data" / "pciconf-dev"
FIXTURES = ROOT / "tests" / "data" / "hostdumps" / "qemu"
PAGES = [4096, 16384, 65536]
PACKED_COUNTS = "500,1000,2000,4000"
PACKED_BAR_BYTES = 1024
PACKED_BASE = 0xC0000000
TARGET_BARS, TARGET_SECONDS = 2000, 2.0


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


def packed_dump(count: int) -> str:
    """A pciconf dump of `count` devices with one 1K BAR each, back to back from PACKED_BASE."""
    lines = []
    for number in range(count):
        bus, slot = divmod(number, 32)
        lines += [f"none{number}@pci0:{bus}:{slot}:0:\tclass=0x0c0320 rev=0x02 hdr=0x00",
                  f"    bar   [10] = type Memory, range 32, base {PACKED_BASE + number * PACKED_BAR_BYTES:#x}, "
                  f"size {PACKED_BAR_BYTES}, enabled", ""]
    return "\n".join(lines)


def packed_in_process(text: str, repeat: int) -> float:
    """Median CPU time of parse + check + JSON rendering, in this process."""
    policies = [get_policy("linux-4.7"), get_policy("linux-4.8")]
    times = []
    for _ in range(repeat):
        started = time.process_time()
        render_json(check_host(pciconf.parse(text, "packed.txt"), PAGES, policies, "linux-4.8"))
        times.append(time.process_time() - started)
    return statistics.median(times)


def child_seconds(command: list[str], repeat: int) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of a fresh process; CPU time is what the
    machine's other load does not inflate."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def bench_packed(counts: list[int], repeat: int, exe: list[str]) -> None:
    print(f"\n{'packed BARs':>11} {'host wall (s)':>14} {'host CPU (s)':>13} {'check CPU (s)':>14} "
          f"{'per BAR (ms CPU)':>17}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="barcheck-bench-host-") as scratch:
        for count in counts:
            path = Path(scratch) / f"packed-{count}.pciconf.txt"
            text = packed_dump(count)
            path.write_text(text)
            seconds, cpu = child_seconds(exe + ["host", "--pciconf", str(path), "--format", "json"], repeat)
            results[count] = (seconds, cpu)
            print(f"{count:>11} {seconds:14.3f} {cpu:13.3f} {packed_in_process(text, repeat):14.3f} "
                  f"{1000 * cpu / count:17.3f}")
    if TARGET_BARS in results:
        seconds, cpu = results[TARGET_BARS]
        load = os.getloadavg()[0]
        print(f"target: {TARGET_BARS} packed BARs in at most {TARGET_SECONDS:.0f} s end to end: "
              f"{'met' if seconds <= TARGET_SECONDS else 'missed'} in wall time ({seconds:.2f} s), "
              f"{'met' if cpu <= TARGET_SECONDS else 'missed'} in CPU time ({cpu:.2f} s); "
              f"load average {load:.1f} on {os.cpu_count()} CPUs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--packed", default=PACKED_COUNTS, metavar="COUNTS",
                        help=f"comma-separated numbers of packed BARs (default {PACKED_COUNTS}; '' for none)")
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
    if walls:
        print(f"barcheck host: {len(walls)} dumps, median {statistics.median(walls):.3f} s, max {max(walls):.3f} s")
        started = time.perf_counter()
        subprocess.run(exe + ["survey", *map(str, dumps)], stdout=subprocess.DEVNULL, check=False)
        print(f"barcheck survey over {len(dumps)} dumps: {time.perf_counter() - started:.2f} s")
    counts = [int(count) for count in args.packed.split(",") if count.strip()]
    if counts:
        bench_packed(counts, args.repeat, exe)


if __name__ == "__main__":
    main()
