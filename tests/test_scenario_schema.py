"""The scenario JSON Schema, the loader and the example scenarios agree with each other.

* `schema/scenario.schema.json` is JSON Schema draft 2020-12, and its keys are the loader's: the
  top-level properties are `TOP_KEYS`, every table's allowed keys are the ones the loader names
  when it rejects an unknown key, and the enums are the registries (events, policies, trace
  properties).
* Every `examples/*.toml` loads, is accepted by the schema (through the small validator below),
  and `barcheck check` on it exits 0.

The validator implements only the part of JSON Schema the scenario schema uses: local `$ref`,
type, enum, const, pattern, minLength, minimum/maximum, minItems/maxItems, items, properties,
required, additionalProperties false, oneOf/anyOf/allOf and if/then/else. It has no
dependencies.
"""

from __future__ import annotations

import copy
import io
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from barcheck.cli.main import main
from barcheck.scenario.file import TOP_KEYS, load_scenario, parse_scenario
from model.events import EventKind
from model.pci import ScenarioError
from model.policies import BUILTIN
from properties.trace import TRACE_PROPERTIES

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT / "schema" / "scenario.schema.json"
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


SCHEMA = load_schema()


# ----------------------------------------------------------------------------- validator

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _resolve(root: dict, ref: str) -> dict:
    assert ref.startswith("#/"), f"only local references are supported, got {ref!r}"
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1."""
    return type(a) is type(b) and a == b


def validate(instance: Any, schema: dict, root: dict | None = None, where: str = "$") -> list[str]:
    """Every error, as `path: message`; [] when the instance is accepted."""
    root = SCHEMA if root is None else root
    errors: list[str] = []
    if "$ref" in schema:
        errors += validate(instance, _resolve(root, schema["$ref"]), root, where)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](instance) for t in types):
            return errors + [f"{where}: {instance!r} is not of type {'/'.join(types)}"]
    if "enum" in schema and not any(_same(instance, option) for option in schema["enum"]):
        errors.append(f"{where}: {instance!r} is not one of {schema['enum']}")
    if "const" in schema and not _same(instance, schema["const"]):
        errors.append(f"{where}: {instance!r} is not {schema['const']!r}")
    if isinstance(instance, str):
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            errors.append(f"{where}: {instance!r} does not match {schema['pattern']}")
        if len(instance) < schema.get("minLength", 0):
            errors.append(f"{where}: {instance!r} is too short")
    if _TYPES["number"](instance):
        if "minimum" in schema and instance < schema["minimum"]:
            errors.append(f"{where}: {instance} is below {schema['minimum']}")
        if "maximum" in schema and instance > schema["maximum"]:
            errors.append(f"{where}: {instance} is above {schema['maximum']}")
    if isinstance(instance, list):
        if len(instance) < schema.get("minItems", 0):
            errors.append(f"{where}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(instance) > schema["maxItems"]:
            errors.append(f"{where}: more than {schema['maxItems']} items")
        if "items" in schema:
            for i, item in enumerate(instance):
                errors += validate(item, schema["items"], root, f"{where}[{i}]")
    if isinstance(instance, dict):
        for key in schema.get("required", []):
            if key not in instance:
                errors.append(f"{where}: missing required key {key!r}")
        properties = schema.get("properties", {})
        for key, value in instance.items():
            if key in properties:
                errors += validate(value, properties[key], root, f"{where}.{key}")
            elif schema.get("additionalProperties", True) is False:
                errors.append(f"{where}: unknown key {key!r}")
    for sub in schema.get("allOf", []):
        errors += validate(instance, sub, root, where)
    if "anyOf" in schema and all(validate(instance, sub, root, where) for sub in schema["anyOf"]):
        errors.append(f"{where}: {instance!r} matches none of anyOf")
    if "oneOf" in schema:
        matching = sum(not validate(instance, sub, root, where) for sub in schema["oneOf"])
        if matching != 1:
            errors.append(f"{where}: {instance!r} matches {matching} of oneOf, not exactly one")
    if "if" in schema:
        branch = "then" if not validate(instance, schema["if"], root, where) else "else"
        if branch in schema:
            errors += validate(instance, schema[branch], root, where)
    return errors


def test_validator_is_not_vacuous() -> None:
    assert validate(3, {"type": "string"})
    assert validate(True, {"type": "integer"})
    assert validate({"a": 1}, {"type": "object", "additionalProperties": False, "properties": {}})
    assert validate({}, {"type": "object", "required": ["a"]})
    assert validate([{"x": 1}], {"type": "array", "items": {"required": ["y"]}})
    assert validate("b", {"oneOf": [{"const": "a"}, {"pattern": "^a$"}]})
    assert not validate("a", {"oneOf": [{"const": "a"}, {"type": "integer"}]})
    assert validate({"do": "rescan"}, {"if": {"properties": {"do": {"const": "rescan"}}},
                                       "then": {"required": ["bridge"]}})


# ----------------------------------------------------------------------------- the schema itself

def test_schema_is_draft_2020_12_json() -> None:
    assert SCHEMA["$schema"] == DRAFT_2020_12
    assert SCHEMA["$id"] == "https://barcheck.invalid/schema/scenario.schema.json"
    assert SCHEMA["title"] and SCHEMA["description"]
    assert SCHEMA["type"] == "object"


def test_every_ref_resolves() -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(SCHEMA)
    assert refs
    for ref in refs:
        assert isinstance(_resolve(SCHEMA, ref), dict), ref


def test_top_level_properties_are_the_loaders_keys() -> None:
    assert set(SCHEMA["properties"]) == TOP_KEYS
    assert SCHEMA["additionalProperties"] is False


def test_event_do_enum_is_every_event_kind() -> None:
    do = SCHEMA["$defs"]["event"]["properties"]["do"]["enum"]
    assert sorted(do) == sorted(kind.value for kind in EventKind)
    assert len(do) == len(set(do))


def test_policy_and_property_enums_are_the_registries() -> None:
    assert set(SCHEMA["properties"]["policy"]["enum"]) == set(BUILTIN)
    assert set(SCHEMA["properties"]["properties"]["items"]["enum"]) == set(TRACE_PROPERTIES)


def test_firmware_enum_is_the_loaders() -> None:
    from model.topology import FIRMWARES
    assert tuple(SCHEMA["properties"]["firmware"]["enum"]) == FIRMWARES


# ----------------------------------------------------------------------------- schema vs loader, table by table

def full_scenario() -> dict:
    """A small scenario that uses every kind of table, as tomllib would parse it."""
    return {
        "name": "all-tables",
        "page_sizes": ["4K"],
        "firmware": "as-given",
        "host_bridge": [{"name": "pci0000:00", "window": ["0xfe000000", "0xfebfffff"]}],
        "bridge": [{"address": "0000:00:05.0", "parent": "pci0000:00", "window": ["0xfe800000", "0xfe9fffff"]}],
        "fixed": [{"name": "platform", "parent": "pci0000:00", "range": ["0xfe000000", "0xfe000fff"]}],
        "device": [{"address": "0000:01:01.0", "parent": "0000:00:05.0",
                    "bars": [{"index": 0, "size": "256", "start": "0xfe800000"}]}],
        "event": [{"do": "open", "device": "0000:01:01.0", "expect_mmap": True,
                   "expect_reserved": [["0xfe800100", "0xfe800fff"]]}],
    }


TABLES = {
    # name: (how to reach one such table in full_scenario(), the schema's definition)
    "host_bridge": (lambda d: d["host_bridge"][0], "hostBridge"),
    "bridge": (lambda d: d["bridge"][0], "bridge"),
    "fixed": (lambda d: d["fixed"][0], "fixed"),
    "device": (lambda d: d["device"][0], "device"),
    "bar": (lambda d: d["device"][0]["bars"][0], "bar"),
    "event": (lambda d: d["event"][0], "event"),
}


def loader_error(data: dict) -> str:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data, "t.toml")
    return str(caught.value)


def test_full_scenario_is_accepted_by_both() -> None:
    data = full_scenario()
    parse_scenario(data, "t.toml")
    assert validate(data, SCHEMA) == []


@pytest.mark.parametrize("table", sorted(TABLES))
def test_table_keys_are_the_loaders(table: str) -> None:
    """The loader lists its allowed keys when it meets an unknown one; the schema must list the same."""
    reach, definition = TABLES[table]
    data = full_scenario()
    reach(data)["zz_not_a_key"] = 1
    message = loader_error(data)
    allowed = re.search(r"unknown key 'zz_not_a_key' \(allowed: (.*)\)$", message)
    assert allowed, message
    schema = SCHEMA["$defs"][definition]
    assert set(schema["properties"]) == set(allowed.group(1).split(", "))
    assert schema["additionalProperties"] is False
    assert any("unknown key 'zz_not_a_key'" in e for e in validate(data, SCHEMA))


@pytest.mark.parametrize("table", sorted(TABLES))
def test_required_keys_are_required_by_the_loader(table: str) -> None:
    reach, definition = TABLES[table]
    required = SCHEMA["$defs"][definition]["required"]
    assert required
    for key in required:
        data = full_scenario()
        del reach(data)[key]
        loader_error(data)
        assert any(f"missing required key {key!r}" in e for e in validate(data, SCHEMA)), key


def test_top_level_required_keys_are_required_by_the_loader() -> None:
    for key in SCHEMA["required"]:
        data = full_scenario()
        del data[key]
        assert f"missing key {key!r}" in loader_error(data)
        assert validate(data, SCHEMA)


@pytest.mark.parametrize("change", [
    lambda d: d["event"][0].update(do="jump"),
    lambda d: d.update(firmware="coreboot"),
    lambda d: d["device"][0]["bars"][0].update(index=6),
    lambda d: d["device"][0]["bars"][0].update(size="4 pages"),
    lambda d: d["device"][0]["bars"][0].update(start="fe800000"),
    lambda d: d["device"][0]["bars"][0].update(kind="rom"),
    lambda d: d["device"][0].update(address="0000:01:20.0"),
    lambda d: d["device"][0].update(present="yes"),
    lambda d: d["bridge"][0].update(window=["0xfe800000"]),
    lambda d: d["event"][0].update(expect_mmap="yes"),
    lambda d: d["event"][0].update(expect_reserved=[["0xfe800100", "any"]]),
    lambda d: d["event"][0].pop("device"),
    lambda d: d["event"].append({"do": "rescan", "device": "0000:01:01.0"}),
    lambda d: d["event"].append({"do": "mmap", "device": "0000:01:01.0"}),
])
def test_schema_rejects_what_the_loader_rejects(change) -> None:
    data = full_scenario()
    change(data)
    loader_error(data)
    assert validate(data, SCHEMA)


# ----------------------------------------------------------------------------- the examples

def test_there_are_examples() -> None:
    names = {path.name for path in EXAMPLES}
    assert {"x86-seabios-hotplug.toml", "ppc64-64k-linux-boot.toml", "any-start-hotplug.toml"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_loads(path: Path) -> None:
    spec = load_scenario(path)
    assert spec.events


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_matches_the_schema(path: Path) -> None:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert validate(data, SCHEMA) == []
    broken = copy.deepcopy(data)
    broken["event"][0]["zz_not_a_key"] = True
    assert validate(broken, SCHEMA)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_checks_clean(path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["check", str(path)], out, err)
    assert code == 0, out.getvalue() + err.getvalue()
    assert err.getvalue() == ""
    assert "counterexample" not in out.getvalue()
