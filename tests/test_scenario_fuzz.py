"""Robustness of the scenario loader (hypothesis): a mutated scenario loads or is refused with one
ScenarioError naming the file; no other exception, whatever the text or the values."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from barcheck.scenario_file import load_scenario, parse_scenario
from model.pci import ScenarioError

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.toml"))
TEXTS = [path.read_text() for path in EXAMPLES]
DATA = [tomllib.loads(text) for text in TEXTS]
NAME = "fuzz/scenario.toml"
FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])

VALUES = st.one_of(st.integers(min_value=-(1 << 70), max_value=1 << 70), st.text(max_size=12),
                   st.sampled_from(["4K", "64K", "0x1000", "3K", "0", "-1", "linux-4.8", "nope", "mem32", ""]),
                   st.booleans(), st.floats(allow_nan=True), st.lists(st.integers(), max_size=3),
                   st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


def leaves(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from leaves(value, path + (i,))
    if path:
        yield path


def set_path(node, path, value):
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value


DELETE = object()


def parse_or_refuse(data) -> None:
    try:
        parse_scenario(data, NAME)
    except ScenarioError as err:
        text = str(err)
        assert text.startswith(NAME) and "\n" not in text, text


@pytest.mark.parametrize("index", range(len(DATA)), ids=[p.stem for p in EXAMPLES])
@settings(FUZZ, max_examples=1500)
@given(data=st.data())
def test_mutated_values_load_or_raise_scenario_error(index, data):
    scenario = copy.deepcopy(DATA[index])
    for _ in range(data.draw(st.integers(1, 3))):
        paths = list(leaves(scenario))
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        set_path(scenario, path, data.draw(st.one_of(VALUES, st.just(DELETE))))
    parse_or_refuse(scenario)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("scenario-fuzz")


@pytest.mark.parametrize("index", range(len(TEXTS)), ids=[p.stem for p in EXAMPLES])
@settings(FUZZ, max_examples=800)
@given(data=st.data())
def test_mutated_text_loads_or_raises_scenario_error(scratch, index, data):
    text = TEXTS[index]
    cut = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.binary(max_size=16))
    where = data.draw(st.integers(0, cut))
    raw = text[:where].encode() + junk + text[where:cut].encode()
    path = scratch / "scenario.toml"
    path.write_bytes(raw)
    try:
        load_scenario(path)
    except ScenarioError as err:
        assert str(err).startswith(str(path)) and "\n" not in str(err), str(err)
