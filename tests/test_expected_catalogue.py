"""Every verdict of the committed catalogue, of every kind, is the one the expected table states.

tests/expected_catalogue.toml lists each (kind, property, policy, page size) of reports/report.json
with its verdict, and each MSI-X measure row with its range and certification.
tests/test_reports.py checks that report.json comes from the current sources, so a change that
alters any verdict fails here until the table is changed on purpose (with its reason in the
commit).  tests/test_expected_verdicts.py re-solves the pair checks themselves.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from model.units import size_name

ROOT = Path(__file__).resolve().parents[1]
TABLE = tomllib.loads((ROOT / "tests" / "expected_catalogue.toml").read_text())
REPORT = ROOT / "reports" / "report.json"


def verdicts_in(doc: dict) -> dict[tuple[str, str, str, str], str]:
    return {(r["kind"], r["property"], r["policy"], size_name(r["page_size"])): r["verdict"] for r in doc["results"]}


def measures_in(doc: dict) -> dict[tuple[str, str, str, str], str]:
    return {(m["policy"], size_name(m["page_size"]), m["bar_size"], m["platform"]):
            f'{m["min_bytes"]}..{m["max_bytes"]} {m["certified"]}' for m in doc["measures"]}


def table_verdicts() -> dict[tuple[str, str, str, str], str]:
    return {(kind, prop, policy, page): verdict
            for kind, props in TABLE.items() if kind != "measure"
            for prop, policies in props.items()
            for policy, pages in policies.items()
            for page, verdict in pages.items()}


def table_measures() -> dict[tuple[str, str, str, str], str]:
    rows = TABLE.get("measure", {}).get("msix.mappable-fraction", {})
    return {(policy, page, *cell.split(" ", 1)): value
            for policy, pages in rows.items() for page, cells in pages.items() for cell, value in cells.items()}


@pytest.fixture(scope="module")
def doc() -> dict:
    if not REPORT.is_file():
        pytest.skip("no committed catalogue")
    return json.loads(REPORT.read_text())


def test_the_table_covers_every_kind():
    kinds = {key[0] for key in table_verdicts()}
    assert kinds == {"pair", "function", "trace"} and table_measures()


def test_every_catalogue_verdict_is_the_expected_one(doc):
    found, expected = verdicts_in(doc), table_verdicts()
    assert sorted(found.keys() - expected.keys()) == [], "checks the table does not list"
    assert sorted(expected.keys() - found.keys()) == [], "checks the catalogue no longer runs"
    changed = sorted(f"{k}: {expected[k]} -> {found[k]}" for k in found if found[k] != expected[k])
    assert changed == [], "verdicts changed:\n" + "\n".join(changed)


def test_every_msix_measure_is_the_expected_one(doc):
    assert measures_in(doc) == table_measures()


def test_a_changed_verdict_would_be_caught(doc):
    tampered = json.loads(json.dumps(doc))
    tampered["results"][0]["verdict"] = "unknown" if tampered["results"][0]["verdict"] != "unknown" else "proved"
    assert verdicts_in(tampered) != table_verdicts()
