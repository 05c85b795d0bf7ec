"""Time what reviewers and CI do with saved results: render every format, replay every counterexample.

    python3 bench/reports.py [--report reports/report.json] [--repeat N]

Prints the median wall time to render each format of the catalogue document,
the number of address maps and files, and the median time to replay every
counterexample in it on the concrete semantics (by engine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

from barcheck.cli.catalogue import render_catalogue
from barcheck.render.formats import render_doc
from barcheck.engine.witness import replay_witness


def median_seconds(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--report", default="reports/report.json")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    doc = json.loads(Path(args.report).read_text())
    cexes = [r for r in doc["results"] if r["verdict"] == "counterexample"]
    maps = sum(len(r["maps"]) for r in cexes)
    print(f"{len(doc['results'])} results, {len(cexes)} counterexamples, {maps} address maps")
    for fmt in ("sarif", "junit", "html"):
        seconds = median_seconds(lambda: render_doc(fmt, doc, "report"), args.repeat)
        print(f"render {fmt:6} {seconds:8.3f} s")
    files = render_catalogue(doc)
    seconds = median_seconds(lambda: render_catalogue(doc), args.repeat)
    size_bytes = sum(len(text.encode()) for text in files.values())
    print(f"render reports/ ({len(files)} files, {size_bytes / 1e6:.1f} MB) {seconds:8.3f} s")
    by_engine: dict[str, list[float]] = defaultdict(list)
    for result in cexes:
        started = time.perf_counter()
        replay_witness(result["replay"])
        by_engine[result["replay"]["engine"]].append(time.perf_counter() - started)
    for engine, times in sorted(by_engine.items()):
        print(f"replay {engine:10} {len(times):4} counterexamples  median {statistics.median(times) * 1000:8.1f} ms  "
              f"max {max(times) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
