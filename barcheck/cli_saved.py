"""`barcheck replay`, `explain` and `export-test`: working with saved counterexamples."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable, TextIO

from barcheck.export import EXPECTATIONS, pytest_function_name, pytest_source
from barcheck.report.pages import cex_markdown, cex_text, label
from barcheck.savedcex import SavedCexError, load
from barcheck.wire import WireError
from barcheck.witness import NO_LONGER_VIOLATES, NOT_A_VALID_INPUT, STILL_VIOLATES, replay_witness

EXIT_HOLDS, EXIT_VIOLATES, EXIT_INVALID = 0, 1, 3
STATUS_TEXT = {STILL_VIOLATES: "STILL VIOLATES", NO_LONGER_VIOLATES: "NO LONGER VIOLATES",
               NOT_A_VALID_INPUT: "INVALID INPUT"}


def add_commands(commands, positive: Callable) -> None:
    replay = commands.add_parser("replay", help="replay saved counterexamples on the concrete semantics; exit 1 if "
                                                "any still violates, 0 if none does, 3 if an input is no longer valid")
    replay.add_argument("cex", nargs="+", metavar="CEX.json")
    replay.add_argument("--policy-file", action="append", default=[], metavar="PATH.py",
                        help="load a user policy a counterexample names (its Python code runs); repeatable")
    explain = commands.add_parser("explain", help="print the human-readable report of saved counterexamples")
    explain.add_argument("cex", nargs="+", metavar="CEX.json")
    explain.add_argument("--format", choices=("text", "md"), default="text")
    export = commands.add_parser("export-test", help="write each saved counterexample as a pytest regression test")
    export.add_argument("cex", nargs="+", metavar="CEX.json")
    export.add_argument("--out", metavar="DIR", required=True, help="directory for the test_*.py files")
    export.add_argument("--expect", choices=EXPECTATIONS, default="holds",
                        help="holds: the test fails while the bug is there (guards a fix); violates: the test "
                             "fails once the inputs stop violating (pins a known bug)")


def _load_all(paths: list[str], usage_error: type[Exception]) -> list[tuple[str, dict]]:
    loaded = []
    for path in paths:
        try:
            _, results = load(path)
        except SavedCexError as err:
            raise usage_error(str(err)) from None
        loaded += [(path, result) for result in results]
    return loaded


def replay_command(args: argparse.Namespace, stdout: TextIO, usage_error: type[Exception]) -> int:
    from barcheck.userpolicy import PolicyFileError, load_policy_file
    for policy_file in args.policy_file:
        try:
            load_policy_file(policy_file)
        except PolicyFileError as err:
            raise usage_error(f"--policy-file: {err}") from None
    statuses = []
    for path, result in _load_all(args.cex, usage_error):
        try:
            outcome = replay_witness(result["replay"])
        except WireError as err:
            hint = ("; for a user policy, give its file with --policy-file PATH.py"
                    if "unknown policy" in str(err) else "")
            raise usage_error(f"{path}: {result['id']}: {err}{hint}") from None
        statuses.append(outcome.status)
        stdout.write(f"{STATUS_TEXT[outcome.status]:18} {label(result)}: {outcome.detail}\n")
    if STILL_VIOLATES in statuses:
        return EXIT_VIOLATES
    return EXIT_INVALID if NOT_A_VALID_INPUT in statuses else EXIT_HOLDS


def explain_command(args: argparse.Namespace, stdout: TextIO, usage_error: type[Exception]) -> int:
    texts = []
    for path, result in _load_all(args.cex, usage_error):
        if args.format == "md":
            names = [f"{result['id']}-{n}.svg" for n in range(1, len(result.get("maps", [])) + 1)]
            texts.append(cex_markdown(result, names, path))
        else:
            texts.append(cex_text(result, path))
    stdout.write("\n".join(texts))
    return EXIT_HOLDS


def export_command(args: argparse.Namespace, stdout: TextIO, usage_error: type[Exception], write) -> int:
    chosen = _load_all(args.cex, usage_error)
    for path, result in chosen:
        name = f"{pytest_function_name(result)}.py"
        written = write(Path(args.out), name, pytest_source(result, args.expect, path))
        stdout.write(f"wrote {written}\n")
    return EXIT_HOLDS
