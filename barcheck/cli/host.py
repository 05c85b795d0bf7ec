"""`barcheck host` (one machine's dumps) and `barcheck survey` (many machines).

Kept apart from barcheck/cli/main.py so that `barcheck host` never imports the solver: the whole
command runs in well under a second.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from pathlib import Path
from typing import Sequence, TextIO

from barcheck.cli.util import Parser, UsageError, check_out_dir, write_files_atomically
from barcheck.host.dump import FORMATS as DUMP_FORMATS, DumpError, load
from barcheck.host.dump.merge import merge
from barcheck.inputs.safe_read import DEFAULT_MAX_INPUT_BYTES, parse_max_bytes
from barcheck.inputs.textsafe import escape_control, escape_control_lines, excerpt
from model.policies import PciCore, Policy, UnknownPolicy, get_policy
from model.units import PRESET_PAGE_SIZES, SizeError, parse_page_sizes

HOST_COMMANDS = ("host", "survey")
DEFAULT_POLICIES = ("linux-4.7", "linux-4.8")
DEFAULT_HINT_POLICY = "linux-4.8"
HOST_FORMATS = ("text", "json", "md")
SURVEY_FORMATS = ("text", "json", "md", "csv")
EXTENSIONS = {"text": "txt", "json": "json", "md": "md", "csv": "csv"}
EXIT_HOLDS, EXIT_LEAK, EXIT_USAGE, EXIT_NOTHING, EXIT_INTERNAL = 0, 1, 2, 3, 70
EXIT_INTERRUPTED = 130
MAX_INTERNAL_MESSAGE_CHARS = 300
MAX_PAGE_SIZE_CHARS = 40
"""Longer than any page size or range; int() of a longer digit string is slow, and fails over 4,300 digits."""


def add_commands(commands) -> None:
    host = commands.add_parser("host", help="check one machine's PCI layout from lspci, pciconf, iomem, sysfs or dmesg dumps")
    for fmt in DUMP_FORMATS:
        host.add_argument(f"--{fmt}", action="append", default=[], metavar="FILE" if fmt != "sysfs" else "PATH",
                          help=f"a {fmt} dump" + (" (a file, or a directory of <address>/resource files)"
                                                  if fmt == "sysfs" else ""))
    _common(host, HOST_FORMATS)
    host.add_argument("--hint-policy", default=DEFAULT_HINT_POLICY, metavar="NAME",
                      help="the policy the pci=resource_alignment= suggestion is checked against "
                           f"(default {DEFAULT_HINT_POLICY}; 'none' for no suggestion)")
    survey = commands.add_parser("survey", help="statistics over many machine dumps, with a plot")
    survey.add_argument("paths", nargs="+", metavar="DIR", help="directories (searched recursively) or dump files")
    survey.add_argument("--dump-format", choices=("auto",) + DUMP_FORMATS, default="auto",
                        help="the format of every dump (default: detected per file)")
    _common(survey, SURVEY_FORMATS)
    survey.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                        help="a progress bar on stderr (auto: when stderr is a terminal and there are many dumps)")
    survey.add_argument("--plot", choices=("png+pdf", "png", "pdf", "none"), default="png+pdf",
                        help="which plot files --out gets (default png+pdf)")


def _common(parser: argparse.ArgumentParser, formats: tuple[str, ...]) -> None:
    parser.add_argument("--page-size", action="append", default=[], metavar="SIZES",
                        help="comma-separated page sizes (default 4K,16K,64K)")
    parser.add_argument("--policy", action="append", default=[], metavar="NAME",
                        help=f"a policy to ask (repeatable; default {', '.join(DEFAULT_POLICIES)})")
    parser.add_argument("--format", choices=formats, default="text")
    parser.add_argument("--out", metavar="DIR", help="write the report into DIR instead of stdout")
    parser.add_argument("--max-input-bytes", default=None, metavar="SIZE",
                        help="refuse (host) or skip (survey) a dump file larger than SIZE "
                             f"(default {DEFAULT_MAX_INPUT_BYTES >> 20}M; e.g. 256M)")


def select_pages(texts: list[str]) -> list[int]:
    if not texts:
        return list(PRESET_PAGE_SIZES)
    pages: set[int] = set()
    for text in texts:
        too_long = next((part for part in text.split(",") if len(part) > MAX_PAGE_SIZE_CHARS), None)
        if too_long is not None:
            raise UsageError(f"--page-size: {excerpt(too_long)} is not a page size (expected e.g. 4K, 64K or 4K..1M)")
        try:
            pages.update(page.size_bytes for page in parse_page_sizes(text))
        except SizeError as err:
            raise UsageError(f"--page-size {text!r}: {err}") from None
    return sorted(pages)


def select_policies(names: list[str], option: str = "--policy") -> list[Policy]:
    chosen = []
    for name in names or DEFAULT_POLICIES:
        try:
            policy = get_policy(name)
        except UnknownPolicy as err:
            raise UsageError(f"{option}: {err}") from None
        if policy.pci_core != PciCore():
            raise UsageError(f"{option} {name!r}: a PCI-core modifier changes where BARs are placed, but a dump "
                             f"shows one fixed layout; the pci=resource_alignment= suggestion covers that question")
        if not policy.placed_by_pci_core:
            raise UsageError(f"{option} {name!r}: it describes platform devices, not PCI BARs")
        chosen.append(policy)
    return list({policy.name: policy for policy in chosen}.values())


def select_max_bytes(text: str | None) -> int:
    if text is None:
        return DEFAULT_MAX_INPUT_BYTES
    try:
        return parse_max_bytes(text)
    except ValueError as err:
        raise UsageError(f"--max-input-bytes: {err}") from None


def _hint_policy(name: str) -> str | None:
    if name == "none":
        return None
    select_policies([name], "--hint-policy")
    return name


def _host(args: argparse.Namespace, stdout: TextIO) -> int:
    from barcheck.host.render import RENDERERS
    from barcheck.host.report import check_host

    inputs = [(fmt, path) for fmt in DUMP_FORMATS for path in getattr(args, fmt)]
    if not inputs:
        raise UsageError("host: give at least one dump: --lspci, --pciconf, --iomem, --sysfs or --dmesg FILE")
    pages, policies, hint = select_pages(args.page_size), select_policies(args.policy), _hint_policy(args.hint_policy)
    max_bytes = select_max_bytes(args.max_input_bytes)
    if args.out:
        check_out_dir(Path(args.out))
    try:
        dump = merge([load(fmt, path, max_bytes) for fmt, path in inputs])
    except DumpError as err:
        raise UsageError(str(err)) from None
    if dump.addresses_hidden:
        raise UsageError(f"{dump.path}: {dump.notes[0]}")
    report = check_host(dump, pages, policies, hint)
    text = _terminal_safe(args.format, RENDERERS[args.format](report))
    _emit(args, {f"host.{EXTENSIONS[args.format]}": text}, stdout)
    if not report.bars:
        return EXIT_NOTHING
    return EXIT_LEAK if report.leaking() else EXIT_HOLDS


def _survey(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from barcheck.host.survey import run_survey

    pages, policies = select_pages(args.page_size), select_policies(args.policy)
    max_bytes = select_max_bytes(args.max_input_bytes)
    if args.out:
        check_out_dir(Path(args.out))
    try:
        result = run_survey(args.paths, args.dump_format, pages, policies, stderr, args.progress, max_bytes)
    except DumpError as err:
        raise UsageError(str(err)) from None
    for reason in result.skipped:
        stderr.write(f"barcheck: skipped {escape_control(reason.removesuffix(' (skipped)'))}\n")
    from barcheck.host.survey_render import RENDERERS, render_plots
    files: dict[str, str | bytes] = {
        f"survey.{EXTENSIONS[args.format]}": _terminal_safe(args.format, RENDERERS[args.format](result))}
    if args.out and args.plot != "none":
        files.update(render_plots(result, args.plot.split("+")))
    _emit(args, files, stdout)
    if not result.machines:
        return EXIT_NOTHING
    return EXIT_LEAK if result.leaks else EXIT_HOLDS


def _terminal_safe(fmt: str, text: str) -> str:
    """Text and Markdown reach terminals: no control character from a dump or path survives in them."""
    return escape_control_lines(text) if fmt in ("text", "md") else text


def _emit(args: argparse.Namespace, files: dict[str, str | bytes], stdout: TextIO) -> None:
    """The report on stdout, or every file into --out: all rendered before the first is written, and
    written all or none."""
    if args.out:
        paths = write_files_atomically(Path(args.out), files)
        stdout.write(f"wrote {escape_control(str(paths[0]))}\n")
    else:
        (text, *_) = files.values()
        if not isinstance(text, str):
            raise TypeError("the first file of a host report is its text, which goes to stdout")
        stdout.write(text)


def run_host_command(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    if args.command == "host":
        return _host(args, stdout)
    return _survey(args, stdout, stderr)


def main(argv: Sequence[str], stdout: TextIO, stderr: TextIO) -> int:
    """`barcheck host|survey ...` without loading the solver side of the command."""
    parser = Parser(prog="barcheck")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    add_commands(commands)
    try:
        with contextlib.redirect_stdout(stdout):
            args = parser.parse_args(list(argv))
        return run_host_command(args, stdout, stderr)
    except SystemExit as done:
        return int(done.code or 0)
    except KeyboardInterrupt:
        from barcheck.cli.interrupt import report as report_interrupt
        return report_interrupt(stderr)
    except UsageError as err:
        stderr.write(f"barcheck: error: {escape_control(str(err))}\n")
        return EXIT_USAGE
    except Exception as err:  # noqa: BLE001
        message = escape_control(str(err)[:MAX_INTERNAL_MESSAGE_CHARS])
        stderr.write(f"barcheck: internal error: {type(err).__name__}: {message}\n")
        if os.environ.get("BARCHECK_DEBUG"):
            traceback.print_exc(file=stderr)
        return EXIT_INTERNAL


def run() -> None:
    sys.exit(main(sys.argv[1:], sys.stdout, sys.stderr))
