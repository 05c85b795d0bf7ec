"""`barcheck prove`: plan the checks a selection names, gate them on a patch, solve and report them."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TextIO

import barcheck
from barcheck.engine.checker import Settings
from barcheck.run.jobs import MEASURE, PAIR, RECORD, ROUND_TRIP, TRACE, VMA, Job, run_jobs
from barcheck.cli.progress import open_cache_option, progress_printer
from barcheck.cli.util import (UsageError, check_out_dir, write_files_atomically)
from barcheck.render.text import RENDERERS, document, render_markdown, summary_line
from barcheck.render.formats import render_doc
from barcheck.render.html import render_cex_svgs
from barcheck.engine.msixmeasure import DEFAULT_POLICIES as MEASURE_DEFAULT_POLICIES
from properties.declared import MEASURE_ID
from barcheck.engine.pgoffcheck import ROUND_TRIP_ID
from barcheck.engine.session import z3_version
from barcheck.engine.settings import RunSettings
from barcheck.cli.patchgate import dependent_checks, overridden_members, require_files_read
from barcheck.run.userpolicy import (loaded_files, policy_file_of)
from barcheck.engine.verdict import Result, Verdict
from model.policies import (BUILTIN, Policy, get_policy, guest_catalogue,
                            mapping_catalogue, msix_catalogue)
from model.vma import VmaEventKind
from properties import RECORD_PROPERTIES, Property
from properties.revoke import VMA_PROPERTIES
from properties.trace import TRACE_PROPERTIES
from barcheck.cli.args import (EXIT_COUNTEREXAMPLE, EXIT_INCONCLUSIVE, EXIT_PROVED, check_property_modes,
                               select_events, select_pages, select_policies, select_properties, trace_ids,
                               effective_mode, is_plain, require_plain)


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


def prove_command(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    require_out_for_html(args)
    results, measures, meta = solve_selection(args, stderr)
    if args.format in RENDERERS:
        render, extension = RENDERERS[args.format]
        if args.format == "md" and args.out:
            files = {"report.md": render_markdown(results, meta, measures, timings=not args.no_timings,
                                                  map_files=True)}
            for result in document(results, meta, measures, timings=False)["results"]:
                files.update(render_cex_svgs(result))
        else:
            files = {f"report.{extension}": render(results, meta, measures, timings=not args.no_timings)}
    else:
        doc = document(results, meta, measures, timings=not args.no_timings)
        files = render_doc(args.format, doc, "report", include_proved=args.sarif_proved)
    emit(args, files, stdout, summary_line(results))
    code = exit_code_for(results)
    if code == EXIT_PROVED and any(m.certified != "proved" for m in measures):
        return EXIT_INCONCLUSIVE
    return code


def solve_selection(args: argparse.Namespace, stderr: TextIO,
                    keep: frozenset[tuple[str, str]] | None = None) -> tuple[list[Result], list, dict]:
    """Results, measures and meta of the checks `args` select (the prove and matrix options).

    With a policy file among the policies and no --property, only the checks whose encoding reads a
    member the file overrides run (barcheck/run/depends.py); `keep` gives that selection instead (diff)."""
    policies = select_policies(args.policy)
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


def run_settings(args: argparse.Namespace) -> RunSettings:
    """The one settings object of a prove, matrix or diff run, from its options."""
    trace_events, mapping_events = select_events(args.events)
    return RunSettings(seed=args.seed, rlimit=args.rlimit, explain=not args.verdicts_only, depth=args.depth,
                       method=args.method, placement=args.placement, trace_events=trace_events,
                       mapping_events=mapping_events, max_bar_bytes=args.max_bar_size,
                       no_unsafe_interrupts=args.no_unsafe_interrupts)


def plan_checks(args: argparse.Namespace, policies: list[Policy]) -> Plan:
    """Every check the options select, before a policy file's selection narrows them."""
    check_property_modes(args.property, args.mode)
    select_events(args.events)
    props = select_properties(args.property)
    pages = select_pages(args.page_size)
    run = run_settings(args)
    settings = run.pair()
    jobs: list[Job] = []
    ids = list(dict.fromkeys(args.property))
    measure_jobs: list[Job] = []
    if args.mode in ("all", "pair"):
        for prop in props:
            chosen = _guest_policies(args, prop.id) if prop.needs_vmm else policies
            jobs += [Job(PAIR, prop.id, policy.name, page, settings) for policy in chosen for page in pages]
        if not ids or ROUND_TRIP_ID in ids:
            jobs += _prove_round_trip(args, run, pages)
        jobs += _prove_records(args, run, ids, pages)
        if MEASURE_ID in ids or (not ids and args.mode == "all"):
            measure_jobs = _measure(args, run, pages)
    if args.mode in ("all", "trace"):
        traceable = [p for p in policies if is_plain(p) and (args.policy or p.placed_by_pci_core)]
        if args.mode == "trace" and args.policy:
            for policy in policies:
                require_plain(policy, "--mode trace")
        jobs += _prove_traces(args, run, traceable, trace_ids(args, ids), pages)
        jobs += _prove_mappings(args, run, trace_ids(args, ids), pages)
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


def emit(args: argparse.Namespace, files: dict[str, str], stdout: TextIO, summary: str) -> None:
    """Write the files into --out (all or none), or the single one to stdout."""
    if not args.out:
        (text,) = files.values()
        stdout.write(text)
        return
    paths = write_files_atomically(Path(args.out), files)
    stdout.write(f"wrote {paths[0]}" + (f" and {len(paths) - 1} more files" if paths[1:] else "") + f": {summary}\n")


def require_out_for_html(args: argparse.Namespace) -> None:
    if args.format == "html" and not args.out:
        raise UsageError("--format html writes report.html and its .svg maps into a directory: give --out DIR")


def _guest_policies(args: argparse.Namespace, prop_id: str) -> list[Policy]:
    """Named policies with a VMM, or the guest catalogue; naming the property for host-only policies is an error."""
    if not args.policy:
        return guest_catalogue() if prop_id != "guest.no-foreign-host-page" else [
            get_policy(name) for name in GUEST_PAIR_DEFAULT]
    chosen = [p for p in select_policies(args.policy) if p.vmm is not None]
    if not chosen and prop_id in args.property:
        raise UsageError(f"--property {prop_id}: it is about the guest side, and no named policy has a VMM "
                         f"(compose one, e.g. {args.policy[0].split('+')[0]}+qemu-subpage, or name qemu-subpage)")
    return chosen


GUEST_PAIR_DEFAULT = ("qemu-subpage", "linux-4.8+enhanced_allocation+qemu-subpage")
"""guest.no-foreign-host-page by default: QEMU on the newest kernel, and on a platform with fixed BARs (B14)."""


def _prove_records(args: argparse.Namespace, run: RunSettings, ids: list[str], pages: list[int]) -> list[Job]:
    chosen = [i for i in (ids if args.property else sorted(RECORD_PROPERTIES)) if i in RECORD_PROPERTIES]
    settings = run.record()
    jobs = []
    for prop_id in chosen:
        prop = RECORD_PROPERTIES[prop_id]
        if prop.needs_vmm:
            policies = _guest_policies(args, prop_id)
        elif args.policy:
            policies = select_policies(args.policy)
            if prop_id not in args.property:
                policies = [p for p in policies if not prop.applies(p)]
        else:
            policies = msix_catalogue()
        jobs += [Job(RECORD, prop_id, policy.name, page, settings) for policy in policies for page in pages]
    return jobs


def _measure(args: argparse.Namespace, run: RunSettings, pages: list[int]) -> list[Job]:
    named = select_policies(args.policy) if args.policy else [get_policy(n) for n in MEASURE_DEFAULT_POLICIES]
    policies = [p for p in named if p.has_msix]
    if not policies and MEASURE_ID in args.property:
        raise UsageError(f"--property {MEASURE_ID}: no named policy passes MSI-X devices through")
    settings = run.measure()
    return [Job(MEASURE, MEASURE_ID, policy.name, page, settings) for policy in policies for page in pages]


def _prove_traces(args: argparse.Namespace, run: RunSettings, policies: list[Policy], ids: list[str],
                  pages: list[int]) -> list[Job]:
    trace_ids = [i for i in (ids if args.property else sorted(TRACE_PROPERTIES)) if i in TRACE_PROPERTIES]
    if not trace_ids:
        return []
    if not run.trace_events:
        if args.property:
            raise UsageError(f"--events {args.events!r}: no placement event for {', '.join(trace_ids)}")
        return []
    settings = run.trace()
    if len(pages) > 1:
        settings = dataclasses.replace(settings, page_family=tuple(sorted(set(pages))))
    return [Job(TRACE, i, policy.name, page, settings, args.devices or 3)
            for i in trace_ids for policy in policies for page in pages]


def _mapping_policies(args: argparse.Namespace, default: list[Policy]) -> list[Policy]:
    """Named plain policies, or the default list; modifiers change nothing the mapping model sees."""
    if not args.policy:
        return default
    chosen = select_policies(args.policy)
    if args.mode == "trace":
        for policy in chosen:
            require_plain(policy, "--mode trace")
    return [p for p in chosen if is_plain(p)]


def _prove_mappings(args: argparse.Namespace, run: RunSettings, ids: list[str], pages: list[int]) -> list[Job]:
    chosen = [i for i in (ids if args.property else sorted(VMA_PROPERTIES)) if i in VMA_PROPERTIES]
    if not chosen:
        return []
    if not run.mapping_events:
        if args.property:
            raise UsageError(f"--events {args.events!r}: no mapping event for {', '.join(chosen)} "
                             f"(known: {', '.join(k.value for k in VmaEventKind)})")
        return []
    settings = run.mapping()
    policies = _mapping_policies(args, mapping_catalogue())
    return [Job(VMA, i, policy.name, page, settings, args.devices or 2)
            for i in chosen for policy in policies for page in pages]


def _prove_round_trip(args: argparse.Namespace, run: RunSettings, pages: list[int]) -> list[Job]:
    settings = run.round_trip()
    policies = _mapping_policies(args, [BUILTIN[ROUND_TRIP_DEFAULT_POLICY]])
    return [Job(ROUND_TRIP, ROUND_TRIP_ID, policy.name, page, settings) for policy in policies for page in pages]


ROUND_TRIP_DEFAULT_POLICY = "linux-6.10"
"""The encoding is the uapi's and every policy shares it; the default run checks it once per page size."""
