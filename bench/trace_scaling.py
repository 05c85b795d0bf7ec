"""Bounded and unbounded trace checking: time and solver work as devices and depth grow.

Usage: python3 bench/trace_scaling.py [--devices 1-8] [--depths 1-12] [--property ID] [--policy NAME]
                                      [--rlimit UNITS] [--csv FILE] [--plot DIR] [--from-csv FILE]

Prints one row per (devices, depth) for bounded checking (bmc), then one row per
device count for the unbounded proof (induction).  Verdicts are printed with the
numbers: an UNKNOWN is a budget overrun (--rlimit), and the deeper bounds of that
device count are then skipped (they unroll the same steps and more).  --csv writes
the rows; --plot writes seconds against devices and against depth as PNG and PDF.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from barcheck.engine.session import DEFAULT_RLIMIT
from barcheck.engine.tracecheck import TraceSettings, check_trace
from model.policies import get_policy
from model.system import standard_structure
from properties.trace import TRACE_PROPERTIES

FIELDS = ("method", "devices", "depth", "verdict", "seconds", "work")


def _ints(text: str) -> list[int]:
    values: list[int] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        low, _, high = part.partition("-")
        values += list(range(int(low), int(high or low) + 1))
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="1-3", help="e.g. 1-8 or 1,2,4")
    parser.add_argument("--depths", default="1-4", help="e.g. 1-12")
    parser.add_argument("--property", default="isolation.window")
    parser.add_argument("--policy", default="linux-4.8")
    parser.add_argument("--page-size", type=int, default=4096)
    parser.add_argument("--rlimit", type=int, default=DEFAULT_RLIMIT)
    parser.add_argument("--no-induction", action="store_true")
    parser.add_argument("--csv", metavar="FILE")
    parser.add_argument("--plot", metavar="DIR")
    parser.add_argument("--from-csv", metavar="FILE", help="only plot the rows of an earlier --csv into --plot DIR")
    args = parser.parse_args()
    if args.from_csv:
        with open(args.from_csv, newline="") as handle:
            rows = [{**r, "devices": int(r["devices"]), "depth": int(r["depth"]), "seconds": float(r["seconds"])}
                    for r in csv.DictReader(handle)]
        plot(rows, Path(args.plot or "."), f"{args.property} under {args.policy}")
        return
    prop, policy = TRACE_PROPERTIES[args.property], get_policy(args.policy)
    print(f"{args.property} under {args.policy}, {args.page_size}-byte pages, rlimit {args.rlimit}")
    print(f"{'method':10} {'devices':>7} {'depth':>5} {'verdict':15} {'seconds':>9} {'work':>14}")
    rows: list[dict] = []
    for devices in _ints(args.devices):
        for depth in _ints(args.depths):
            rows.append(_row("bmc", devices, depth, prop, policy, args))
            _save(rows, args.csv)
            if rows[-1]["verdict"] == "unknown":
                print(f"{'':10} {devices:7} {'':5} deeper bounds skipped after an unknown")
                break
    if not args.no_induction:
        for devices in _ints(args.devices):
            rows.append(_row("induction", devices, 0, prop, policy, args))
            _save(rows, args.csv)
    if args.plot:
        plot(rows, Path(args.plot), f"{args.property} under {args.policy}")


def _save(rows: list[dict], path: str | None) -> None:
    """Rewrite the CSV after every row, so a long run that is stopped keeps what it measured."""
    if not path:
        return
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _row(method: str, devices: int, depth: int, prop, policy, args) -> dict:
    settings = TraceSettings(method=method, depth=max(depth, 1), rlimit=args.rlimit)
    started = time.perf_counter()
    result = check_trace(prop, policy, standard_structure(devices), args.page_size, settings)
    seconds = time.perf_counter() - started
    shown = depth if method == "bmc" else "-"
    print(f"{method:10} {devices:7} {shown:>5} {result.verdict.value:15} {seconds:9.2f} {result.solver.work:14}",
          flush=True)
    return {"method": method, "devices": devices, "depth": depth, "verdict": result.verdict.value,
            "seconds": round(seconds, 3), "work": result.solver.work}


def plot(rows: list[dict], out: Path, title: str) -> None:
    """Seconds against devices (one line per depth) and against depth (one line per device count)."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    out.mkdir(parents=True, exist_ok=True)
    bmc = [r for r in rows if r["method"] == "bmc" and r["verdict"] != "unknown"]
    induction = [r for r in rows if r["method"] == "induction" and r["verdict"] != "unknown"]
    figure = Figure(figsize=(10, 4))
    by_devices, by_depth = figure.subplots(1, 2)
    for depth in sorted({r["depth"] for r in bmc}):
        points = sorted((r["devices"], r["seconds"]) for r in bmc if r["depth"] == depth)
        by_devices.plot(*zip(*points), marker="o", label=f"bmc depth {depth}")
    if induction:
        by_devices.plot(*zip(*sorted((r["devices"], r["seconds"]) for r in induction)), marker="s",
                        linestyle="--", color="black", label="induction (unbounded)")
    for devices in sorted({r["devices"] for r in bmc}):
        points = sorted((r["depth"], r["seconds"]) for r in bmc if r["devices"] == devices)
        by_depth.plot(*zip(*points), marker="o", label=f"{devices} device{'s' if devices != 1 else ''}")
    by_devices.set(xlabel="devices", ylabel="seconds", title="solver time against devices", yscale="log")
    by_depth.set(xlabel="trace depth (events)", ylabel="seconds", title="solver time against depth", yscale="log")
    from matplotlib.ticker import MaxNLocator
    for axes in (by_devices, by_depth):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(fontsize="small")
        axes.grid(True, alpha=0.3)
    figure.suptitle(f"{title} (unknown points, over the work limit, are left out)")
    figure.tight_layout()
    figure.savefig(out / "trace-scaling.png", dpi=150, metadata={"Software": None})
    figure.savefig(out / "trace-scaling.pdf", metadata={"Creator": None, "Producer": None, "CreationDate": None})


if __name__ == "__main__":
    main()
