"""`barcheck replay`, `explain` and `export-test`: working with saved counterexamples.

Nothing a file says about itself is printed as fact.  Each counterexample is validated
against the witness schema first (savedcex.py: the labels must agree with the witness and
with every place the body records them), then its witness is replayed on today's code, and
what is printed (labels, sentence, facts or steps, maps) is rendered from that replay.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

from barcheck.cli.util import write_files_atomically
from barcheck.render.explain import title_and_statement
from barcheck.saved.export import EXPECTATIONS, pytest_function_name, pytest_source
from barcheck.render.text import result_doc
from barcheck.render.pages import cex_markdown, cex_text, label
from barcheck.saved.savedcex import SavedCexError, load_checked
from barcheck.inputs.textsafe import escape_control, escape_control_lines
from barcheck.engine.verdict import Counterexample, Result, SolverInfo, Verdict
from barcheck.engine.wire import WireError
from barcheck.engine.witness import NO_LONGER_VIOLATES, NOT_A_VALID_INPUT, STILL_VIOLATES, Replayed, replay_witness
from barcheck.saved.witness_schema import Labels

EXIT_HOLDS, EXIT_VIOLATES, EXIT_INVALID = 0, 1, 3
STATUS_TEXT = {STILL_VIOLATES: "STILL VIOLATES", NO_LONGER_VIOLATES: "NO LONGER VIOLATES",
               NOT_A_VALID_INPUT: "INVALID INPUT"}
DERIVED_KEYS = ("explanation", "facts", "steps", "counterexample", "trace", "maps", "title", "statement", "source")
"""What `explain` renders from the replay instead of the file."""


def add_commands(commands, positive: Callable) -> None:
    replay = commands.add_parser("replay", help="replay saved counterexamples on the concrete semantics; exit 1 if "
                                                "any still violates, 0 if none does, 3 if an input is no longer valid")
    replay.add_argument("cex", nargs="+", metavar="CEX.json")
    _policy_file_option(replay)
    explain = commands.add_parser("explain", help="replay saved counterexamples and print what they show")
    explain.add_argument("cex", nargs="+", metavar="CEX.json")
    explain.add_argument("--format", choices=("text", "md"), default="text")
    _policy_file_option(explain)
    export = commands.add_parser("export-test", help="write each saved counterexample as a pytest regression test")
    export.add_argument("cex", nargs="+", metavar="CEX.json")
    export.add_argument("--out", metavar="DIR", required=True, help="directory for the test_*.py files")
    export.add_argument("--expect", choices=EXPECTATIONS, default="holds",
                        help="holds: the test fails while the bug is there (guards a fix); violates: the test "
                             "fails once the inputs stop violating (pins a known bug)")
    _policy_file_option(export)


def _policy_file_option(parser) -> None:
    parser.add_argument("--policy-file", action="append", default=[], metavar="PATH.py",
                        help="load a user policy a counterexample names (its Python code runs); repeatable")


def _load_policy_files(args: argparse.Namespace, usage_error: type[Exception]) -> None:
    from barcheck.run.userpolicy import PolicyFileError, load_policy_file
    for policy_file in args.policy_file:
        try:
            load_policy_file(policy_file)
        except PolicyFileError as err:
            raise usage_error(f"--policy-file: {err}") from None


@dataclass(frozen=True, slots=True)
class Saved:
    """One validated counterexample of a file, replayed."""

    path: str
    result: dict[str, Any]
    labels: Labels
    outcome: Replayed

    @property
    def label(self) -> str:
        return escape_control(label({"property": self.labels.property, "kind": self.labels.kind,
                                     "policy": self.labels.policy, "page_size": self.labels.page_bytes}))

    @property
    def detail(self) -> str:
        return escape_control(self.outcome.detail)


def _replay_all(args: argparse.Namespace, usage_error: type[Exception]) -> list[Saved]:
    """Every counterexample of every file, validated (all files first) and then replayed."""
    _load_policy_files(args, usage_error)
    loaded = []
    for path in args.cex:
        try:
            _, results = load_checked(path)
        except SavedCexError as err:
            raise usage_error(str(err)) from None
        loaded += [(path, result, labels) for result, labels in results]
    saved = []
    for path, result, labels in loaded:
        try:
            outcome = replay_witness(result["replay"])
        except WireError as err:
            hint = ("; for a user policy, give its file with --policy-file PATH.py"
                    if "unknown policy" in str(err) else "")
            raise usage_error(escape_control(f"{path}: {result['id']}: {err}{hint}")) from None
        saved.append(Saved(path, result, labels, outcome))
    return saved


def replay_command(args: argparse.Namespace, stdout: TextIO, usage_error: type[Exception]) -> int:
    saved = _replay_all(args, usage_error)
    for item in saved:
        stdout.write(f"{STATUS_TEXT[item.outcome.status]:18} {item.label}: {item.detail}\n")
    statuses = {item.outcome.status for item in saved}
    if STILL_VIOLATES in statuses:
        return EXIT_VIOLATES
    return EXIT_INVALID if NOT_A_VALID_INPUT in statuses else EXIT_HOLDS


def derived_doc(item: Saved) -> dict[str, Any] | None:
    """The result document the replayed counterexample renders to (None when it no longer violates)."""
    if item.outcome.status != STILL_VIOLATES:
        return None
    labels, witness, found = item.labels, item.result["replay"], item.outcome.counterexample
    scope: dict[str, Any] = {"width_bits": 64, "page_size": labels.page_bytes}
    if labels.kind != "pair":
        scope["method"] = "induction" if labels.kind == "trace" else "function"
    if labels.engine == "record":
        options = witness["options"]
        if options["no_unsafe_interrupts"]:
            scope["no_unsafe_interrupts"] = True
        if options["max_bar_bytes"] is not None:
            scope["max_bar_size"] = hex(int(options["max_bar_bytes"], 16))
    pair = isinstance(found, Counterexample)
    result = Result(labels.property, labels.policy, labels.page_bytes, Verdict.COUNTEREXAMPLE, scope, (), 0.0,
                    SolverInfo("", 0, 0, 0), counterexample=found if pair else None, trace=None if pair else found)
    return result_doc(result, timings=False)


def _differing(stored: dict[str, Any], derived: dict[str, Any]) -> list[str]:
    return [key for key in DERIVED_KEYS if key in stored and stored[key] != derived.get(key)]


def explain_command(args: argparse.Namespace, stdout: TextIO, usage_error: type[Exception]) -> int:
    texts = []
    for item in _replay_all(args, usage_error):
        derived = derived_doc(item)
        if derived is None:
            texts.append(_not_a_counterexample(item, args.format))
            continue
        if args.format == "md":
            names = [f"{derived['id']}-{n}.svg" for n in range(1, len(derived.get("maps", [])) + 1)]
            text = cex_markdown(derived, names, escape_control(item.path))
        else:
            text = cex_text(derived, escape_control(item.path))
        differing = _differing(item.result, derived)
        if differing:
            verb = "differs" if len(differing) == 1 else "differ"
            text += (f"\nnote: the file's {', '.join(differing)} {verb} from what its witness gives today; "
                     f"the above is rendered from the witness\n")
        texts.append(text)
    stdout.write(escape_control_lines("\n".join(texts)))
    return EXIT_HOLDS


def _not_a_counterexample(item: Saved, fmt: str) -> str:
    """What explain says when the inputs no longer violate: the replay's answer, never the file's sentence."""
    _, statement = title_and_statement(item.labels.property, item.labels.kind)
    status = STATUS_TEXT[item.outcome.status]
    sentence = (f"Replayed on today's policy and property code, the saved inputs give: {item.detail}. "
                f"The file's own explanation is not shown, since it is not what these inputs give now.")
    replay_hint = f"barcheck replay {escape_control(item.path)}"
    if fmt == "md":
        return "\n".join([f"# {item.label}", "", f"**{status}.** {sentence}", "", f"**Rule:** {statement}", "",
                          f"Check it again with `{replay_hint}`."]) + "\n"
    return "\n".join([f"{status} {item.label}", "", sentence, "", f"rule:   {statement}",
                      f"replay: {replay_hint}"]) + "\n"


def export_command(args: argparse.Namespace, stdout: TextIO, usage_error: type[Exception], write=None) -> int:
    """Every test file is named, checked and rendered before any is written; then all are written or none.

    `write` is not used: one file at a time could leave a partial set behind.
    """
    files: dict[str, str] = {}
    for item in _replay_all(args, usage_error):
        derived = derived_doc(item)
        summary = (derived["explanation"] if derived is not None else
                   f"replayed at export, the saved inputs gave: {item.outcome.detail}")
        shown = {"id": item.result["id"], "property": item.labels.property, "kind": item.labels.kind,
                 "policy": item.labels.policy, "page_size": item.labels.page_bytes, "replay": item.result["replay"],
                 "explanation": escape_control(summary)}
        name = _unique(files, pytest_function_name(shown))
        files[f"{name}.py"] = pytest_source(shown, args.expect, escape_control(item.path), name)
    for path in write_files_atomically(Path(args.out), files):
        stdout.write(f"wrote {escape_control(str(path))}\n")
    return EXIT_HOLDS


def _unique(files: dict[str, str], name: str) -> str:
    candidate, number = name, 2
    while f"{candidate}.py" in files:
        candidate, number = f"{name}_{number}", number + 1
    return candidate
