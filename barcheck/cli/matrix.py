"""`barcheck matrix`: the results table for a paper, in LaTeX (booktabs), CSV and Markdown."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, TextIO

from barcheck.render.matrix import FORMATS, TIME_MODES, render

REPRO_SCHEMA = "barcheck.repro/1"
ALL = "all"


def add_command(commands, add_selection_arguments: Callable[[argparse.ArgumentParser], None]) -> None:
    matrix = commands.add_parser(
        "matrix", help="the results table: policies by property and page size, in LaTeX, CSV or Markdown")
    matrix.add_argument("--format", choices=sorted(FORMATS) + [ALL], default="md",
                        help="all writes matrix.md, matrix.csv and matrix.tex (needs --out)")
    matrix.add_argument("--out", metavar="DIR",
                        help="write the table(s), matrix.report.json (the results) and matrix.repro.json "
                             "(versions, seeds, rlimits, platform) into DIR")
    matrix.add_argument("--time", choices=TIME_MODES, default="seconds",
                        help="what a cell shows beside the verdict: wall-clock seconds, z3 work units "
                             "(deterministic: a fresh run gives byte-identical tables) or nothing")
    matrix.add_argument("--from", dest="source", metavar="REPORT.json",
                        help="render a saved barcheck.result/1 document (prove --format json, or "
                             "matrix.report.json) instead of solving")
    matrix.add_argument("--full", dest="verdicts_only", action="store_false",
                        help="also minimise every counterexample and proof core, as prove does "
                             "(slower; the cells are the same)")
    add_selection_arguments(matrix)
    matrix.set_defaults(mode="all", verdicts_only=True)


def matrix_command(args: argparse.Namespace, argv: list[str], stdout: TextIO, stderr: TextIO,
                   usage_error: type[Exception]) -> int:
    from barcheck.cli.catalogue import load_document
    from barcheck.cli.prove import exit_code_for_doc, solve_selection
    from barcheck.cli.util import check_out_dir, write_atomically
    from barcheck.render.text import document
    if args.format == ALL and not args.out:
        raise usage_error("--format all writes three files: give --out DIR")
    if args.out:
        check_out_dir(Path(args.out))
    if args.source:
        doc = load_document(args.source, usage_error)
        solved_here = False
    else:
        results, measures, meta = solve_selection(args, stderr)
        meta["inputs_sha256"] = _inputs_digest()
        doc = document(results, meta, measures, timings=args.time == "seconds")
        solved_here = True
    if not doc["results"]:
        raise usage_error("the selection has no checks: nothing to tabulate")
    formats = sorted(FORMATS) if args.format == ALL else [args.format]
    try:
        tables = {f"matrix.{FORMATS[fmt]}": render(doc, fmt, args.time) for fmt in formats}
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        if not args.source:
            raise
        raise usage_error(f"--from {args.source}: a result lacks a field the matrix needs "
                          f"({type(err).__name__}: {err})") from None
    if not args.out:
        stdout.write(tables[f"matrix.{FORMATS[args.format]}"])
        return exit_code_for_doc(doc)
    files = dict(tables)
    if solved_here:
        files["matrix.report.json"] = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    files["matrix.repro.json"] = json.dumps(repro_record(doc, argv, args, solved_here), indent=2) + "\n"
    out = Path(args.out)
    for name, text in sorted(files.items()):
        write_atomically(out, name, text)
    stdout.write(f"wrote {len(files)} files into {out}: {len(doc['results'])} checks in "
                 f"{len(set(r['policy'] for r in doc['results']))} policies\n")
    return exit_code_for_doc(doc)


def _inputs_digest() -> str:
    from barcheck.engine.sources import inputs_digest
    return inputs_digest()


def repro_record(doc: dict[str, Any], argv: list[str], args: argparse.Namespace, solved_here: bool) -> dict[str, Any]:
    """What a reader needs to regenerate the table: versions, seeds, work limits, code and machine."""
    meta = doc.get("meta", {})
    record = {
        "schema": REPRO_SCHEMA,
        "barcheck_version": meta.get("barcheck_version"),
        "z3_version": meta.get("z3_version"),
        "seed": meta.get("seed"),
        "rlimit": meta.get("rlimit"),
        "width_bits": meta.get("width_bits"),
        "verdicts_only": bool(meta.get("verdicts_only")),
        "model_sources_sha256": meta.get("inputs_sha256"),
        "selection": {"policies": meta.get("policies"), "properties": meta.get("properties"),
                      "page_sizes": meta.get("page_sizes")},
        "checks": len(doc["results"]),
        "time": args.time,
        "command": ["barcheck", *argv],
        "git": git_state(),
        "platform": platform_record(),
    }
    if not solved_here:
        record["rendered_from"] = args.source
    return record


def git_state() -> dict[str, Any] | None:
    """The commit of the source tree barcheck runs from, or None outside a git checkout."""
    from barcheck.engine.sources import PROJECT_ROOT as root
    if not (root / ".git").exists():
        return None
    try:
        commit = _git(root, "rev-parse", "HEAD")
        dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"commit": commit, "dirty": dirty}


def _git(root: Path, *command: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *command], capture_output=True, text=True, check=True,
                          timeout=30)
    return done.stdout.strip()


def platform_record() -> dict[str, Any]:
    return {"python": sys.version.split()[0], "implementation": platform.python_implementation(),
            "system": platform.system(), "release": platform.release(), "machine": platform.machine(),
            "cpus": os.cpu_count()}
