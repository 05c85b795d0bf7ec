"""The one catalogue of properties (properties/claims.py): every kind, unique ids per kind, cited kernel code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from properties import REGISTRY
from properties.claims import KINDS, all_claims, claim, references_in
from properties.declared import MEASURE_ID, ROUND_TRIP_ID
from properties.record import RECORD_PROPERTIES
from properties.revoke import VMA_PROPERTIES
from properties.trace import TRACE_PROPERTIES

REPORT = Path(__file__).resolve().parent.parent / "reports" / "report.json"


def test_every_property_of_every_engine_is_one_claim() -> None:
    by_engine = {(c.engine, c.id) for c in all_claims()}
    expected = ({("pair", i) for i in REGISTRY} | {("record", i) for i in RECORD_PROPERTIES}
                | {("trace", i) for i in TRACE_PROPERTIES} | {("mapping", i) for i in VMA_PROPERTIES}
                | {("round-trip", ROUND_TRIP_ID), ("measure", MEASURE_ID)})
    assert by_engine == expected


def test_an_id_names_at_most_one_claim_per_kind() -> None:
    keys = [(c.kind, c.id) for c in all_claims()]
    assert len(keys) == len(set(keys))
    assert {c.kind for c in all_claims()} == set(KINDS)


def test_every_claim_states_what_must_hold_and_cites_kernel_code() -> None:
    for found in all_claims():
        assert found.title and found.statement and found.scope, found.id
        assert found.references, f"{found.kind} {found.id} cites no kernel function, macro or file"


def test_references_are_read_from_the_statement() -> None:
    text = ("vfio_pci_core_mmap() maps PAGE_ALIGN(size) (vfio_pci_mmap: rounding), bar_mmap_supported[] "
            "and VFIO_PCI_OFFSET_SHIFT, see drivers/vfio/pci/vfio_pci_core.c; not_a_call")
    assert references_in(text) == ("VFIO_PCI_OFFSET_SHIFT", "bar_mmap_supported[]", "drivers/vfio/pci/vfio_pci_core.c",
                                   "vfio_pci_core_mmap()", "vfio_pci_mmap()")


def test_an_unknown_kind_or_id_names_both() -> None:
    with pytest.raises(KeyError, match="no trace property 'mmap.window-covers-bar'"):
        claim("trace", "mmap.window-covers-bar")


@pytest.mark.skipif(not REPORT.exists(), reason="no catalogue report")
def test_every_catalogue_result_resolves_to_its_claim() -> None:
    results = json.loads(REPORT.read_text())["results"]
    for result in results:
        found = claim(result["kind"], result["property"])
        assert (found.title, found.statement) == (result["title"], result["statement"])
