"""The `barcheck` command.  `main()` returns the exit code; `run()` exits with it."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import traceback
from pathlib import Path
from typing import Callable, Sequence, TextIO

import barcheck
from barcheck.engine.checker import Settings
from barcheck.engine.jobs import MEASURE, PAIR, RECORD, ROUND_TRIP, TRACE, VMA, Job, run_jobs
from barcheck.cli.progress import add_run_arguments, open_cache_option, progress_printer
from barcheck.cli.host import HOST_COMMANDS, add_commands as add_host_commands, run_host_command
from barcheck.cli.util import (Parser as _Parser, UsageError, check_out_dir, write_atomically,
                              write_files_atomically)
from barcheck.cli.selftest import add_command as add_selftest_command, selftest_command
from barcheck.cli.matrix import add_command as add_matrix_command, matrix_command
from barcheck.cli.policy import add_commands as add_policy_commands, diff_command, new_policy_command
from barcheck.cli.saved import add_commands as add_saved_commands, explain_command, export_command, replay_command
from barcheck.render.text import RENDERERS, document, summary_line
from barcheck.render.formats import render_doc
from barcheck.render.html import render_cex_svgs
from barcheck.cli.catalogue import reports_command
from barcheck.scenario.doc import scenario_document
from barcheck.scenario.check import check_scenario
from barcheck.scenario.file import MAX_BAR_BYTES, load_scenario
from barcheck.scenario.render import RENDERERS as SCENARIO_RENDERERS
from barcheck.engine.msixmeasure import (DEFAULT_POLICIES as MEASURE_DEFAULT_POLICIES, MEASURE_ID, MEASURE_TITLE,
                                      MeasureSettings)
from barcheck.engine.pgoffcheck import ROUND_TRIP_ID, ROUND_TRIP_TITLE, RoundTripSettings
from barcheck.engine.recordcheck import RecordSettings
from barcheck.engine.tracecheck import DEFAULT_DEPTH, TraceSettings
from barcheck.engine.vmacheck import VmaSettings
from barcheck.engine.session import DEFAULT_RLIMIT, DEFAULT_SEED, z3_version
from barcheck.inputs.textsafe import escape_control, excerpt
from barcheck.cli.patchgate import dependent_checks, overridden_members, require_files_read
from barcheck.inputs.userpolicy import (PolicyFileError, loaded_files, policy_file_of, resolve as resolve_policy_spec,
                                 watching_policy_files)
from barcheck.engine.verdict import InternalError, Result, Verdict
from barcheck.saved.witness_check import MAX_DEVICES, MAX_MOVES
from model.events import ALL_EVENTS, KERNEL_EVENTS, EventKind
from model.pci import MIN_MEM_BAR_BYTES, ScenarioError
from model.placement import ANY_FREE, PLACEMENTS
from model.policies import (BUILTIN, VMMS, PciCore, Policy, UnknownPolicy, catalogue, get_policy, guest_catalogue,
                            mapping_catalogue, msix_catalogue)
from model.policies.alignment import MODIFIERS
from model.units import PRESET_PAGE_SIZES, SizeError, parse_page_sizes, parse_size
from model.vma import VmaEventKind
from properties import RECORD_PROPERTIES, REGISTRY, Property, UnknownProperty, get_property
from properties.record import RecordOptions
from properties.revoke import VMA_PROPERTIES
from properties.trace import TRACE_PROPERTIES

FORMATS = ("html", "json", "junit", "md", "sarif", "text")
EXIT_PROVED, EXIT_COUNTEREXAMPLE, EXIT_USAGE, EXIT_INCONCLUSIVE, EXIT_INTERNAL = 0, 1, 2, 3, 70
EXIT_INTERRUPTED = 130
SOLVER_UINT_MAX = 2**32 - 1
"""z3 takes random_seed and rlimit as unsigned 32-bit integers and silently wraps a larger value."""


def add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    """What to check and how: the options `prove` and `matrix` share."""
    parser.add_argument("--policy", action="append", default=[], metavar="NAME",
                        help="a built-in policy, or a policy file PATH.py (its Python code runs); repeatable")
    parser.add_argument("--property", action="append", default=[], metavar="ID")
    parser.add_argument("--page-size", action="append", default=[], metavar="LIST",
                        help="comma-separated page sizes, e.g. 4K,16K,64K (default)")
    parser.add_argument("--seed", type=_seed, default=DEFAULT_SEED)
    parser.add_argument("--rlimit", type=_rlimit, default=DEFAULT_RLIMIT,
                        help="solver work budget per call (z3 resource units)")
    parser.add_argument("--mode", choices=("all", "pair", "trace"), default=None,
                        help="pair: single-probe and function checks; trace: properties over event traces; "
                             "all: both, and the MSI-X mappable-fraction measure.  Default: pair, or every kind "
                             "of a property named with --property, or for a policy file every check that reads "
                             "a rule the file overrides")
    parser.add_argument("--method", choices=("induction", "bmc"), default="induction",
                        help="trace proofs: unbounded by inductive invariant, or bounded to --depth")
    parser.add_argument("--depth", type=_depth, default=DEFAULT_DEPTH,
                        help="trace bound for bmc, and for the search after a failed induction")
    parser.add_argument("--devices", type=_devices, default=None,
                        help="device slots in trace proofs (default: 3 for placement, 2 for mapping properties)")
    parser.add_argument("--max-bar-size", type=_bar_size, default=None, metavar="SIZE",
                        help="mapping properties: only BARs up to SIZE, e.g. 1T (default: every size the hardware allows)")
    parser.add_argument("--no-unsafe-interrupts", action="store_true",
                        help="MSI-X properties: assume allow_unsafe_interrupts=0, vfio's default (it then refuses "
                             "platforms without interrupt remapping)")
    parser.add_argument("--placement", choices=PLACEMENTS, default=ANY_FREE,
                        help="hot-add placement: any free aligned slot (covers every allocator) or exact first fit")
    parser.add_argument("--events", default="kernel", metavar="LIST",
                        help="comma-separated events for trace proofs, or kernel (all but rescan) or all")
    add_run_arguments(parser, _positive)


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
    check_cmd.add_argument("--seed", type=_seed, default=DEFAULT_SEED)
    check_cmd.add_argument("--rlimit", type=_rlimit, default=DEFAULT_RLIMIT)
    add_saved_commands(commands, _positive)
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
    conform.add_argument("--jobs", type=_positive, default=min(2, os.cpu_count() or 1),
                         help="guests booted at once (default: up to 2)")
    conform.add_argument("--timeout", type=_positive, default=None, metavar="SECONDS",
                         help="per guest (default: 240 for x86_64, 300 for ppc64le)")
    conform.add_argument("--setup", action="store_true",
                         help="install QEMU and the compilers with apt-get first (needs root or sudo)")
    add_host_commands(commands)
    add_selftest_command(commands, _positive)
    return parser


def _select_events(text: str) -> tuple[tuple[EventKind, ...], tuple[VmaEventKind, ...]]:
    """Placement-model events and mapping-model events; kernel and all give every mapping event."""
    if text == "kernel":
        return KERNEL_EVENTS, tuple(VmaEventKind)
    if text == "all":
        return ALL_EVENTS, tuple(VmaEventKind)
    known = list(dict.fromkeys([kind.value for kind in EventKind] + [kind.value for kind in VmaEventKind]))
    chosen = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part not in known:
            raise UsageError(f"--events: unknown event {part!r} (known: {', '.join(known)}, kernel, all)")
        chosen.append(part)
    if not chosen:
        raise UsageError("--events: empty list")
    return (tuple(kind for kind in EventKind if kind.value in chosen),
            tuple(kind for kind in VmaEventKind if kind.value in chosen))


def _bar_size(text: str) -> int:
    try:
        size_bytes = parse_size(text)
    except SizeError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if size_bytes < MIN_MEM_BAR_BYTES or size_bytes & (size_bytes - 1) or size_bytes > MAX_BAR_BYTES:
        raise argparse.ArgumentTypeError(f"{excerpt(text)} is not a power of two from {MIN_MEM_BAR_BYTES} bytes "
                                         f"to 2^63 bytes, the largest BAR")
    return size_bytes


def _non_negative(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{excerpt(text)} is not a decimal integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{excerpt(text)} is negative")
    return value


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{excerpt(text)} is not positive")
    return value


def _at_most(maximum: int, why: str, parse: Callable[[str], int]) -> Callable[[str], int]:
    def parse_bounded(text: str) -> int:
        value = parse(text)
        if value > maximum:
            raise argparse.ArgumentTypeError(f"{excerpt(text)} is over {maximum} ({why})")
        return value
    return parse_bounded


_seed = _at_most(SOLVER_UINT_MAX, "z3 takes a 32-bit seed", _non_negative)
_rlimit = _at_most(SOLVER_UINT_MAX, "z3 takes a 32-bit work budget", _positive)
_devices = _at_most(MAX_DEVICES, "the most device slots a saved counterexample holds", _positive)
_depth = _at_most(MAX_MOVES, "the most steps a saved counterexample holds", _positive)


def _select_policies(names: list[str]) -> list[Policy]:
    try:
        chosen = [named_policy(name) for name in names] if names else catalogue()
    except UnknownPolicy as err:
        raise UsageError(f"--policy: {err}") from None
    return list({policy.name: policy for policy in chosen}.values())


def named_policy(spec: str) -> Policy:
    """A built-in policy by name, or the policy of a file (PATH.py, with optional +modifiers), loaded and checked."""
    try:
        return get_policy(resolve_policy_spec(spec))
    except (PolicyFileError, UnknownPolicy) as err:
        raise UsageError(f"--policy: {err}") from None


def is_plain(policy: Policy) -> bool:
    """No PCI-core modifier: the trace and scenario models (natural alignment) cover it."""
    return policy.pci_core == PciCore()


def require_plain(policy: Policy, where: str) -> None:
    if not is_plain(policy):
        raise UsageError(f"{where}: policy {policy.name!r} has PCI-core modifiers, which only the pair "
                         f"properties model (barcheck prove --mode pair); traces and scenario files place "
                         f"BARs at natural alignment")


def property_kinds(prop_id: str) -> set[str]:
    """The kinds of check a property id names: pair, function and trace."""
    kinds = set()
    if prop_id in REGISTRY:
        kinds.add("pair")
    if prop_id == ROUND_TRIP_ID or prop_id in RECORD_PROPERTIES:
        kinds.add("function")
    if prop_id == MEASURE_ID:
        kinds.add("measure")
    if prop_id in TRACE_PROPERTIES or prop_id in VMA_PROPERTIES:
        kinds.add("trace")
    return kinds


MODE_KINDS = {"pair": {"pair", "function", "measure"}, "trace": {"trace"},
              "all": {"pair", "function", "trace", "measure"}}


def all_property_ids() -> list[str]:
    return sorted(set(REGISTRY) | set(TRACE_PROPERTIES) | set(VMA_PROPERTIES) | set(RECORD_PROPERTIES)
                  | {ROUND_TRIP_ID, MEASURE_ID})


def effective_mode(args: argparse.Namespace, policies: list[Policy]) -> str:
    """The --mode given; else pair, widened to every kind for a policy file (the patch gate then
    chooses) or for a named property that has no pair kind."""
    if args.mode is not None:
        return args.mode
    if any(policy_file_of(p.name) for p in policies) and not args.property:
        return "all"
    if any(property_kinds(i) and not property_kinds(i) & MODE_KINDS["pair"] for i in args.property):
        return "all"
    return "pair"


def _trace_ids(args: argparse.Namespace, ids: list[str]) -> list[str]:
    """The named properties whose trace kind runs: all of them under --mode trace or all, else only
    those that have no pair kind (a named property keeps its pair meaning without --mode)."""
    if args.mode_given:
        return ids
    return [i for i in ids if not property_kinds(i) & MODE_KINDS["pair"]]


def _check_property_modes(ids: list[str], mode: str) -> None:
    for i in ids:
        kinds = property_kinds(i)
        if not kinds:
            known = ", ".join(all_property_ids())
            raise UsageError(f"--property: unknown property {i!r} (known: {known})")
        if not kinds & MODE_KINDS[mode]:
            wanted = "trace or all" if "trace" in kinds else "pair or all"
            raise UsageError(f"--property: {i} is a {'/'.join(sorted(kinds))} property, which --mode {mode} "
                             f"does not run (use --mode {wanted})")


def _select_properties(ids: list[str]) -> list[Property]:
    """The pair properties among the ids (all when none given)."""
    try:
        return [get_property(i) for i in dict.fromkeys(ids) if i in REGISTRY] if ids else list(REGISTRY.values())
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


def exit_code_for_doc(doc: dict) -> int:
    """The exit code `prove` gives for the results and measures of a result document."""
    verdicts = {r["verdict"] for r in doc["results"]}
    if "counterexample" in verdicts:
        return EXIT_COUNTEREXAMPLE
    if verdicts & {"unknown", "vacuous"} or any(m["certified"] != "proved" for m in doc.get("measures", [])):
        return EXIT_INCONCLUSIVE
    return EXIT_PROVED


def _list(stdout: TextIO) -> int:
    for prop in sorted(REGISTRY.values(), key=lambda p: p.id):
        stdout.write(f"property  {prop.id:36} pair      {prop.title}\n")
    for prop_id, title in sorted([(ROUND_TRIP_ID, ROUND_TRIP_TITLE)]
                                 + [(p.id, p.title) for p in RECORD_PROPERTIES.values()]):
        stdout.write(f"property  {prop_id:36} function  {title}\n")
    stdout.write(f"measure   {MEASURE_ID:36} measure   {MEASURE_TITLE}\n")
    for prop in sorted(list(TRACE_PROPERTIES.values()) + list(VMA_PROPERTIES.values()), key=lambda p: p.id):
        stdout.write(f"property  {prop.id:36} trace     {prop.title}\n")
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


def _prove(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    _require_out_for_html(args)
    results, measures, meta = solve_selection(args, stderr)
    if args.format in RENDERERS:
        render, extension = RENDERERS[args.format]
        if args.format == "md" and args.out:
            files = {"report.md": render(results, meta, measures, timings=not args.no_timings, map_files=True)}
            for result in document(results, meta, measures, timings=False)["results"]:
                files.update(render_cex_svgs(result))
        else:
            files = {f"report.{extension}": render(results, meta, measures, timings=not args.no_timings)}
    else:
        doc = document(results, meta, measures, timings=not args.no_timings)
        files = render_doc(args.format, doc, "report", include_proved=args.sarif_proved)
    _emit(args, files, stdout, summary_line(results))
    code = exit_code_for(results)
    if code == EXIT_PROVED and any(m.certified != "proved" for m in measures):
        return EXIT_INCONCLUSIVE
    return code


def solve_selection(args: argparse.Namespace, stderr: TextIO,
                    keep: frozenset[tuple[str, str]] | None = None) -> tuple[list[Result], list, dict]:
    """Results, measures and meta of the checks `args` select (the prove and matrix options).

    With a policy file among the policies and no --property, only the checks whose encoding reads a
    member the file overrides run (barcheck/engine/depends.py); `keep` gives that selection instead (diff)."""
    policies = _select_policies(args.policy)
    args = argparse.Namespace(**{**vars(args), "mode": effective_mode(args, policies),
                                 "mode_given": getattr(args, "mode_given", args.mode is not None)})
    plan = plan_checks(args, policies)
    if args.out:
        check_out_dir(Path(args.out))
    cache = open_cache_option(args.cache)
    jobs, measure_jobs = plan.jobs, plan.measure_jobs
    if keep is None and not args.property:
        jobs, measure_jobs = _patch_gate(args, policies, jobs, measure_jobs)
    elif keep is not None:
        jobs = [job for job in jobs if (job.engine, job.prop_id) in keep]
        measure_jobs = [job for job in measure_jobs if (job.engine, job.prop_id) in keep]
    elif any(policy_file_of(p.name) for p in policies):
        require_files_read(policies, jobs + measure_jobs, chosen_by_user=True)
    solved = run_jobs(jobs + measure_jobs, args.jobs, cache, progress_printer(args, stderr))
    if cache and cache.write_errors:
        stderr.write(f"barcheck: warning: --cache {cache.shown}: {len(cache.write_errors)} results not saved "
                     f"({cache.write_errors[0]})\n")
    if cache and cache.rejected:
        stderr.write(f"barcheck: warning: --cache {cache.shown}: {cache.rejected_summary()}\n")
    results, measures = solved[:len(jobs)], [row for rows in solved[len(jobs):] for row in rows]
    results = [with_policy_file_note(r) for r in results]
    meta = {"barcheck_version": barcheck.__version__, "z3_version": z3_version(), "seed": args.seed,
            "rlimit": args.rlimit, "width_bits": plan.settings.shape.width,
            "policies": sorted({r.policy for r in results} | {m.policy for m in measures}
                               or {p.name for p in policies}),
            "properties": sorted({job.prop_id for job in jobs + measure_jobs}
                                 or {p.id for p in plan.props}),
            "page_sizes": plan.pages}
    if args.verdicts_only:
        meta["verdicts_only"] = True
    if loaded_files():
        meta["policy_files"] = [{"path": shown, "sha256": sha256} for shown, _, sha256 in loaded_files()]
    if args.mode != "pair" and any(not is_plain(p) for p in policies):
        meta["trace_skipped_policies"] = sorted(p.name for p in policies if not is_plain(p))
    return results, measures, meta


@dataclasses.dataclass(frozen=True)
class Plan:
    jobs: list[Job]
    measure_jobs: list[Job]
    props: list[Property]
    pages: list[int]
    settings: Settings


def plan_checks(args: argparse.Namespace, policies: list[Policy]) -> Plan:
    """Every check the options select, before a policy file's selection narrows them."""
    _check_property_modes(args.property, args.mode)
    _select_events(args.events)
    props = _select_properties(args.property)
    pages = _select_pages(args.page_size)
    settings = Settings(seed=args.seed, rlimit=args.rlimit, explain=not args.verdicts_only)
    jobs: list[Job] = []
    ids = list(dict.fromkeys(args.property))
    measure_jobs: list[Job] = []
    if args.mode in ("all", "pair"):
        for prop in props:
            chosen = _guest_policies(args, prop.id) if prop.needs_vmm else policies
            jobs += [Job(PAIR, prop.id, policy.name, page, settings) for policy in chosen for page in pages]
        if not ids or ROUND_TRIP_ID in ids:
            jobs += _prove_round_trip(args, pages)
        jobs += _prove_records(args, ids, pages)
        if MEASURE_ID in ids or (not ids and args.mode == "all"):
            measure_jobs = _measure(args, pages)
    if args.mode in ("all", "trace"):
        traceable = [p for p in policies if is_plain(p) and (args.policy or p.placed_by_pci_core)]
        if args.mode == "trace" and args.policy:
            for policy in policies:
                require_plain(policy, "--mode trace")
        jobs += _prove_traces(args, traceable, _trace_ids(args, ids), pages)
        jobs += _prove_mappings(args, _trace_ids(args, ids), pages)
    return Plan(jobs, measure_jobs, props, pages, settings)


def _patch_gate(args: argparse.Namespace, policies: list[Policy], jobs: list[Job],
                measure_jobs: list[Job]) -> tuple[list[Job], list[Job]]:
    """For policy files: the checks whose encoding reads a member some file overrides."""
    files = {p.name for p in policies if policy_file_of(p.name)}
    if not files:
        return jobs, measure_jobs
    changed = set().union(*(overridden_members(policy) for policy in policies if policy.name in files))
    keep = dependent_checks(jobs + measure_jobs, {p.name: p for p in policies}, changed, files)
    kept = [job for job in jobs if (job.engine, job.prop_id) in keep]
    kept_measures = [job for job in measure_jobs if (job.engine, job.prop_id) in keep]
    require_files_read(policies, kept + kept_measures, chosen_by_user=args.mode_given)
    return kept, kept_measures


def with_policy_file_note(result: Result) -> Result:
    """Say where a user policy came from and what was checked about it before it was trusted."""
    loaded = policy_file_of(result.policy)
    if loaded is None:
        return result
    note = (f"{loaded.policy.name} is a user policy from {loaded.shown} (sha256 {loaded.sha256[:16]}); before "
            f"this check its rules gave the same answers on integers and on bit-vectors for every sampled input, "
            f"and the solver proved that no extra resource, at any position among the parent's children, makes "
            f"a refused BAR mmappable at any page size from 4K to 1G (the side condition of the pair proofs' "
            f"pairwise argument); Python operator misuse in the file was trapped throughout")
    return dataclasses.replace(result, notes=result.notes + (note,))


def _emit(args: argparse.Namespace, files: dict[str, str], stdout: TextIO, summary: str) -> None:
    """Write the files into --out (all or none), or the single one to stdout."""
    if not args.out:
        (text,) = files.values()
        stdout.write(text)
        return
    paths = write_files_atomically(Path(args.out), files)
    stdout.write(f"wrote {paths[0]}" + (f" and {len(paths) - 1} more files" if paths[1:] else "") + f": {summary}\n")


def _require_out_for_html(args: argparse.Namespace) -> None:
    if args.format == "html" and not args.out:
        raise UsageError("--format html writes report.html and its .svg maps into a directory: give --out DIR")


def _guest_policies(args: argparse.Namespace, prop_id: str) -> list[Policy]:
    """Named policies with a VMM, or the guest catalogue; naming the property for host-only policies is an error."""
    if not args.policy:
        return guest_catalogue() if prop_id != "guest.no-foreign-host-page" else [
            get_policy(name) for name in GUEST_PAIR_DEFAULT]
    chosen = [p for p in _select_policies(args.policy) if p.vmm is not None]
    if not chosen and prop_id in args.property:
        raise UsageError(f"--property {prop_id}: it is about the guest side, and no named policy has a VMM "
                         f"(compose one, e.g. {args.policy[0].split('+')[0]}+qemu-subpage, or name qemu-subpage)")
    return chosen


GUEST_PAIR_DEFAULT = ("qemu-subpage", "linux-4.8+enhanced_allocation+qemu-subpage")
"""guest.no-foreign-host-page by default: QEMU on the newest kernel, and on a platform with fixed BARs (B14)."""


def _prove_records(args: argparse.Namespace, ids: list[str], pages: list[int]) -> list[Job]:
    chosen = [i for i in (ids if args.property else sorted(RECORD_PROPERTIES)) if i in RECORD_PROPERTIES]
    settings = RecordSettings(seed=args.seed, rlimit=args.rlimit,
                              options=RecordOptions(no_unsafe_interrupts=args.no_unsafe_interrupts,
                                                    max_bar_bytes=args.max_bar_size),
                              explain=not args.verdicts_only)
    jobs = []
    for prop_id in chosen:
        prop = RECORD_PROPERTIES[prop_id]
        if prop.needs_vmm:
            policies = _guest_policies(args, prop_id)
        elif args.policy:
            policies = _select_policies(args.policy)
            if prop_id not in args.property:
                policies = [p for p in policies if not prop.applies(p)]
        else:
            policies = msix_catalogue()
        jobs += [Job(RECORD, prop_id, policy.name, page, settings) for policy in policies for page in pages]
    return jobs


def _measure(args: argparse.Namespace, pages: list[int]) -> list[Job]:
    named = _select_policies(args.policy) if args.policy else [get_policy(n) for n in MEASURE_DEFAULT_POLICIES]
    policies = [p for p in named if p.has_msix]
    if not policies and MEASURE_ID in args.property:
        raise UsageError(f"--property {MEASURE_ID}: no named policy passes MSI-X devices through")
    settings = MeasureSettings(seed=args.seed, rlimit=args.rlimit)
    return [Job(MEASURE, MEASURE_ID, policy.name, page, settings) for policy in policies for page in pages]


def _prove_traces(args: argparse.Namespace, policies: list[Policy], ids: list[str], pages: list[int]) -> list[Job]:
    trace_ids = [i for i in (ids if args.property else sorted(TRACE_PROPERTIES)) if i in TRACE_PROPERTIES]
    if not trace_ids:
        return []
    events, _ = _select_events(args.events)
    if not events:
        if args.property:
            raise UsageError(f"--events {args.events!r}: no placement event for {', '.join(trace_ids)}")
        return []
    settings = TraceSettings(seed=args.seed, rlimit=args.rlimit, depth=args.depth, method=args.method,
                             placement=args.placement, events=events)
    return [Job(TRACE, i, policy.name, page, settings, args.devices or 3)
            for i in trace_ids for policy in policies for page in pages]


def _mapping_policies(args: argparse.Namespace, default: list[Policy]) -> list[Policy]:
    """Named plain policies, or the default list; modifiers change nothing the mapping model sees."""
    if not args.policy:
        return default
    chosen = _select_policies(args.policy)
    if args.mode == "trace":
        for policy in chosen:
            require_plain(policy, "--mode trace")
    return [p for p in chosen if is_plain(p)]


def _prove_mappings(args: argparse.Namespace, ids: list[str], pages: list[int]) -> list[Job]:
    chosen = [i for i in (ids if args.property else sorted(VMA_PROPERTIES)) if i in VMA_PROPERTIES]
    if not chosen:
        return []
    _, events = _select_events(args.events)
    if not events:
        if args.property:
            raise UsageError(f"--events {args.events!r}: no mapping event for {', '.join(chosen)} "
                             f"(known: {', '.join(k.value for k in VmaEventKind)})")
        return []
    settings = VmaSettings(seed=args.seed, rlimit=args.rlimit, depth=args.depth, method=args.method,
                           max_bar_bytes=args.max_bar_size, events=events)
    policies = _mapping_policies(args, mapping_catalogue())
    return [Job(VMA, i, policy.name, page, settings, args.devices or 2)
            for i in chosen for policy in policies for page in pages]


def _prove_round_trip(args: argparse.Namespace, pages: list[int]) -> list[Job]:
    settings = RoundTripSettings(seed=args.seed, rlimit=args.rlimit, max_bar_bytes=args.max_bar_size)
    policies = _mapping_policies(args, [BUILTIN[ROUND_TRIP_DEFAULT_POLICY]])
    return [Job(ROUND_TRIP, ROUND_TRIP_ID, policy.name, page, settings) for policy in policies for page in pages]


ROUND_TRIP_DEFAULT_POLICY = "linux-6.10"
"""The encoding is the uapi's and every policy shares it; the default run checks it once per page size."""


def _check(args: argparse.Namespace, stdout: TextIO) -> int:
    _require_out_for_html(args)
    specs = []
    for path in args.scenario:
        try:
            specs.append(load_scenario(path))
        except ScenarioError as err:
            raise UsageError(str(err)) from None
    if args.out:
        check_out_dir(Path(args.out))
    pages_override = _select_pages(args.page_size) if args.page_size else None
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
    _emit(args, files, stdout, f"{len(runs)} runs")
    if Verdict.COUNTEREXAMPLE in verdicts:
        return EXIT_COUNTEREXAMPLE
    return EXIT_INCONCLUSIVE if verdicts & {Verdict.UNKNOWN, Verdict.VACUOUS} else EXIT_PROVED


def _conform(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from barcheck.conform import run as conform_run
    from barcheck.conform.machines import MACHINES
    from barcheck.conform.plan import make_plan
    from barcheck.conform.render import RENDERERS as CONFORM_RENDERERS, summary_line as conform_summary
    from barcheck.conform.setup import install
    if not args.scenario and not args.setup:
        raise UsageError("conform: give scenario files, or --setup")
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
    for directory in (args.out, args.logs):
        if directory:
            check_out_dir(Path(directory))
    if args.setup:
        wanted = list({p.machine.arch: p.machine for p, _ in plans}.values()) or list(MACHINES.values())
        code = install(wanted, stderr)
        if code or not plans:
            return EXIT_INCONCLUSIVE if code else EXIT_PROVED

    def progress(result) -> None:
        stderr.write(f"barcheck conform: {result.verdict} {result.plan.spec.name} ({result.machine.arch}) "
                     f"{result.seconds:.1f} s\n")
        stderr.flush()

    results = conform_run.run_all(plans, args.jobs, args.timeout, progress)
    if args.logs:
        several = len(args.policy) > 1
        for r in results:
            if r.console:
                name = f"{r.plan.spec.name}-{r.machine.arch}" + (f"-{r.policy}" if several else "")
                write_atomically(Path(args.logs), f"{name}.log", "\n".join(r.console) + "\n")
    meta = {"barcheck_version": barcheck.__version__}
    render, extension = CONFORM_RENDERERS[args.format]
    text = render(results, meta)
    if args.out:
        path = write_atomically(Path(args.out), f"conform.{extension}", text)
        stdout.write(f"wrote {path}: {conform_summary(results)}\n")
    else:
        stdout.write(text)
    return conform_exit_code([r.verdict for r in results])


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
        commands = {"list": lambda: _list(stdout), "prove": lambda: _prove(args, stdout, stderr),
                    "replay": lambda: replay_command(args, stdout, UsageError),
                    "explain": lambda: explain_command(args, stdout, UsageError),
                    "export-test": lambda: export_command(args, stdout, UsageError, write_atomically),
                    "reports": lambda: reports_command(args, stdout, UsageError),
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


def run() -> None:
    from barcheck.cli.entry import run as run_guarded
    run_guarded()


if __name__ == "__main__":
    run()
