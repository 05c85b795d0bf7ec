"""Robustness of the scenario loader (hypothesis): a hostile scenario loads or is refused with one
ScenarioError naming the file; no other exception, whatever the text or the values.

Two families, each in-process and derandomized:

* structured: a parsed example or conformance scenario with up to three fields replaced by hostile
  values (wrong types, 5000-digit integers, 2^64 and more, negative and zero sizes, control
  characters, nesting 2000 deep, unknown and missing keys) or by plausible ones (other sizes, BAR
  kinds, events, BAR indices) so that inputs reach the later checks.  An accepted scenario is laid
  out, and when every value is concrete it is run and rendered, as `barcheck check` would;
* text: the TOML text cut short, with random bytes or hostile snippets spliced in.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile_values import CONTROL_TEXTS, HUGE_DIGITS, mutated, values
from barcheck.scenario.check import check_scenario, has_open_values
from barcheck.scenario.file import load_scenario, loads_scenario, parse_scenario
from barcheck.scenario.render import render_markdown, render_text
from barcheck.inputs.textsafe import escape_control, escape_control_lines
from model.pci import ScenarioError
from model.policies import PciCore, UnknownPolicy, get_policy
from model.topology import boot_layout

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml")) + sorted((ROOT / "conformance").glob("*.toml"))
TEXTS = [path.read_text() for path in EXAMPLES]
DATA = [tomllib.loads(text) for text in TEXTS]
NAME = "fuzz/scenario.toml"
STRUCTURED_EXAMPLES = 10_500
TEXT_EXAMPLES = 3_000
FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example, HealthCheck.filter_too_much])
META = {"barcheck_version": "0", "z3_version": "0", "seed": 0}

HOSTILE = values(huge=10 ** HUGE_DIGITS, with_null=False)
PLAUSIBLE = {
    "size": st.sampled_from(["16", "256", "4K", "64K", "1M", "0x8000000000000000", "0x4000000000000000", 16,
                             4096, "4", "8", "any"]),
    "start": st.sampled_from(["0x0", "0xfe000000", "0xfe800000", "0xfe800100", "0xffffffffffff0000",
                              "0x8000000000000000", "any", 0]),
    "kind": st.sampled_from(["mem32", "mem64", "io", "rom", "pci-bridge", "root-port"]),
    "do": st.sampled_from(["open", "close", "mmap", "munmap", "reset", "reprobe", "hot-add", "hot-remove",
                           "rescan"]),
    "bar": st.integers(0, 6), "index": st.integers(0, 6), "present": st.booleans(),
    "firmware": st.sampled_from(["linux", "seabios", "as-given"]),
    "page_sizes": st.sampled_from([["4K"], ["64K"], ["4K", "64K"], ["1G"], "4K..16K"]),
    "window": st.sampled_from([["0xfe000000", "0xfebfffff"], ["0xfe800000", "0xfe9fffff"], ["0x0", "0xfff"],
                               ["0xffffffffff000000", "0xffffffffffffffff"], ["0x8000000000000000", "any"]]),
    "device": st.sampled_from(["0000:01:01.0", "0000:01:02.0", "0000:00:05.0", "0000:00:06.0"]),
    "parent": st.sampled_from(["pci0000:00", "0000:00:05.0", "0000:00:03.0", "nope"]),
    "expect_mmap": st.sampled_from([True, False, [True], [False, True]]),
    "expect_start": st.sampled_from(["0xfe800000", "unassigned", ["0xfe800000", "unassigned"]]),
    "expect_reserved": st.sampled_from([[], [["0xfe800100", "0xfe800fff"]]]),
    "name": st.sampled_from(CONTROL_TEXTS + ["x" * 200, "ok"]),
}


def run_like_check(spec) -> None:
    """What `barcheck check` does with a loaded scenario, short of the solver: ScenarioError is its input error."""
    try:
        layout = boot_layout(spec.topology, spec.firmware)
        policy = get_policy(spec.policy)
    except (ScenarioError, UnknownPolicy):
        return
    if has_open_values(layout) or policy.pci_core != PciCore():
        return
    try:
        runs = [(spec, policy.name, check_scenario(spec, policy, spec.page_sizes[0]))]
    except ScenarioError:
        return
    for text in (render_text(runs, META), render_markdown(runs, META)):
        assert escape_control_lines(text) == text, "a control character reached the report"


def refused_cleanly(err: ScenarioError, name: str) -> None:
    text = str(err)
    assert text.startswith(name) and "\n" not in text and len(text) < 1000, text
    assert escape_control(text) == text, text


@settings(FUZZ, max_examples=STRUCTURED_EXAMPLES)
@given(data=st.data())
def test_hostile_scenarios_load_or_raise_scenario_error(data):
    document = DATA[data.draw(st.integers(0, len(DATA) - 1))]
    scenario = mutated(data, document, HOSTILE, by_key=PLAUSIBLE)
    try:
        spec = parse_scenario(scenario, NAME)
    except ScenarioError as err:
        refused_cleanly(err, NAME)
        return
    run_like_check(spec)


SNIPPETS = ["9" * HUGE_DIGITS, "0x" + "f" * HUGE_DIGITS, "[" * 3000 + "]" * 3000, "{a=" * 1000 + "1" + "}" * 1000,
            ".".join("a" * 3000) + " = 1\n", '"\\u001b[2J"', '"\\r"', "\x1b", "nan", "inf", "18446744073709551616",
            '"0x10000000000000000"', "-1", '"any"', "\n[[event]]\ndo = \"mmap\"\ndevice = \"0000:01:01.0\"\nbar = 0\n"]


@settings(FUZZ, max_examples=TEXT_EXAMPLES)
@given(data=st.data())
def test_hostile_text_loads_or_raises_scenario_error(data):
    text = TEXTS[data.draw(st.integers(0, len(TEXTS) - 1))]
    cut = data.draw(st.integers(0, len(text)))
    where = data.draw(st.integers(0, cut))
    junk = data.draw(st.one_of(st.binary(max_size=16).map(lambda b: b.decode("utf-8", "replace")),
                               st.sampled_from(SNIPPETS)))
    try:
        spec = loads_scenario(text[:where] + junk + text[where:cut], NAME)
    except ScenarioError as err:
        refused_cleanly(err, NAME)
        return
    run_like_check(spec)


def test_the_loader_reads_only_regular_files(tmp_path):
    fifo = tmp_path / "scenario.toml"
    import os
    os.mkfifo(fifo)
    with pytest.raises(ScenarioError, match="not a regular file"):
        load_scenario(fifo)
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"name = \"\xff\"\n")
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_scenario(bad)


SEABIOS = (ROOT / "examples" / "x86-seabios-hotplug.toml").read_text()
FIRST_BAR = 'bars = [{ index = 0, size = "256" }]'
CRASH_CLASSES = [
    ("5000-digit size string", SEABIOS.replace('size = "256"', 'size = "' + "9" * HUGE_DIGITS + '"', 1),
     "device[0].bars[0].size: '99999", "is too long to be a 64-bit value"),
    ("5000-digit TOML integer", SEABIOS.replace('size = "256"', "size = " + "9" * HUGE_DIGITS, 1),
     "a number has more digits than any 64-bit value", ""),
    ("5000-digit hex address", SEABIOS.replace('"0xfe000000"', '"0x' + "f" * HUGE_DIGITS + '"', 1),
     "host_bridge[0].window[0]: '0xffff", "(5002 characters) is too long"),
    ("2^64 size", SEABIOS.replace('size = "256"', 'size = "0x10000000000000000"', 1),
     "device[0].bars[0].size: '0x10000000000000000' is 2^64 or more", ""),
    ("2^64 TOML size", SEABIOS.replace('size = "256"', "size = 18446744073709551616", 1),
     "device[0].bars[0].size: 18446744073709551616 is not a 64-bit value", ""),
    ("nested arrays", SEABIOS + "\nx = " + "[" * 5000 + "]" * 5000 + "\n", "nest more than 16 deep", ""),
    ("nested inline tables", SEABIOS + "\nx = " + "{a=" * 500 + "1" + "}" * 500 + "\n", "nest more than 16 deep", ""),
    ("mmap of an I/O BAR", SEABIOS.replace(FIRST_BAR, 'bars = [{ index = 0, size = "256", kind = "io" }]', 1),
     "event[1].bar: BAR 0 is an I/O BAR; mmap needs a memory BAR", ""),
    ("munmap of an I/O BAR", SEABIOS.replace(FIRST_BAR, 'bars = [{ index = 0, size = "256" }, '
                                                        '{ index = 2, size = "16", kind = "io" }]', 1)
     .replace('do = "munmap"\ndevice = "0000:01:01.0"\nbar = 0', 'do = "munmap"\ndevice = "0000:01:01.0"\nbar = 2'),
     "event[3].bar: BAR 2 is an I/O BAR; munmap needs a memory BAR", ""),
    ("a BAR on a close", SEABIOS.replace('do = "close"\ndevice = "0000:01:01.0"', 'do = "close"\ndevice = '
                                         '"0000:01:01.0"\nbar = 0'), "event[4].bar: applies to mmap and munmap", ""),
    ("escape sequence in the name", SEABIOS.replace('name = "x86-seabios-hotplug"', 'name = "x\\u001b[2Jy"'),
     "name: 'x\\x1b[2Jy' contains a control character", ""),
    ("an overlong name", SEABIOS.replace('name = "x86-seabios-hotplug"', 'name = "' + "n" * 200 + '"'),
     "name: 'nnnn", "is longer than 128 characters"),
    ("a float size", SEABIOS.replace('size = "256"', "size = 256.0", 1), "expected a size", ""),
]


@pytest.mark.parametrize("text, needle, tail", [c[1:] for c in CRASH_CLASSES], ids=[c[0] for c in CRASH_CLASSES])
def test_each_crash_class_is_one_line_exit_2(tmp_path, text, needle, tail):
    import io
    from barcheck.cli.main import main
    path = tmp_path / "scen.toml"
    path.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    code = main(["check", str(path), "--format", "html", "--out", str(tmp_path / "out")], out, err)
    message = err.getvalue()
    assert code == 2 and out.getvalue() == "" and message.count("\n") == 1, message
    assert message.startswith(f"barcheck: error: {path}: ") and needle in message and tail in message, message
    assert len(message) < 400 and escape_control(message[:-1]) == message[:-1]
    assert not (tmp_path / "out").exists()


def test_an_overlong_file_name_still_writes_every_map(tmp_path):
    """A scenario named after a 240-character file: its report ids are shortened, so every SVG is written."""
    import io
    from barcheck.cli.main import main
    path = tmp_path / ("s" * 240 + ".toml")
    path.write_text(SEABIOS.replace('name = "x86-seabios-hotplug"\n', "").replace(
        'expect_start = "0xfe801000"', 'expect_start = "0xfe802000"'))
    out, err = io.StringIO(), io.StringIO()
    code = main(["check", str(path), "--format", "html", "--out", str(tmp_path / "out")], out, err)
    assert code == 1, err.getvalue()
    svgs = sorted((tmp_path / "out").glob("*.svg"))
    assert svgs and all(len(p.name) <= 130 for p in svgs)
    html = (tmp_path / "out" / "check.html").read_text()
    assert all(p.name in html for p in svgs)
