"""The `barcheck` command.  `main()` returns the exit code; `run()` exits with it."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Sequence, TextIO

import barcheck
from barcheck.checker import Settings, check
from barcheck.render import RENDERERS, summary_line
from barcheck.smt.solver import DEFAULT_RLIMIT, DEFAULT_SEED, z3_version
from barcheck.verdict import InternalError, Result, Verdict
from model.policies import BUILTIN, Policy, UnknownPolicy, get_policy
from model.units import PRESET_PAGE_SIZES, SizeError, parse_page_sizes
from properties import REGISTRY, Property, UnknownProperty, get_property

EXIT_PROVED, EXIT_COUNTEREXAMPLE, EXIT_USAGE, EXIT_INCONCLUSIVE, EXIT_INTERNAL = 0, 1, 2, 3, 70


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="barcheck", description="Prove or refute vfio-pci BAR isolation properties.")
    parser.add_argument("--version", action="version", version=f"barcheck {barcheck.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("list", help="list properties and policies")
    prove = commands.add_parser("prove", help="check policies against properties at page sizes")
    prove.add_argument("--policy", action="append", default=[], metavar="NAME")
    prove.add_argument("--property", action="append", default=[], metavar="ID")
    prove.add_argument("--page-size", action="append", default=[], metavar="LIST",
                       help="comma-separated page sizes, e.g. 4K,16K,64K (default)")
    prove.add_argument("--format", choices=sorted(RENDERERS), default="text")
    prove.add_argument("--out", metavar="DIR", help="write report.<ext> into DIR instead of stdout")
    prove.add_argument("--seed", type=_non_negative, default=DEFAULT_SEED)
    prove.add_argument("--rlimit", type=_positive, default=DEFAULT_RLIMIT,
                       help="solver work budget per call (z3 resource units)")
    return parser


def _non_negative(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a decimal integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not positive")
    return value


def _select_policies(names: list[str]) -> list[Policy]:
    try:
        return [get_policy(name) for name in dict.fromkeys(names)] if names else list(BUILTIN.values())
    except UnknownPolicy as err:
        raise UsageError(f"--policy: {err}") from None


def _select_properties(ids: list[str]) -> list[Property]:
    try:
        return [get_property(i) for i in dict.fromkeys(ids)] if ids else list(REGISTRY.values())
    except UnknownProperty as err:
        raise UsageError(f"--property: {err}") from None


def _select_pages(texts: list[str]) -> list[int]:
    if not texts:
        return list(PRESET_PAGE_SIZES)
    pages: set[int] = set()
    for text in texts:
        try:
            pages.update(page.size_bytes for page in parse_page_sizes(text))
        except SizeError as err:
            raise UsageError(f"--page-size {text!r}: {err}") from None
    return sorted(pages)


def exit_code_for(results: list[Result]) -> int:
    verdicts = {r.verdict for r in results}
    if Verdict.COUNTEREXAMPLE in verdicts:
        return EXIT_COUNTEREXAMPLE
    if verdicts & {Verdict.UNKNOWN, Verdict.VACUOUS}:
        return EXIT_INCONCLUSIVE
    return EXIT_PROVED


def check_out_dir(directory: Path) -> None:
    """Reject an unusable --out before any solving starts."""
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise UsageError(f"--out {str(directory)!r}: {str(candidate)!r} exists and is not a directory")
            if not os.access(candidate, os.W_OK):
                raise UsageError(f"--out {str(directory)!r}: {str(candidate)!r} is not writable")
            return


def write_atomically(directory: Path, filename: str, text: str) -> Path:
    """Write via a temporary file and rename, so no half-written report is ever left."""
    check_out_dir(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{filename}.", dir=directory)
    except OSError as err:
        raise UsageError(f"--out {str(directory)!r}: {err.strerror}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, directory / filename)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return directory / filename


def _list(stdout: TextIO) -> int:
    for prop in sorted(REGISTRY.values(), key=lambda p: p.id):
        stdout.write(f"property  {prop.id:34} {prop.title}\n")
    for policy in sorted(BUILTIN.values(), key=lambda p: p.name):
        stdout.write(f"policy    {policy.name:34} {policy.title}\n")
    return EXIT_PROVED


def _prove(args: argparse.Namespace, stdout: TextIO) -> int:
    policies = _select_policies(args.policy)
    props = _select_properties(args.property)
    pages = _select_pages(args.page_size)
    if args.out:
        check_out_dir(Path(args.out))
    settings = Settings(seed=args.seed, rlimit=args.rlimit)
    results = [check(prop, policy, page, settings) for prop in props for policy in policies for page in pages]
    meta = {"barcheck_version": barcheck.__version__, "z3_version": z3_version(), "seed": args.seed,
            "rlimit": args.rlimit, "width_bits": settings.shape.width,
            "policies": sorted(p.name for p in policies), "properties": sorted(p.id for p in props),
            "page_sizes": pages}
    render, extension = RENDERERS[args.format]
    text = render(results, meta)
    if args.out:
        path = write_atomically(Path(args.out), f"report.{extension}", text)
        stdout.write(f"wrote {path}: {summary_line(results)}\n")
    else:
        stdout.write(text)
    return exit_code_for(results)


def main(argv: Sequence[str], stdout: TextIO, stderr: TextIO) -> int:
    try:
        with contextlib.redirect_stdout(stdout):
            args = build_parser().parse_args(list(argv))
        return _list(stdout) if args.command == "list" else _prove(args, stdout)
    except SystemExit as done:
        return int(done.code or 0)
    except UsageError as err:
        stderr.write(f"barcheck: error: {err}\n")
        return EXIT_USAGE
    except InternalError as err:
        stderr.write(f"barcheck: internal error: {err}\n")
        return EXIT_INTERNAL
    except Exception as err:  # noqa: BLE001
        stderr.write(f"barcheck: internal error: {type(err).__name__}: {err}\n")
        if os.environ.get("BARCHECK_DEBUG"):
            traceback.print_exc(file=stderr)
        return EXIT_INTERNAL


def run() -> None:
    sys.exit(main(sys.argv[1:], sys.stdout, sys.stderr))


if __name__ == "__main__":
    run()
