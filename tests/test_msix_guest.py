"""MSI-X rules, the guest side and the mappable-fraction measure.

The record properties are evaluated on the same values with ConcreteOps and
with SymbolicOps (as Z3 constants) and must agree, over a small domain
exhaustively and over random 64-bit values; then the verdicts the issue
fixes are checked at 64 bits, and every counterexample replays.
"""

from __future__ import annotations

import io
import itertools
import random

import pytest
import z3

from barcheck.engine.checker import check
from barcheck.cli.main import main
from barcheck.engine.msixmeasure import MeasureSettings, measure
from barcheck.engine.recordcheck import RecordSettings, check_record, replay_record
from barcheck.engine.verdict import EncodingMismatch, Verdict
from model.ops import ConcreteOps
from model.ops_z3 import SymbolicOps
from model.policies import get_policy
from properties import REGISTRY
from properties.record import RECORD_PROPERTIES, RecordOptions

def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


MSIX_POLICIES = ("linux-4.7", "linux-4.8", "linux-4.16", "msix-remap-2016")
GUEST_POLICIES = ("qemu-subpage", "vmm-no-priority")


_CONTEXT = z3.Context()


def _evaluate_both(prop, policy, page, values, width):
    concrete = prop.evaluate(ConcreteOps(width), values, policy, page, RecordOptions())
    ctx = _CONTEXT
    ops = SymbolicOps(width, ctx)
    constants = {name: (z3.BoolVal(value, ctx) if isinstance(value, bool) else z3.BitVecVal(value, width, ctx))
                 for name, value in values.items()}
    symbolic = prop.evaluate(ops, constants, policy, page, RecordOptions())
    return concrete, symbolic


def _agree(prop, policy, page, values, width):
    concrete, symbolic = _evaluate_both(prop, policy, page, values, width)
    pairs = [(name, c, s) for (name, c), (_, s) in zip(concrete.assumptions, symbolic.assumptions)]
    pairs += [("antecedent", concrete.antecedent, symbolic.antecedent), ("holds", concrete.holds, symbolic.holds)]
    for name, c, s in pairs:
        assert z3.is_true(z3.simplify(s)) == bool(c), f"{prop.id} {policy.name} {page:#x} {values}: {name} differs"


def _msix_domain(width, page):
    for size_shift, start_slot, entries in itertools.product(range(4, 9), (0, 1), (1, 5)):
        size = 1 << size_shift
        start = (start_slot * max(size, page)) % (1 << width)
        for offset in range(0, size + 8, 8 * max(1, size // 64)):
            for flags in itertools.product((False, True), repeat=2):
                yield {"bar_start": start, "bar_size": size, "table_offset": offset, "table_entries": entries,
                       "msi_isolated": flags[0], "allow_unsafe_interrupts": flags[1]}


@pytest.mark.parametrize("policy_name", ("linux-4.8", "msix-remap-2016"))
def test_msix_properties_agree_on_ints_and_bitvectors_exhaustively_at_10_bits(policy_name):
    policy, width, cases = get_policy(policy_name), 10, 0
    for page in (16, 64):
        for base in _msix_domain(width, page):
            for req_start, req_pages in ((0, 1), (page, 1), (0, 2)):
                values = {**base, "req_start": req_start, "req_len": req_pages * page}
                _agree(RECORD_PROPERTIES["msix.table-protected"], policy, page, values, width)
                cases += 1
            offset = (base["table_offset"] + 24) % base["bar_size"]
            _agree(RECORD_PROPERTIES["msix.non-table-mappable"], policy, page, {**base, "offset": offset}, width)
    assert cases > 1000


def _random_msix(rng, page):
    size = 1 << rng.randint(4, 40)
    start = rng.randint(0, (1 << 20)) * max(size, page) % (1 << 64)
    entries = rng.randint(1, 2048)
    offset = rng.randrange(0, max(8, size), 8)
    return {"bar_start": start, "bar_size": size, "table_offset": offset, "table_entries": entries,
            "msi_isolated": rng.random() < 0.5, "allow_unsafe_interrupts": rng.random() < 0.5,
            "req_start": rng.randint(0, 4) * page, "req_len": rng.randint(1, 4) * page,
            "offset": rng.randrange(0, size)}


@pytest.mark.parametrize("policy_name", MSIX_POLICIES)
def test_msix_properties_agree_on_random_64_bit_values(policy_name):
    rng, policy = random.Random(7), get_policy(policy_name)
    for _ in range(150):
        page = 1 << rng.choice((12, 14, 16))
        values = _random_msix(rng, page)
        _agree(RECORD_PROPERTIES["msix.table-protected"], policy, page,
               {k: v for k, v in values.items() if k != "offset"}, 64)
        _agree(RECORD_PROPERTIES["msix.non-table-mappable"], policy, page,
               {k: v for k, v in values.items() if k not in ("req_start", "req_len")}, 64)


@pytest.mark.parametrize("policy_name", GUEST_POLICIES)
def test_guest_routing_agrees_on_ints_and_bitvectors(policy_name):
    rng, policy, width = random.Random(11), get_policy(policy_name), 16
    for _ in range(400):
        a_size, b_size = 1 << rng.randint(4, 13), 1 << rng.randint(4, 13)
        values = {"a_start": rng.randrange(0, 1 << width, a_size), "a_size": a_size,
                  "b_start": rng.randrange(0, 1 << width, b_size), "b_size": b_size,
                  "guest_page": 1 << rng.randint(12, 15), "access": rng.randrange(0, 1 << width),
                  "a_whole_mmap": rng.random() < 0.7, "b_whole_mmap": rng.random() < 0.7,
                  "a_mapped_last": rng.random() < 0.5, "guest_aligns": rng.random() < 0.5}
        if rng.random() < 0.5:
            values["access"] = values["b_start"] + rng.randrange(b_size)
        _agree(RECORD_PROPERTIES["guest.bar-routing"], policy, rng.choice((0x1000, 0x4000)), values, width)


# ----------------------------------------------------------------------------- the verdicts the issue fixes


def _verdict(prop_id, policy_name, page, **options):
    settings = RecordSettings(options=RecordOptions(**options))
    return check_record(RECORD_PROPERTIES[prop_id], get_policy(policy_name), page, settings)


@pytest.mark.parametrize("policy_name,expected", [("linux-4.8", Verdict.PROVED), ("msix-remap-2016", Verdict.PROVED),
                                                  ("linux-4.16", Verdict.COUNTEREXAMPLE),
                                                  ("linux-6.10", Verdict.COUNTEREXAMPLE)])
def test_msix_table_protected_by_version(policy_name, expected):
    result = _verdict("msix.table-protected", policy_name, 0x10000)
    assert result.verdict is expected
    if expected is Verdict.COUNTEREXAMPLE:
        fields = result.trace.fields
        assert fields["msi_isolated"] is False and fields["allow_unsafe_interrupts"] is True
        assert "allow_unsafe_interrupts=1" in result.trace.report_lines[0]


def test_msix_table_protected_under_4_16_is_proved_when_vfio_refuses_unsafe_interrupts():
    result = _verdict("msix.table-protected", "linux-6.10", 0x10000, no_unsafe_interrupts=True)
    assert result.verdict is Verdict.PROVED
    assert "vfio.no-unsafe-interrupts" in result.assumptions


@pytest.mark.parametrize("page,expected", [(0x1000, Verdict.PROVED), (0x4000, Verdict.COUNTEREXAMPLE),
                                           (0x10000, Verdict.COUNTEREXAMPLE)])
def test_msix_exclusion_swallows_non_table_bytes_above_4k_pages(page, expected):
    assert _verdict("msix.non-table-mappable", "linux-4.8", page).verdict is expected
    assert _verdict("msix.non-table-mappable", "linux-4.16", page).verdict is Verdict.PROVED


def test_record_properties_are_vacuous_for_policies_they_do_not_apply_to():
    result = _verdict("msix.table-protected", "vfio-platform", 0x1000)
    assert result.verdict is Verdict.VACUOUS and "no MSI-X" in result.reason
    result = _verdict("guest.bar-routing", "linux-4.8", 0x1000)
    assert result.verdict is Verdict.VACUOUS and "+qemu-subpage" in result.reason


def test_guest_bar_routing_holds_for_qemu_and_fails_without_the_priority_rule():
    assert _verdict("guest.bar-routing", "qemu-subpage", 0x10000).verdict is Verdict.PROVED
    assert _verdict("guest.bar-routing", "linux-4.8+qemu-subpage", 0x1000).verdict is Verdict.PROVED
    result = _verdict("guest.bar-routing", "vmm-no-priority", 0x10000)
    assert result.verdict is Verdict.COUNTEREXAMPLE
    fields = result.trace.fields
    assert fields["a_size"] < 0x10000 and fields["a_start"] % 0x10000 == 0
    assert fields["a_start"] < fields["b_start"] < fields["a_start"] + 0x10000
    assert fields["guest_page"] < 0x10000 and fields["guest_aligns"] is True


def test_a_counterexample_that_does_not_violate_is_refused():
    result = _verdict("guest.bar-routing", "vmm-no-priority", 0x1000)
    fixed = {**result.trace.fields, "a_mapped_last": False}
    with pytest.raises(EncodingMismatch):
        replay_record(RECORD_PROPERTIES["guest.bar-routing"], get_policy("vmm-no-priority"), 0x1000, fixed)


def test_guest_no_foreign_host_page_follows_the_host_kernel():
    prop = REGISTRY["guest.no-foreign-host-page"]
    assert check(prop, get_policy("qemu-subpage"), 0x10000).verdict is Verdict.PROVED
    leak = check(prop, get_policy("linux-4.8+enhanced_allocation+qemu-subpage"), 0x1000)
    assert leak.verdict is Verdict.COUNTEREXAMPLE
    facts = leak.counterexample.facts
    assert facts["reach_start"] < leak.counterexample.scenario.bar_start


# ----------------------------------------------------------------------------- the measure


def test_64k_pages_leave_nothing_of_a_small_msix_bar_mappable_before_4_16():
    sizes = (0x1000, 0x4000, 0x10000, 0x40000)
    settings = MeasureSettings(bar_sizes=sizes)
    old = {m.bar_size: m for m in measure(get_policy("linux-4.8"), 0x10000, settings)}
    new = {m.bar_size: m for m in measure(get_policy("linux-4.16"), 0x10000, settings)}
    for size in sizes[:3]:
        assert (old[size].min_bytes, old[size].max_bytes) == (0, 0)
        assert (new[size].min_bytes, new[size].max_bytes) == (size, size)
    assert 0 < old[0x40000].min_bytes < old[0x40000].max_bytes < 0x40000
    assert all(m.certified == "proved" for m in [*old.values(), *new.values()])


def test_the_2016_proposal_splits_by_platform():
    rows = measure(get_policy("msix-remap-2016"), 0x10000, MeasureSettings(bar_sizes=(0x4000,)))
    assert {(m.platform, m.max_bytes) for m in rows} == {("no-remap", 0), ("remap", 0x4000)}


# ----------------------------------------------------------------------------- the command line


def test_cli_measure_and_usage_errors():
    code, out, _ = run_cli("prove", "--property", "msix.mappable-fraction", "--policy", "linux-4.8",
                           "--page-size", "64K", "--format", "json")
    assert code == 0
    import json
    doc = json.loads(out)
    assert {m["max_bytes"] for m in doc["measures"] if int(m["bar_size"], 16) <= 0x10000} == {"0x0"}
    code, _, err = run_cli("prove", "--property", "guest.bar-routing", "--policy", "linux-4.8")
    assert code == 2 and "VMM" in err and len(err.splitlines()) == 1
    code, _, err = run_cli("prove", "--policy", "linux-4.8+qemu-subpage+vmm-no-priority")
    assert code == 2 and "one VMM" in err
    code, _, err = run_cli("prove", "--property", "msix.mappable-fraction", "--mode", "trace")
    assert code == 2 and "--mode" in err
