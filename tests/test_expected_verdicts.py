"""The expected-verdict table, kept as data, covers the catalogue exactly and matches the checker."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from barcheck.engine.checker import check
from barcheck.engine.verdict import Verdict
from model.policies import catalogue, get_policy
from model.units import PRESET_PAGE_SIZES, PageSize, size_name
from properties import REGISTRY

TABLE_PATH = Path(__file__).with_name("expected_verdicts.toml")


def load_table() -> dict[tuple[str, str, int], str]:
    raw = tomllib.loads(TABLE_PATH.read_text())
    return {(prop, policy, PageSize.parse(page).size_bytes): verdict
            for prop, policies in raw.items()
            for policy, pages in policies.items()
            for page, verdict in pages.items()}


TABLE = load_table()


def test_table_covers_catalogue_exactly() -> None:
    expected = {(p, q.name, page) for p in REGISTRY if not REGISTRY[p].needs_vmm
                for q in catalogue() for page in PRESET_PAGE_SIZES}
    assert set(TABLE) == expected
    assert set(TABLE.values()) <= {v.value for v in Verdict}


@pytest.mark.parametrize("key", sorted(TABLE), ids=lambda k: f"{k[0]}-{k[1]}-{size_name(k[2])}")
def test_checker_gives_expected_verdict(key: tuple[str, str, int]) -> None:
    prop_id, policy_name, page_bytes = key
    result = check(REGISTRY[prop_id], get_policy(policy_name), page_bytes)
    assert result.verdict.value == TABLE[key], result.reason
    if result.verdict is Verdict.PROVED:
        assert result.scope["bounded"] is False and result.scope["width_bits"] == 64
    if result.verdict is Verdict.COUNTEREXAMPLE:
        assert result.counterexample is not None and result.counterexample.explanation
