"""`barcheck selftest`: the trust harness (mutants, solver/enumeration agreement, coverage, fuzzing, limits)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TextIO

from barcheck.cli.util import UsageError, check_out_dir, write_atomically

EXIT_PASS, EXIT_FAIL, EXIT_INCONCLUSIVE = 0, 1, 3


def add_command(commands, positive) -> None:
    from barcheck.selftest.run import SECTIONS
    sub = commands.add_parser("selftest", help="kill the kernel-bug mutants, cross-check the solver against "
                                               "enumeration, check coverage, fuzz the parsers")
    sub.add_argument("--section", action="append", default=[], choices=SECTIONS,
                     help="run only this part (repeatable; default: all)")
    sub.add_argument("--mutant", action="append", default=[], metavar="SLUG",
                     help="only this mutant (repeatable; see --list-mutants)")
    sub.add_argument("--list-mutants", action="store_true", help="print the mutant catalogue and stop")
    sub.add_argument("--fuzz-inputs", type=positive, default=2000, metavar="N", help="fuzz inputs per target")
    sub.add_argument("--jobs", type=positive, default=min(2, os.cpu_count() or 1),
                     help="worker processes (default: up to 2)")
    sub.add_argument("--seed", type=int, default=0, help="solver and fuzzer seed")
    sub.add_argument("--format", choices=("text", "json"), default="text")
    sub.add_argument("--out", metavar="DIR", help="write selftest.<ext> into DIR instead of stdout")
    sub.add_argument("--no-timings", action="store_true",
                     help="leave out seconds, so the same input gives byte-identical output")


def selftest_command(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from barcheck.selftest.mutants import MUTANTS
    if args.list_mutants:
        for m in MUTANTS:
            flag = " (equivalent)" if m.equivalent else ""
            stdout.write(f"{m.slug:40} {m.base:30} {m.aspect:9} {m.bug}{flag}\n")
        return EXIT_PASS
    known = {m.slug for m in MUTANTS}
    unknown = [slug for slug in args.mutant if slug not in known]
    if unknown:
        raise UsageError(f"--mutant: unknown mutant {unknown[0]!r} (see barcheck selftest --list-mutants)")
    from barcheck.cli.args import SOLVER_UINT_MAX
    if not 0 <= args.seed <= SOLVER_UINT_MAX:
        raise UsageError(f"--seed: {args.seed} is not from 0 to {SOLVER_UINT_MAX} (z3 takes a 32-bit seed)")
    if args.out:
        check_out_dir(Path(args.out))
    return _run(args, stdout)


def _run(args: argparse.Namespace, stdout: TextIO) -> int:
    from barcheck.selftest.render import FAIL, PASS, document, render_json, render_text
    from barcheck.selftest.run import SECTIONS, Options, run
    sections = tuple(s for s in SECTIONS if s in args.section) if args.section else SECTIONS
    if args.mutant and "mutants" not in sections:
        raise UsageError("--mutant: the mutants section is not selected")
    options = Options(sections, tuple(dict.fromkeys(args.mutant)), args.fuzz_inputs, args.jobs, args.seed)
    doc = document(run(options), args.seed, timings=not args.no_timings)
    text = render_json(doc) if args.format == "json" else render_text(doc)
    if args.out:
        path = write_atomically(Path(args.out), f"selftest.{args.format if args.format == 'json' else 'txt'}", text)
        stdout.write(f"wrote {path}: {doc['verdict']}\n")
    else:
        stdout.write(text)
    return {PASS: EXIT_PASS, FAIL: EXIT_FAIL}.get(doc["verdict"], EXIT_INCONCLUSIVE)
