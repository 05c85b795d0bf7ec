"""`barcheck new-policy` and `barcheck diff`: model a patch, and compare it with the kernel it patches."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable, TextIO

from barcheck.cli.policy_template import class_name, render_template, rule_lines
from barcheck.inputs.textsafe import excerpt
from barcheck.run.userpolicy import NAME_PATTERN, forget_user_policies, policy_file_of
from model.policies import BUILTIN, VMMS
from model.policies.alignment import MODIFIERS
from model.units import size_name

DIFF_SCHEMA = "barcheck.diff/1"
DIFF_FORMATS = ("b4", "json", "md", "text")
REGRESSION, FIXED, LOST_PROOF, NEW_COUNTEREXAMPLE = "regression", "fixed", "lost-proof", "new-counterexample"
GAINED_PROOF, LOST_COUNTEREXAMPLE, CHANGED, SAME = "gained-proof", "lost-counterexample", "changed", "same"
ONLY_A, ONLY_B = "only-a", "only-b"
CHANGES = (REGRESSION, NEW_COUNTEREXAMPLE, LOST_PROOF, CHANGED, LOST_COUNTEREXAMPLE, GAINED_PROOF, FIXED,
           ONLY_A, ONLY_B, SAME)
"""Every kind of row, worst first (the order rows are listed in)."""
INCONCLUSIVE_CHANGES = (NEW_COUNTEREXAMPLE, LOST_PROOF)


def add_commands(commands, add_selection_arguments: Callable[[argparse.ArgumentParser], None]) -> None:
    new = commands.add_parser("new-policy", help="write NAME.py, a commented policy file to model a patch in")
    new.add_argument("name", nargs="?", metavar="NAME", help="the policy's name; the file is NAME.py in the "
                                                             "current directory")
    new.add_argument("--base", default="linux-4.8", metavar="POLICY",
                     help=f"the built-in policy the patch changes (default linux-4.8; one of {', '.join(BUILTIN)})")
    new.add_argument("--force", action="store_true", help="overwrite an existing NAME.py")
    new.add_argument("--list-rules", action="store_true", help="print the rules of --base and exit")
    diff = commands.add_parser("diff", help="the verdicts that change between two policies (e.g. two revisions "
                                            "of a patch); exit 1 if a proved property is refuted")
    diff.add_argument("--format", choices=DIFF_FORMATS, default="text",
                      help="b4: only problem lines, checkpatch style (ERROR:/WARNING:), for b4's per-patch check")
    diff.add_argument("--out", metavar="DIR", help="write diff.<ext> into DIR instead of stdout")
    diff.add_argument("--all", dest="show_all", action="store_true", help="also list the checks that did not change")
    add_selection_arguments(diff)


# --- new-policy ---------------------------------------------------------------------------------

def new_policy_command(args: argparse.Namespace, stdout: TextIO, usage_error: type[Exception]) -> int:
    from barcheck.cli.util import write_atomically
    if args.base not in BUILTIN:
        raise usage_error(f"--base: {args.base!r} is not a built-in policy (known: {', '.join(BUILTIN)})")
    if args.list_rules:
        stdout.write("".join(f"{line}\n" for line in rule_lines(BUILTIN[args.base])))
        return 0
    if not args.name:
        raise usage_error("new-policy: give the policy's NAME (the file is NAME.py)")
    name = args.name[:-3] if args.name.endswith(".py") else args.name
    if not NAME_PATTERN.fullmatch(name) or "/" in name:
        raise usage_error(f"new-policy: {name!r} is not a policy name (letters, digits, '.', '_' and '-')")
    if name in BUILTIN or name in VMMS or name in MODIFIERS:
        raise usage_error(f"new-policy: {name!r} is taken by a built-in policy or modifier")
    target = Path.cwd() / f"{name}.py"
    try:
        exists = target.exists()
    except OSError as err:
        raise usage_error(f"new-policy: {excerpt(name)}: {err.strerror or err}") from None
    if exists and not args.force:
        raise usage_error(f"new-policy: {target.name} exists (--force overwrites it)")
    write_atomically(Path.cwd(), target.name, render_template(name, args.base))
    stdout.write(f"wrote {target.name}: class {class_name(name)}({type(BUILTIN[args.base]).__name__}); "
                 f"check it with: barcheck prove --policy {target.name}\n")
    return 0


# --- diff ---------------------------------------------------------------------------------------

def diff_command(args: argparse.Namespace, stdout: TextIO, stderr: TextIO, usage_error: type[Exception]) -> int:
    from barcheck.cli.args import named_policy
    from barcheck.cli.prove import solve_selection
    from barcheck.cli.util import check_out_dir, write_atomically
    from barcheck.render.text import document
    if len(args.policy) != 2:
        raise usage_error(f"diff: give exactly two policies, --policy A --policy B (got {len(args.policy)})")
    if args.out:
        check_out_dir(Path(args.out))
    keep, changed = _diff_selection(args)
    sides, metas = [], []
    for spec in args.policy:
        forget_user_policies()
        side_args = _side_args(args, spec)
        name = named_policy(spec).name
        results, _, meta = solve_selection(side_args, stderr, keep=keep)
        doc = document(results, meta, timings=False)
        source = policy_file_of(name)
        sides.append((spec, name, source.sha256 if source else "", doc["results"]))
        metas.append(meta)
    forget_user_policies()
    diff = diff_document(sides, metas[0], sorted(changed), gated=not args.property)
    text = RENDERERS[args.format](diff, args.show_all)
    if args.out:
        extension = {"b4": "txt", "json": "json", "md": "md", "text": "txt"}[args.format]
        path = write_atomically(Path(args.out), f"diff.{extension}", text)
        stdout.write(f"wrote {path}: {summary_line(diff)}\n")
    else:
        stdout.write(text)
    return diff["exit_code"]


def _side_args(args: argparse.Namespace, spec: str) -> argparse.Namespace:
    """One side's options: every kind unless --mode narrows it, or --property names the checks as prove
    would take them."""
    from barcheck.cli.args import effective_mode
    mode = args.mode or (effective_mode(args, []) if args.property else "all")
    return argparse.Namespace(**{**vars(args), "policy": [spec], "mode": mode, "mode_given": args.mode is not None})


def _diff_selection(args: argparse.Namespace) -> tuple[frozenset[tuple[str, str]] | None, set[str]]:
    """The checks that read a member in which the two policies differ (each side loaded in turn, since
    two revisions of one file share a name), and those members.  With --property, the user's checks."""
    from barcheck.cli.args import named_policy
    from barcheck.cli.prove import plan_checks
    from barcheck.cli.patchgate import dependent_checks, diff_members, require_files_read
    sides = []
    for spec in args.policy:
        forget_user_policies()
        policy = named_policy(spec)
        sides.append((spec, policy, policy_file_of(policy.name)))
    changed = diff_members(sides[0][1], sides[1][1])
    keep: set[tuple[str, str]] = set()
    user_chose = bool(args.property) or args.mode is not None
    for spec, policy, _ in sides:
        forget_user_policies()
        named_policy(spec)
        plan = plan_checks(_side_args(args, spec), [policy])
        candidates = plan.jobs
        if args.property:
            keep |= {(job.engine, job.prop_id) for job in candidates}
        else:
            keep |= dependent_checks(candidates, {policy.name: policy}, changed, {policy.name})
        require_files_read([policy], [job for job in candidates if (job.engine, job.prop_id) in keep]
                           if not args.property else candidates, chosen_by_user=user_chose)
    forget_user_policies()
    return frozenset(keep), changed


def diff_document(sides: list[tuple[str, str, str, list[dict]]], meta: dict[str, Any],
                  changed: list[str] | None = None, gated: bool = False) -> dict[str, Any]:
    (spec_a, name_a, sha_a, results_a), (spec_b, name_b, sha_b, results_b) = sides
    by_a, by_b = _index(results_a), _index(results_b)
    rows = [_row(key, by_a.get(key), by_b.get(key)) for key in sorted(set(by_a) | set(by_b))]
    rows.sort(key=lambda row: (CHANGES.index(row["change"]), row["property"], row["kind"], row["page_size"]))
    counts = {change: sum(1 for row in rows if row["change"] == change) for change in CHANGES}
    unknown = any(row[side] == "unknown" for row in rows for side in ("a", "b"))
    code = 1 if counts[REGRESSION] else 3 if any(map(_inconclusive, rows)) or unknown else 0
    keep = ("barcheck_version", "z3_version", "seed", "rlimit", "width_bits", "page_sizes")
    selection = ("both sides ran the same selection: every check whose encoding reads a member in which "
                 "the policies differ" if gated else "both sides ran the same selection")
    extra = {"changed_members": changed} if changed is not None else {}
    return {"schema": DIFF_SCHEMA,
            "meta": {**{k: meta[k] for k in keep if k in meta}, "inputs_note": selection, **extra},
            "a": _side(spec_a, name_a, sha_a), "b": _side(spec_b, name_b, sha_b),
            "summary": {change: counts[change] for change in CHANGES}, "exit_code": code, "rows": rows}


def _inconclusive(row: dict) -> bool:
    """A row that leaves a regression possible: B refutes or cannot decide what A did not check, or
    A's proof was lost, or B refutes what A could not decide."""
    return row["change"] in INCONCLUSIVE_CHANGES or (
        row["change"] == ONLY_B and row["b"] in ("counterexample", "unknown"))


def _side(spec: str, name: str, sha256: str) -> dict[str, str]:
    side = {"policy": name, "given": spec}
    if sha256:
        side["sha256"] = sha256
    return side


def _index(results: list[dict]) -> dict[tuple, dict]:
    return {(r["property"], r["kind"], r["page_size"]): r for r in results}


def _row(key: tuple, a: dict | None, b: dict | None) -> dict[str, Any]:
    prop, kind, page = key
    verdict_a, verdict_b = (a["verdict"] if a else None), (b["verdict"] if b else None)
    change = classify(verdict_a, verdict_b)
    return {"property": prop, "kind": kind, "page_size": page, "a": verdict_a, "b": verdict_b, "change": change,
            "reason": _reason(change, a, b)}


def classify(a: str | None, b: str | None) -> str:
    if a is None:
        return ONLY_B
    if b is None:
        return ONLY_A
    if a == b:
        return SAME
    if b == "counterexample":
        return REGRESSION if a == "proved" else NEW_COUNTEREXAMPLE
    if a == "proved":
        return LOST_PROOF
    if b == "proved":
        return FIXED if a == "counterexample" else GAINED_PROOF
    return LOST_COUNTEREXAMPLE if a == "counterexample" else CHANGED


def _reason(change: str, a: dict | None, b: dict | None) -> str:
    if change in (FIXED, LOST_COUNTEREXAMPLE, ONLY_A):
        return f"A: {_why(a)}" if a else ""
    return _why(b) if b else ""


def _why(result: dict) -> str:
    if result.get("explanation"):
        return result["explanation"]
    if result.get("reason"):
        return result["reason"]
    used = result.get("assumptions", [])
    return f"proved using {len(used)} assumption{'s' if len(used) != 1 else ''}" + (
        f": {', '.join(used)}" if used else "")


def summary_line(diff: dict) -> str:
    counts = diff["summary"]
    shown = [f"{counts[c]} {c}" for c in CHANGES if counts[c]]
    return f"{sum(counts.values())} checks compared: " + (", ".join(shown) if shown else "nothing to compare")


def _page(row: dict) -> str:
    return size_name(row["page_size"])


def _visible(diff: dict, show_all: bool) -> list[dict]:
    return [row for row in diff["rows"] if show_all or row["change"] != SAME]


def _title(diff: dict) -> str:
    def side(label: str, s: dict) -> str:
        where = f" from {s['given']}" if s["given"] != s["policy"] else ""
        return f"{label} = {s['policy']}{where}"
    return f"barcheck diff: {side('A', diff['a'])}; {side('B', diff['b'])}"


def render_text(diff: dict, show_all: bool) -> str:
    rows = _visible(diff, show_all)
    lines = [_title(diff), ""]
    if rows:
        header = ("property", "kind", "page", "A", "B", "change")
        table = [header] + [(r["property"], r["kind"], _page(r), r["a"] or "-", r["b"] or "-", r["change"])
                            for r in rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for row, source in zip(table, [None, *rows]):
            line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
            lines.append(line)
            if source and source["reason"] and source["change"] != SAME:
                lines.append(f"    {source['reason']}")
    else:
        lines.append("no verdict changed")
    lines += ["", summary_line(diff) + f" (exit {diff['exit_code']})"]
    return "\n".join(lines) + "\n"


def render_md(diff: dict, show_all: bool) -> str:
    rows = _visible(diff, show_all)
    lines = [f"## {_title(diff)}", "", summary_line(diff) + f" (exit {diff['exit_code']}).", ""]
    if rows:
        lines += ["| property | kind | page | A | B | change | reason |", "|---|---|---|---|---|---|---|"]
        for r in rows:
            reason = r["reason"].replace("|", "\\|")
            lines.append(f"| `{r['property']}` | {r['kind']} | {_page(r)} | {r['a'] or '-'} | {r['b'] or '-'} | "
                         f"**{r['change']}** | {reason} |")
    return "\n".join(lines) + "\n"


def render_json(diff: dict, show_all: bool) -> str:
    shown = {**diff, "rows": _visible(diff, show_all)}
    return json.dumps(shown, indent=2, sort_keys=False) + "\n"


def render_b4(diff: dict, show_all: bool) -> str:
    """checkpatch-style lines: b4 counts a line with ERROR: as a failure, any other line as a warning,
    and a patch with no output as passing."""
    a, b = diff["a"]["policy"], diff["b"]["policy"]
    lines = []
    for r in diff["rows"]:
        where = f"{r['property']} ({r['kind']}, {_page(r)})"
        if r["change"] == REGRESSION:
            lines.append(f"ERROR: barcheck: {where}: proved under {a}, counterexample under {b}: {r['reason']}")
        elif _inconclusive(r) or "unknown" in (r["a"], r["b"]):
            lines.append(f"WARNING: barcheck: {where}: {r['a'] or '-'} under {a}, {r['b'] or '-'} under {b}: "
                         f"{r['reason']}")
    return "".join(f"{line}\n" for line in lines)


RENDERERS = {"b4": render_b4, "json": render_json, "md": render_md, "text": render_text}
