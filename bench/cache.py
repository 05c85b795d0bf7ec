"""Benchmark: what the `--cache` checks cost (JSON entries, HMAC, ownership checks) on a hit and on a miss.

Usage: python3 bench/cache.py [--repeat N] [--entries N]

Solves one cheap job of every engine, stores each, then times per entry (median of --repeat calls):
  put      encode to JSON, decode again to prove it survives, MAC, write (on a miss, after solving);
  hit      read (O_NOFOLLOW, fstat), MAC, JSON decode, and the replay of a cached counterexample;
  old hit  what the pickle cache did on a hit: read, pickle.loads and the same replay;
  miss     looking up a job that has no entry.
and the cost of opening a cache of --entries entries (every shard and entry is lstat'ed).
Prints milliseconds; the numbers vary with the machine, not with the results.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def per_call_ms(action, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--entries", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["XDG_CACHE_HOME"] = str(Path(scratch) / "home")
        from barcheck.run import cache as cache_module
        from barcheck.run.jobs import execute
        cache = cache_module.open_cache(str(Path(scratch) / "cache"))
        print(f"{'engine':<11} {'verdict':<15} {'bytes':>7} {'put':>7} {'hit':>7} {'old hit':>8}")
        for job in cheap_jobs():
            outcome = execute(job)
            put = per_call_ms(lambda: cache.put(job, outcome), max(1, args.repeat // 5))
            hit = per_call_ms(lambda: cache.get(job), args.repeat)
            pickled = Path(scratch) / "entry.pickle"
            pickled.write_bytes(pickle.dumps(outcome))
            old = per_call_ms(lambda: cache_module._still_replays(pickle.loads(pickled.read_bytes())), args.repeat)
            verdict = getattr(outcome, "verdict", None)
            print(f"{job.engine:<11} {verdict.value if verdict else 'measure':<15} "
                  f"{cache.entry_path(job).stat().st_size:>7} {put:7.2f} {hit:7.2f} {old:8.2f}")
        assert not cache.write_errors and not cache.rejected, (cache.write_errors, cache.rejected)
        missing = dataclasses.replace(cheap_jobs()[0], page_bytes=1 << 40)
        print(f"miss (no entry): {per_call_ms(lambda: cache.get(missing), args.repeat):.3f} ms")
        _time_open(Path(scratch) / "big", args.entries, cache_module)
    return 0


def cheap_jobs() -> list:
    """One quick check of every engine (counterexamples of each kind of trace, a proof and a measure)."""
    from barcheck.engine.checker import Settings
    from barcheck.run.jobs import MEASURE, PAIR, RECORD, ROUND_TRIP, TRACE, VMA, Job
    from barcheck.engine.msixmeasure import MeasureSettings
    from barcheck.engine.pgoffcheck import RoundTripSettings
    from barcheck.engine.recordcheck import RecordSettings
    from barcheck.engine.vmacheck import VmaSettings
    from barcheck.engine.tracecheck import TraceSettings
    return [Job(PAIR, "probe.idempotent", "v3-per-bar", 4096, Settings()),
            Job(PAIR, "probe.idempotent", "linux-4.8", 4096, Settings()),
            Job(RECORD, "msix.table-protected", "linux-4.16", 4096, RecordSettings()),
            Job(ROUND_TRIP, "pgoff.round-trip", "linux-6.10", 4096, RoundTripSettings()),
            Job(TRACE, "probe.idempotent", "v3-per-bar", 4096, TraceSettings(method="bmc", depth=2), 1),
            Job(TRACE, "probe.idempotent", "v3-per-bar", 4096, TraceSettings(), 2),
            Job(VMA, "revoke.complete", "rfc-2021", 4096, VmaSettings(method="bmc", depth=4), 1),
            Job(MEASURE, "msix.mappable-fraction", "linux-4.8", 65536, MeasureSettings(bar_sizes=(0x4000,)))]


def _time_open(directory: Path, count: int, cache_module) -> None:
    cache_module.open_cache(str(directory))
    for number in range(count):
        name = f"{number:064x}"[::-1]
        shard = directory / name[:2]
        shard.mkdir(mode=0o700, exist_ok=True)
        (shard / f"{name}.json").write_bytes(b"{}")
        (shard / f"{name}.json").chmod(0o600)
    print(f"open a cache of {count} entries (ownership checks of every file): "
          f"{per_call_ms(lambda: cache_module.open_cache(str(directory)), 10):.2f} ms")


if __name__ == "__main__":
    sys.exit(main())
