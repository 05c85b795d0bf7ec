"""Saved counterexamples as hostile input: `replay`, `explain` and `export-test` give one line naming the
file and the JSON path, exit 2, for every class of malformed witness, and never crash.

* each crash class the outside fuzzer found (zero and tiny widths, a zero granule, a missing `kind`,
  wrong types, deep nesting, huge integers, 2^64 sizes), through all three commands;
* special files (a FIFO, /dev/zero) are refused before they are read;
* Hypothesis, in-process and derandomized: every committed counterexample file mutated at up to
  three JSON paths (10,500 inputs); witnesses stripped to their labels with their values replaced
  by other 64-bit values, replayed and rendered; and the JSON text cut and spliced with junk.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile_values import CONTROL_TEXTS, HUGE, HUGE_DIGITS, mutated, to_json_text, tree_copy, values
from barcheck.cli.main import main
from barcheck.cli.saved import Saved, derived_doc
from barcheck.render.pages import cex_markdown, cex_text
from barcheck.saved.savedcex import SavedCexError, loads_checked
from barcheck.inputs.textsafe import escape_control, escape_control_lines
from barcheck.engine.wire import WireError
from barcheck.engine.witness import STILL_VIOLATES, replay_witness

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted((ROOT / "reports" / "counterexamples").glob("*.json")) + sorted(
    (ROOT / "tests" / "data" / "saved-cex").glob("*.json"))
DOCS = [json.loads(path.read_text()) for path in FILES]
BY_ENGINE = {doc["result"]["replay"]["engine"]: doc for doc in DOCS}
NAME = "fuzz/cex.json"
STRUCTURED_EXAMPLES = 10_500
REPLAY_EXAMPLES = 3_000
TEXT_EXAMPLES = 2_000
FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example, HealthCheck.filter_too_much])
COMMANDS = ("replay", "explain", "export-test")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def edited(engine: str, edit) -> dict:
    doc = tree_copy(BY_ENGINE[engine])
    edit(doc["result"])
    return doc


def set_in(path: tuple, value):
    def edit(node):
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


def drop(key: str):
    return lambda result: result.pop(key)


CRASH_CLASSES = [
    ("zero width", "pair", set_in(("replay", "shape", "width"), "0x0"), "replay.shape.width: 0x0"),
    ("tiny width", "pair", set_in(("replay", "shape", "width"), "0x2"), "replay.shape.width: 0x2"),
    ("tiny trace width", "trace", set_in(("replay", "width_bits"), 8), "replay.width_bits: 8"),
    ("tiny vma width", "vma", set_in(("replay", "width_bits"), 1), "replay.width_bits: 1"),
    ("tiny record width", "record", set_in(("replay", "width_bits"), 4), "replay.width_bits: 4"),
    ("zero window granule", "pair", set_in(("replay", "shape", "window_granule_bytes"), "0x0"),
     "replay.shape.window_granule_bytes: 0x0 is not a power of two"),
    ("zero decoder granule", "pair", set_in(("replay", "shape", "decoder_granule_bytes"), "0x0"),
     "replay.shape.decoder_granule_bytes: 0x0"),
    ("zero fixed granule", "pair", set_in(("replay", "shape", "fixed_granule_bytes"), "0x0"),
     "replay.shape.fixed_granule_bytes: 0x0"),
    ("missing kind", "pair", drop("kind"), "result.kind: missing"),
    ("missing event kind", "vma", lambda r: r["replay"]["moves"][0]["event"].pop("kind"),
     "replay.moves[0].event.kind: missing"),
    ("explanation of the wrong type", "pair", set_in(("explanation",), 5), "result.explanation: expected a string"),
    ("source of the wrong type", "trace", set_in(("source",), "x"), "result.source: expected an object"),
    ("id of the wrong type", "record", set_in(("id",), 5), "result.id: expected a file-name-safe id"),
    ("page size of the wrong type", "pair", set_in(("page_size",), "4K"), "result.page_size: expected an integer"),
    ("facts of the wrong type", "pair", set_in(("facts",), {"a": 1}), "result.facts: expected a list"),
    ("maps of the wrong type", "round-trip", set_in(("maps",), "x"), "result.maps: expected a list"),
    ("steps of the wrong type", "vma", set_in(("steps",), [1]), "result.steps[0]: expected a string"),
    ("2^64 BAR size", "pair", set_in(("replay", "scenario", "bar_size"), "0x10000000000000000"),
     "replay.scenario.bar_size: expected a hex string of a 64-bit value"),
    ("2^64 vma size", "vma", set_in(("replay", "initial", "size", 0), "0x10000000000000000"),
     "replay.initial.size[0]: expected a hex string of a 64-bit value"),
    ("huge hex", "round-trip", set_in(("replay", "size"), "0x" + "f" * HUGE_DIGITS), "(5002 characters)"),
    ("huge integer", "trace", set_in(("replay", "width_bits"), HUGE), "an integer of 5000 digits"),
    ("negative", "record", set_in(("replay", "fields", "bar_size"), "-0x10"), "replay.fields.bar_size: expected a hex"),
    ("not a structure index", "trace", set_in(("replay", "structure", "devices", 0, "window"), "0x7"),
     "replay.structure.devices[0].window: 0x7 is not the index of one of the 2 windows"),
    ("event target out of range", "vma", set_in(("replay", "moves", 0, "event", "target"), "0x9"),
     "replay.moves[0].event.target: 0x9 is not the index"),
    ("unknown key", "pair", set_in(("replay", "shape", "extra"), 1), "replay.shape.extra: not a field here"),
    ("control characters in a name", "trace", set_in(("replay", "structure", "devices", 0, "name"), "\x1b[2J"),
     "replay.structure.devices[0].name: '\\x1b[2J' contains a control character"),
    ("an unknown engine", "pair", set_in(("replay", "engine"), "quantum"), "replay.engine: unknown engine"),
    ("a page size out of range", "round-trip", set_in(("replay", "page_size"), "0x10"),
     "replay.page_size: 0x10 is not a power of two from 4K to 1G"),
]


@pytest.mark.parametrize("engine, edit, needle", [c[1:] for c in CRASH_CLASSES], ids=[c[0] for c in CRASH_CLASSES])
def test_each_crash_class_is_one_line_exit_2_in_every_command(tmp_path, engine, edit, needle):
    bad = tmp_path / "bad.json"
    bad.write_text(to_json_text(edited(engine, edit)))
    for command in COMMANDS:
        extra = ("--out", str(tmp_path / "out")) if command == "export-test" else ()
        code, out, err = run(command, str(bad), *extra)
        assert code == 2 and out == "", (command, code, err)
        assert err.startswith(f"barcheck: error: {bad}: ") and err.count("\n") == 1, err
        assert needle in err, (command, err)
        assert escape_control(err[:-1]) == err[:-1]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, needle", [
    ("[" * 100_000 + "]" * 100_000, "nest more than 64 deep"),
    ('{"a":' * 200 + "1" + "}" * 200, "nest more than 64 deep"),
    ('{"schema": "barcheck.counterexample/1", "schema": "x"}', "the key 'schema' appears twice"),
    ('{"schema": NaN}', "NaN is not a JSON number"),
    ('{"schema": ' + "9" * HUGE_DIGITS + "}", "an integer of 5000 digits"),
    ("{\n  \"schema\": \n}", "line 3 column 1: not JSON"),
], ids=["lists nested 100000 deep", "objects nested 200 deep", "duplicate key", "NaN", "5000-digit integer",
        "syntax"])
def test_malformed_json_is_one_line_exit_2(tmp_path, text, needle):
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    for command in COMMANDS:
        code, out, err = run(command, str(bad), *(("--out", str(tmp_path)) if command == "export-test" else ()))
        assert code == 2 and out == "" and needle in err and err.count("\n") == 1, (command, err)


def test_special_files_are_refused_before_reading(tmp_path):
    fifo = tmp_path / "cex.json"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    for path, needle in ((fifo, "FIFO"), (zero, "character device")):
        code, out, err = run("replay", str(path))
        assert code == 2 and needle in err and err.count("\n") == 1, err
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"schema": "\xff"}')
    assert "not UTF-8" in run("explain", str(bad))[2]


def test_a_control_character_in_the_path_is_escaped(tmp_path):
    bad = tmp_path / "x\x1b[2Jy.json"
    bad.write_text("{}")
    code, _, err = run("replay", str(bad))
    assert code == 2 and "\x1b" not in err and "x\\x1b[2Jy.json" in err


# ----------------------------------------------------------------------------- hypothesis

HOSTILE = values(huge=HUGE, with_null=True)
HEX = st.sampled_from(["0x0", "0x1", "0x2", "0x4", "0x6", "0x8", "0x10", "0x40", "0x1000", "0x10000",
                       "0xfe000000", "0xffffffffffffffff", "0x8000000000000000", "0x10000000000000000"])
PLAUSIBLE = {
    "width": HEX, "width_bits": st.sampled_from([0, 1, 8, 32, 63, 64, 65, True]),
    "window_granule_bytes": HEX, "decoder_granule_bytes": HEX, "fixed_granule_bytes": HEX,
    "page_size": st.one_of(HEX, st.sampled_from([4096, 16384, 65536, 0, -4096])), "page_bytes": HEX,
    "page_shift": HEX, "kind": st.sampled_from(["pair", "trace", "function", "open", "mmap", "mem-off", "0x0",
                                                "0x1", "0x2"]),
    "engine": st.sampled_from(["pair", "trace", "vma", "record", "round-trip"]),
    "policy": st.sampled_from(["linux-4.8", "linux-6.10", "v3-per-bar", "nope"] + CONTROL_TEXTS[:2]),
    "property": st.sampled_from(["isolation.window", "revoke.complete", "probe.idempotent", "msix.table-protected",
                                 "pgoff.round-trip"]),
    "target": HEX, "device": HEX, "window": HEX, "parent": st.one_of(HEX, st.none()), "index": HEX, "bus": HEX,
    "placement": st.sampled_from(["any-free", "first-fit", "none"]),
    "choices": st.one_of(st.none(), st.lists(HEX, max_size=4)),
    "id": st.sampled_from(["x", "../../etc/passwd", "a" * 300]),
}


def render_checked(chosen) -> None:
    """Replay and render every counterexample of an accepted file, as the three commands do."""
    for result, labels in chosen:
        try:
            outcome = replay_witness(result["replay"])
        except WireError as err:
            assert "unknown policy" in str(err), err
            continue
        doc = derived_doc(Saved(NAME, result, labels, outcome))
        if doc is not None:
            for text in (cex_text(doc, NAME), cex_markdown(doc, [], NAME)):
                assert escape_control_lines(text) == text


def refused_cleanly(err: SavedCexError) -> None:
    text = str(err)
    assert text.startswith(f"{NAME}: ") and "\n" not in text and len(text) < 2000, text
    assert escape_control(text) == text, text


@settings(FUZZ, max_examples=STRUCTURED_EXAMPLES)
@given(data=st.data())
def test_hostile_witness_files_load_or_raise_saved_cex_error(data):
    document = DOCS[data.draw(st.integers(0, len(DOCS) - 1))]
    doc = mutated(data, document, HOSTILE, focus=("result", "replay"), by_key=PLAUSIBLE)
    try:
        _, chosen = loads_checked(to_json_text(doc), NAME)
    except SavedCexError as err:
        refused_cleanly(err)
        return
    render_checked(chosen)


KEEP = ("id", "property", "kind", "policy", "page_size", "verdict", "explanation", "replay")
BARE = [{"schema": doc["schema"], "result": {key: doc["result"][key] for key in KEEP}} for doc in DOCS]
WORDS = st.one_of(HEX, st.integers(0, 64).map(lambda n: hex(1 << n)), st.integers(0, 2**64 - 1).map(hex),
                  st.integers(0, 64).map(lambda n: hex((1 << n) - 1)))
LABELS = {"schema", "property", "policy", "engine", "page_size", "placement", "name", "kind"}


def _value_leaves(node, path=()):
    """Paths of the witness's words (hex strings) and flags, labels and names excepted."""
    if isinstance(node, dict):
        for key, child in node.items():
            if key not in LABELS:
                yield from _value_leaves(child, path + (key,))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _value_leaves(child, path + (i,))
    elif isinstance(node, bool) or (isinstance(node, str) and node.startswith("0x")):
        yield path


LEAVES = [list(_value_leaves(doc["result"]["replay"], ("result", "replay"))) for doc in BARE]


@settings(FUZZ, max_examples=REPLAY_EXAMPLES)
@given(data=st.data())
def test_well_formed_witnesses_with_any_values_replay_without_crashing(data):
    """Witness-only files (no body to disagree with) whose words and flags are replaced by other words
    and flags: they pass the schema and reach the replay engines with values no solver chose."""
    index = data.draw(st.integers(0, len(BARE) - 1))
    doc = tree_copy(BARE[index])
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(LEAVES[index]))
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = data.draw(st.booleans() if isinstance(node[path[-1]], bool) else WORDS)
    try:
        _, chosen = loads_checked(json.dumps(doc), NAME)
    except SavedCexError as err:
        refused_cleanly(err)
        return
    render_checked(chosen)


SNIPPETS = ["[" * 3000, "9" * HUGE_DIGITS, '"0x' + "f" * HUGE_DIGITS + '"', "NaN", "-Infinity", '"\\u001b[2J"',
            '"schema": "x", ', '"\\ud800"', "\x1b", "1e999999", "-0", "{}", "[]", "null"]


@settings(FUZZ, max_examples=TEXT_EXAMPLES)
@given(data=st.data())
def test_hostile_json_text_loads_or_raises_saved_cex_error(data):
    text = FILES[data.draw(st.integers(0, len(FILES) - 1))].read_text()
    cut = data.draw(st.integers(0, len(text)))
    where = data.draw(st.integers(0, cut))
    junk = data.draw(st.one_of(st.binary(max_size=12).map(lambda b: b.decode("utf-8", "replace")),
                               st.sampled_from(SNIPPETS)))
    try:
        _, chosen = loads_checked(text[:where] + junk + text[where:cut], NAME)
    except SavedCexError as err:
        refused_cleanly(err)
        return
    render_checked(chosen)


def test_every_committed_counterexample_loads_replays_and_renders_as_committed():
    """The strict schema accepts everything barcheck wrote, and explain renders it exactly as committed."""
    for path, doc in zip(FILES, DOCS):
        _, [(result, labels)] = loads_checked(path.read_text(), str(path))
        outcome = replay_witness(result["replay"])
        assert outcome.status == STILL_VIOLATES, (path, outcome.detail)
        derived = derived_doc(Saved(str(path), result, labels, outcome))
        if "reports" in path.parts:
            for key in ("explanation", "facts", "steps", "maps", "counterexample", "trace", "replay", "id"):
                assert derived.get(key) == result.get(key), (path.name, key)
