"""The `barcheck` command: the parser and the dispatch to each subcommand.  `main()` returns the exit code."""

from __future__ import annotations

import argparse
import contextlib
import os
import traceback
from pathlib import Path
from typing import Sequence, TextIO

import barcheck
from barcheck.cli.host import HOST_COMMANDS, add_commands as add_host_commands, run_host_command
from barcheck.cli.util import (Parser as _Parser, UsageError, check_out_dir, write_atomically)
from barcheck.cli.selftest import add_command as add_selftest_command, selftest_command
from barcheck.cli.matrix import add_command as add_matrix_command, matrix_command
from barcheck.cli.policy import add_commands as add_policy_commands, diff_command, new_policy_command
from barcheck.cli.saved import add_commands as add_saved_commands, explain_command, export_command, replay_command
from barcheck.render.formats import render_doc
from barcheck.cli.catalogue import reports_command
from barcheck.scenario.doc import scenario_document
from barcheck.scenario.check import check_scenario
from barcheck.scenario.file import load_scenario
from barcheck.scenario.render import RENDERERS as SCENARIO_RENDERERS
from barcheck.engine.session import DEFAULT_RLIMIT, DEFAULT_SEED, z3_version
from barcheck.inputs.textsafe import escape_control
from barcheck.run.userpolicy import (watching_policy_files)
from barcheck.engine.verdict import InternalError, Verdict
from model.pci import ScenarioError
from model.policies import (BUILTIN, VMMS, UnknownPolicy, get_policy)
from model.policies.alignment import MODIFIERS
from properties.claims import FUNCTION, MEASURE, PAIR, TRACE, all_claims
from properties.trace import TRACE_PROPERTIES
from barcheck.cli.args import (EXIT_COUNTEREXAMPLE, EXIT_INCONCLUSIVE, EXIT_INTERNAL, EXIT_PROVED, EXIT_USAGE,
                               FORMATS, positive, rlimit_value, seed_value, select_pages, add_selection_arguments,
                               named_policy, require_plain)
from barcheck.cli.prove import emit, prove_command, require_out_for_html


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="barcheck", description="Prove or refute vfio-pci BAR isolation properties.")
    parser.add_argument("--version", action="version", version=f"barcheck {barcheck.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("list", help="list properties and policies")
    prove = commands.add_parser("prove", help="check policies against properties at page sizes")
    prove.add_argument("--format", choices=sorted(FORMATS), default="text",
                       help="html writes report.html and one .svg per address map into --out DIR")
    prove.add_argument("--out", metavar="DIR", help="write report.<ext> into DIR instead of stdout")
    prove.add_argument("--no-timings", action="store_true",
                       help="leave out wall-clock seconds, so the same input gives byte-identical output")
    prove.add_argument("--sarif-proved", action="store_true",
                       help="sarif: include proved results (kind pass, level none); GitHub may show them as alerts")
    add_selection_arguments(prove)
    add_matrix_command(commands, add_selection_arguments)
    add_policy_commands(commands, add_selection_arguments)
    check_cmd = commands.add_parser("check", help="run scenario files step by step")
    check_cmd.add_argument("scenario", nargs="+", metavar="SCENARIO.toml")
    check_cmd.add_argument("--policy", action="append", default=[], metavar="NAME",
                           help="override the scenario's policy (repeatable)")
    check_cmd.add_argument("--page-size", action="append", default=[], metavar="LIST",
                           help="override the scenario's page sizes")
    check_cmd.add_argument("--format", choices=sorted(FORMATS), default="text",
                           help="html writes check.html and one .svg per address map into --out DIR")
    check_cmd.add_argument("--out", metavar="DIR", help="write check.<ext> into DIR instead of stdout")
    check_cmd.add_argument("--seed", type=seed_value, default=DEFAULT_SEED)
    check_cmd.add_argument("--rlimit", type=rlimit_value, default=DEFAULT_RLIMIT)
    add_saved_commands(commands, positive)
    reports = commands.add_parser("reports", help="regenerate the committed catalogue reports (reports/)")
    reports.add_argument("--out", metavar="DIR", default="reports")
    reports.add_argument("--from", dest="source", metavar="REPORT.json",
                         help="re-render from a saved catalogue report.json instead of solving (seconds, not minutes)")
    conform = commands.add_parser("conform", help="run scenarios on a real kernel under QEMU and compare with the model")
    conform.add_argument("scenario", nargs="*", metavar="SCENARIO.toml")
    conform.add_argument("--policy", action="append", default=[], metavar="NAME",
                         help="override the scenario's policy (repeatable)")
    conform.add_argument("--format", choices=("text", "md", "json"), default="text")
    conform.add_argument("--out", metavar="DIR", help="write conform.<ext> into DIR instead of stdout")
    conform.add_argument("--logs", metavar="DIR", help="keep each guest console as DIR/<name>-<arch>.log")
    conform.add_argument("--jobs", type=positive, default=min(2, os.cpu_count() or 1),
                         help="guests booted at once (default: up to 2)")
    conform.add_argument("--timeout", type=positive, default=None, metavar="SECONDS",
                         help="per guest (default: 240 for x86_64, 300 for ppc64le)")
    conform.add_argument("--setup", action="store_true",
                         help="install QEMU and the compilers with apt-get first (needs root or sudo)")
    add_host_commands(commands)
    add_selftest_command(commands, positive)
    return parser


def _list(stdout: TextIO) -> int:
    for kind in (PAIR, FUNCTION, MEASURE, TRACE):
        for found in (c for c in all_claims() if c.kind == kind):
            label = "measure" if kind == MEASURE else "property"
            stdout.write(f"{label:9} {found.id:36} {kind:9} {found.title}\n")
    for policy in sorted(BUILTIN.values(), key=lambda p: p.name):
        stdout.write(f"policy    {policy.name:36}           {policy.title}\n")
    for vmm in VMMS.values():
        stdout.write(f"policy    {vmm.name:36}           {vmm.title} (host: linux-6.10)\n")
    for modifier in MODIFIERS.values():
        value = "=SIZE" if modifier.takes_size else ""
        stdout.write(f"modifier  {'+' + modifier.name + value:36}           {modifier.title}\n")
    for vmm in VMMS.values():
        stdout.write(f"modifier  {'+' + vmm.name:36}           guest side: {vmm.title}\n")
    return EXIT_PROVED


def _check(args: argparse.Namespace, stdout: TextIO) -> int:
    require_out_for_html(args)
    specs = []
    for path in args.scenario:
        try:
            specs.append(load_scenario(path))
        except ScenarioError as err:
            raise UsageError(str(err)) from None
    if args.out:
        check_out_dir(Path(args.out))
    pages_override = select_pages(args.page_size) if args.page_size else None
    runs = []
    for spec in specs:
        try:
            chosen = ([named_policy(name) for name in dict.fromkeys(args.policy)] if args.policy
                      else [get_policy(spec.policy)])
        except UnknownPolicy as err:
            raise UsageError(f"{spec.path}: policy: {err}") from None
        for policy in chosen:
            require_plain(policy, str(spec.path))
        unknown = [p for p in spec.properties if p not in TRACE_PROPERTIES]
        if unknown:
            raise UsageError(f"{spec.path}: properties: unknown trace property {unknown[0]!r} "
                             f"(known: {', '.join(sorted(TRACE_PROPERTIES))})")
        for policy in chosen:
            for page in pages_override or list(spec.page_sizes):
                try:
                    with watching_policy_files():
                        run = check_scenario(spec, policy, page, args.seed, args.rlimit)
                    runs.append((spec, policy.name, run))
                except ScenarioError as err:
                    raise UsageError(f"{spec.path}: {err}") from None
    meta = {"barcheck_version": barcheck.__version__, "z3_version": z3_version(), "seed": args.seed,
            "rlimit": args.rlimit}
    if args.format in SCENARIO_RENDERERS:
        render, extension = SCENARIO_RENDERERS[args.format]
        files = {f"check.{extension}": render(runs, meta)}
    else:
        files = render_doc(args.format, scenario_document(runs, meta), "check", include_proved=True)
    verdicts = {r[2].verdict for r in runs}
    emit(args, files, stdout, f"{len(runs)} runs")
    if Verdict.COUNTEREXAMPLE in verdicts:
        return EXIT_COUNTEREXAMPLE
    return EXIT_INCONCLUSIVE if verdicts & {Verdict.UNKNOWN, Verdict.VACUOUS} else EXIT_PROVED


def _conform(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from barcheck.conform import run as conform_run
    if not args.scenario and not args.setup:
        raise UsageError("conform: give scenario files, or --setup")
    plans = _conform_plans(args)
    for directory in (args.out, args.logs):
        if directory:
            check_out_dir(Path(directory))
    if args.setup:
        code = _conform_setup(plans, stderr)
        if code or not plans:
            return EXIT_INCONCLUSIVE if code else EXIT_PROVED

    def progress(result) -> None:
        stderr.write(f"barcheck conform: {result.verdict} {result.plan.spec.name} ({result.machine.arch}) "
                     f"{result.seconds:.1f} s\n")
        stderr.flush()

    results = conform_run.run_all(plans, args.jobs, args.timeout, progress)
    if args.logs:
        _write_conform_logs(Path(args.logs), results, several_policies=len(args.policy) > 1)
    _emit_conform(args, results, stdout)
    return conform_exit_code([r.verdict for r in results])


def _conform_plans(args: argparse.Namespace) -> list:
    """(plan, policy) for every scenario file and every policy it runs under, all checked before any boot."""
    from barcheck.conform.plan import make_plan
    plans = []
    for path in args.scenario:
        try:
            spec = load_scenario(path)
            plan = make_plan(spec)
        except ScenarioError as err:
            raise UsageError(str(err)) from None
        try:
            chosen = [get_policy(name) for name in dict.fromkeys(args.policy or [spec.policy])]
        except UnknownPolicy as err:
            raise UsageError(f"{spec.path}: policy: {err}") from None
        for policy in chosen:
            require_plain(policy, str(spec.path))
        plans += [(plan, policy) for policy in chosen]
    return plans


def _conform_setup(plans: list, stderr: TextIO) -> int:
    """Install the tools of the machines the plans boot (of every machine when there is no plan)."""
    from barcheck.conform.machines import MACHINES
    from barcheck.conform.setup import install
    wanted = list({p.machine.arch: p.machine for p, _ in plans}.values()) or list(MACHINES.values())
    return install(wanted, stderr)


def _write_conform_logs(directory: Path, results: list, several_policies: bool) -> None:
    for r in results:
        if r.console:
            name = f"{r.plan.spec.name}-{r.machine.arch}" + (f"-{r.policy}" if several_policies else "")
            write_atomically(directory, f"{name}.log", "\n".join(r.console) + "\n")


def _emit_conform(args: argparse.Namespace, results: list, stdout: TextIO) -> None:
    from barcheck.conform.render import RENDERERS as CONFORM_RENDERERS, summary_line as conform_summary
    meta = {"barcheck_version": barcheck.__version__}
    render, extension = CONFORM_RENDERERS[args.format]
    text = render(results, meta)
    if args.out:
        path = write_atomically(Path(args.out), f"conform.{extension}", text)
        stdout.write(f"wrote {path}: {conform_summary(results)}\n")
    else:
        stdout.write(text)


def conform_exit_code(verdicts: list[str]) -> int:
    if {"DISAGREE", "MISMATCH"} & set(verdicts):
        return EXIT_COUNTEREXAMPLE
    if {"ERROR", "SKIPPED"} & set(verdicts):
        return EXIT_INCONCLUSIVE
    return EXIT_PROVED


def main(argv: Sequence[str], stdout: TextIO, stderr: TextIO) -> int:
    try:
        with contextlib.redirect_stdout(stdout):
            args = build_parser().parse_args(list(argv))
        commands = {"list": lambda: _list(stdout), "prove": lambda: prove_command(args, stdout, stderr),
                    "replay": lambda: replay_command(args, stdout, UsageError),
                    "explain": lambda: explain_command(args, stdout, UsageError),
                    "export-test": lambda: export_command(args, stdout, UsageError, write_atomically),
                    "reports": lambda: reports_command(args, stdout, UsageError, main),
                    "check": lambda: _check(args, stdout), "conform": lambda: _conform(args, stdout, stderr),
                    "selftest": lambda: selftest_command(args, stdout, stderr),
                    "matrix": lambda: matrix_command(args, list(argv), stdout, stderr, UsageError),
                    "new-policy": lambda: new_policy_command(args, stdout, UsageError),
                    "diff": lambda: diff_command(args, stdout, stderr, UsageError)}
        if args.command in HOST_COMMANDS:
            return run_host_command(args, stdout, stderr)
        return commands[args.command]()
    except SystemExit as done:
        return int(done.code or 0)
    except KeyboardInterrupt:
        from barcheck.cli.interrupt import report as report_interrupt
        return report_interrupt(stderr)
    except UsageError as err:
        stderr.write(f"barcheck: error: {escape_control(str(err))}\n")
        return EXIT_USAGE
    except InternalError as err:
        stderr.write(f"barcheck: internal error: {escape_control(str(err))}\n")
        return EXIT_INTERNAL
    except Exception as err:  # noqa: BLE001
        stderr.write(f"barcheck: internal error: {type(err).__name__}: {escape_control(str(err))}\n")
        if os.environ.get("BARCHECK_DEBUG"):
            traceback.print_exc(file=stderr)
        return EXIT_INTERNAL
