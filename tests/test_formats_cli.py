"""Every --format of `barcheck prove` and `barcheck check`, from one result document."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from barcheck.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
QUICK = ("prove", "--policy", "linux-4.16", "--policy", "linux-4.8", "--property", "msix.table-protected",
         "--property", "pgoff.round-trip", "--page-size", "4K")
SCENARIO = ROOT / "examples" / "x86-seabios-hotplug.toml"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Each format of the same quick run (counterexamples and proofs), written into --out."""
    found = {}
    for fmt in ("json", "sarif", "junit", "html", "text", "md"):
        out_dir = tmp_path_factory.mktemp(fmt)
        code, out, err = run(*QUICK, "--format", fmt, "--out", str(out_dir), "--no-timings")
        assert code == 1 and err == "", err
        found[fmt] = out_dir
    return found


def test_sarif_of_a_real_run_validates_and_names_the_policy_source(outputs):
    sarif = json.loads((outputs["sarif"] / "report.sarif").read_text())
    jsonschema.validators.validator_for(SCHEMA)(SCHEMA).validate(sarif)
    results = sarif["runs"][0]["results"]
    assert results and all(r["kind"] == "fail" and r["level"] == "error" for r in results)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert uris <= {"model/policies/msix.py", "model/policies/linux.py"} and uris
    for uri in uris:
        assert (ROOT / uri).is_file()


def test_junit_counts_failures(outputs):
    root = ET.parse(outputs["junit"] / "report.junit.xml").getroot()
    json_doc = json.loads((outputs["json"] / "report.json").read_text())
    cexes = sum(r["verdict"] == "counterexample" for r in json_doc["results"])
    assert int(root.get("failures")) == cexes >= 2
    assert int(root.get("tests")) == len(json_doc["results"])


def test_html_is_written_with_one_svg_per_map(outputs):
    doc = json.loads((outputs["json"] / "report.json").read_text())
    maps = [f"{r['id']}-{n}.svg" for r in doc["results"] for n in range(1, len(r.get("maps", [])) + 1)]
    assert maps
    assert sorted(p.name for p in outputs["html"].iterdir()) == sorted(["report.html", *maps])
    page = (outputs["html"] / "report.html").read_text()
    assert page.count("<svg") >= len(maps)


def test_no_timings_output_is_byte_identical_and_has_no_seconds(outputs, tmp_path):
    for fmt, name in (("json", "report.json"), ("text", "report.txt"), ("md", "report.md")):
        code, _, _ = run(*QUICK, "--format", fmt, "--out", str(tmp_path / fmt), "--no-timings")
        assert code == 1
        again = (tmp_path / fmt / name).read_bytes()
        assert again == (outputs[fmt] / name).read_bytes()
        assert b"seconds" not in again


def test_every_counterexample_in_json_has_sentence_maps_and_replay(outputs):
    doc = json.loads((outputs["json"] / "report.json").read_text())
    for r in doc["results"]:
        if r["verdict"] == "counterexample":
            assert r["explanation"] and r["maps"] and r["replay"]["schema"] == "barcheck.witness/1"
        if r["verdict"] == "proved":
            assert r["why"]["scope"] and all(a["text"] for a in r["why"]["assumptions"])


def test_html_needs_an_out_directory():
    code, out, err = run(*QUICK, "--format", "html")
    assert code == 2 and out == "" and "--out DIR" in err and err.count("\n") == 1


@pytest.mark.parametrize("fmt, name", [("sarif", "check.sarif"), ("junit", "check.junit.xml"),
                                       ("html", "check.html")])
def test_check_writes_the_document_formats(tmp_path, fmt, name):
    code, out, err = run("check", str(SCENARIO), "--format", fmt, "--out", str(tmp_path))
    assert code == 0 and err == "", err
    text = (tmp_path / name).read_text()
    if fmt == "sarif":
        sarif = json.loads(text)
        jsonschema.validators.validator_for(SCHEMA)(SCHEMA).validate(sarif)
        assert sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] \
            .endswith("x86-seabios-hotplug.toml")
    elif fmt == "junit":
        assert ET.fromstring(text.split("\n", 1)[1]).get("failures") == "0"
    else:
        assert "x86-seabios-hotplug" in text


def test_markdown_with_out_embeds_the_maps_written_beside_it(outputs):
    md = (outputs["md"] / "report.md").read_text()
    svgs = sorted(p.name for p in outputs["md"].glob("*.svg"))
    assert svgs and all(f"]({name})" in md for name in svgs)
    assert "## Why the proofs hold" in md


def test_text_says_why_each_proof_holds(outputs):
    text = (outputs["text"] / "report.txt").read_text()
    assert "WHY IT HOLDS msix.table-protected [function]" in text and "assumptions used:" in text
