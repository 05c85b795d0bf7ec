"""vm_pgoff encoding, mapping revocation and the issue's done-when cases."""

from __future__ import annotations

import dataclasses
import io
import random

import pytest
import z3

from barcheck.cli.main import main
from barcheck.engine.pgoffcheck import RoundTripSettings, check_round_trip, replay_round_trip
from barcheck.engine.verdict import EncodingMismatch, Verdict
from barcheck.engine.vmacheck import VmaSettings, check_vma
from model.ops import ConcreteOps
from model.ops_z3 import SymbolicOps
from model.pgoff import (file_offset, offset_in_region, offset_to_index, page_shift_of, region_pgoff, split_pgoff,
                         zap_end_pgoff)
from model.policies import get_policy
from model.vma import (MmapChoice, VmaEvent, VmaEventKind, VmaState, WORD_FIELDS, all_vma_events, idle_vma_state,
                       vma_structure, vma_transition)
from model.units import TIB
from properties.revoke import VMA_PROPERTIES

PAGES = (4096, 16384, 65536)
SMALL = vma_structure(1, 2)


@pytest.mark.parametrize("page", PAGES)
def test_encoding_round_trips_inside_one_tib_and_not_beyond(page):
    ops, shift = ConcreteOps(64), page_shift_of(page)
    for index in range(6):
        for offset_pages in (0, 1, (1 << (40 - shift)) - 1):
            split = split_pgoff(ops, region_pgoff(ops, index, offset_pages, shift), shift)
            assert (split.index, split.in_region_pages) == (index, offset_pages)
            offset = file_offset(ops, index, offset_pages << shift)
            assert offset_to_index(ops, offset) == index
            assert offset_in_region(ops, offset) == offset_pages << shift
        beyond = split_pgoff(ops, region_pgoff(ops, index, 1 << (40 - shift), shift), shift)
        assert (beyond.index, beyond.in_region_pages) == (index + 1, 0)
    assert zap_end_pgoff(shift) == 6 << (40 - shift)


def _sym(value, ops):
    return z3.BoolVal(value, ops.ctx) if isinstance(value, bool) else z3.BitVecVal(value, 64, ops.ctx)


def _symbolic_state(s: VmaState, ops: SymbolicOps) -> VmaState:
    values = {f.name: (getattr(s, f.name) if f.name == "page_shift" else
                       tuple(_sym(v, ops) for v in getattr(s, f.name))) for f in dataclasses.fields(VmaState)}
    return VmaState(**values)


def _simplified(s: VmaState) -> VmaState:
    values = {}
    for f in dataclasses.fields(VmaState):
        if f.name == "page_shift":
            values[f.name] = s.page_shift
            continue
        terms = [z3.simplify(t) for t in getattr(s, f.name)]
        values[f.name] = tuple(t.as_long() if f.name in WORD_FIELDS else z3.is_true(t) for t in terms)
    return VmaState(**values)


def _random_state(rng: random.Random, page: int) -> VmaState:
    st, shift = SMALL, page_shift_of(page)
    bars = []
    for index in rng.sample(range(6), 2):
        size = 1 << rng.choice([4, 12, 16, 30, 40, 41, 43])
        start = rng.choice([0xFE000000, 6 * TIB, 8 * TIB, 1 << 46]) // size * size
        bars.append((index, start, size, True))
    s = idle_vma_state(st, page, bars)
    words = {name: tuple(rng.choice([0, 1, 6 << (40 - shift), rng.getrandbits(40)]) for _ in range(2))
             for name in ("vm_pgoff", "vma_pages", "offset_pages", "pte_first", "pte_last")}
    flags = {name: tuple(rng.random() < 0.5 for _ in range(n)) for name, n in
             (("opened", 1), ("mem_on", 1), ("d0", 1), ("mapped", 2), ("listed", 2), ("pte_live", 2))}
    return s.replace(**words, **flags)


@pytest.mark.parametrize("policy_name", ["linux-4.8", "linux-5.8", "linux-6.10", "rfc-2021", "vfio-platform"])
def test_symbolic_transition_agrees_with_concrete(policy_name):
    """The one transition function, evaluated on integers and on z3 constants, gives the same state."""
    policy, rng = get_policy(policy_name), random.Random(policy_name)
    ops, concrete = SymbolicOps(64, z3.Context()), ConcreteOps(64)
    for _ in range(12):
        page = rng.choice(PAGES)
        s = _random_state(rng, page)
        choice = MmapChoice(rng.choice([0, 1, 7]), rng.choice([1, 2, 1 << 29]))
        sym_choice = MmapChoice(_sym(choice.offset_pages, ops), _sym(choice.pages, ops))
        for event in all_vma_events(SMALL):
            want = vma_transition(concrete, policy, SMALL, s, event, choice)
            got = vma_transition(ops, policy, SMALL, _symbolic_state(s, ops), event, sym_choice)
            assert z3.is_true(z3.simplify(got.enabled)) == bool(want.enabled), event
            assert _simplified(got.after) == want.after, event


def _vma(prop, policy, page, **settings):
    return check_vma(VMA_PROPERTIES[prop], get_policy(policy), SMALL, page, VmaSettings(**settings))


def test_rfc_2021_misses_a_bar_at_or_above_6_tib():
    result = _vma("revoke.complete", "rfc-2021", 4096)
    assert result.verdict is Verdict.COUNTEREXAMPLE
    tcx = result.trace
    b = int(tcx.violated.split(":")[1].split("/")[0])
    assert tcx.initial.start[b] >= 6 * TIB
    assert any(step.event.kind in (VmaEventKind.MEM_OFF, VmaEventKind.D3, VmaEventKind.RESET,
                                   VmaEventKind.HOT_RESET) for step in tcx.steps)
    text = "\n".join(tcx.lines())
    assert "page size 4K" in text and "region" in text and "physical [0x6" in text


@pytest.mark.parametrize("page", PAGES)
def test_linux_6_10_revocation_is_proved_for_bars_up_to_1_tib(page):
    result = _vma("revoke.complete", "linux-6.10", page, max_bar_bytes=TIB)
    assert result.verdict is Verdict.PROVED, result.reason
    assert result.scope["method"] == "induction" and "bar.max-size" in result.assumptions
    assert any(note.startswith("antecedent reached by:") for note in result.notes)


def test_linux_6_10_keeps_ptes_beyond_6_tib_of_file_offsets_for_bars_above_1_tib():
    result = _vma("revoke.complete", "linux-6.10", 4096)
    assert result.verdict is Verdict.COUNTEREXAMPLE
    tcx = result.trace
    b = int(tcx.violated.split(":")[1].split("/")[0])
    assert tcx.initial.size[b] > TIB
    last = tcx.steps[-1].after
    assert last.pte_live[b] and last.pte_first[b] >= zap_end_pgoff(12)


def test_up_to_5_7_the_cve_2020_12888_trace():
    tcx = _vma("revoke.complete", "linux-4.8", 65536).trace
    kinds = [step.event.kind for step in tcx.steps]
    revoking = {VmaEventKind.MEM_OFF, VmaEventKind.D3, VmaEventKind.RESET, VmaEventKind.HOT_RESET}
    assert kinds[0] is VmaEventKind.OPEN and VmaEventKind.MMAP in kinds and VmaEventKind.FAULT not in kinds
    assert revoking & set(kinds) and len(kinds) == 3


def test_a_mapping_counterexample_is_the_same_under_every_seed():
    """Events and values are all pulled, so the model z3 happens to return first does not show."""
    policy = get_policy("linux-4.7")
    reports = {"\n".join(check_vma(VMA_PROPERTIES["revoke.complete"], policy, vma_structure(2), 65536,
                                   VmaSettings(seed=seed)).trace.lines()) for seed in range(4)}
    assert len(reports) == 1
    assert "clear PCI_COMMAND_MEMORY" in reports.pop()


def test_vfio_platform_reset_revokes_nothing():
    tcx = _vma("revoke.complete", "vfio-platform", 4096).trace
    assert tcx.steps[-1].event.kind is VmaEventKind.RESET


def test_linux_5_8_vma_list_revokes_everything():
    assert _vma("revoke.complete", "linux-5.8", 4096).verdict is Verdict.PROVED


def test_region_of_vma_holds_only_with_the_region_encoding():
    assert _vma("pgoff.region-of-vma", "linux-6.10", 16384).verdict is Verdict.PROVED
    tcx = _vma("pgoff.region-of-vma", "linux-5.8", 16384).trace
    assert "decodes to region" in tcx.lines()[-1]


def test_round_trip_fails_at_2_tib_and_is_proved_up_to_1_tib():
    for page in PAGES:
        result = check_round_trip(get_policy("linux-6.10"), page)
        assert result.verdict is Verdict.COUNTEREXAMPLE
        assert result.trace.size_bytes == 2 * TIB
        bounded = check_round_trip(get_policy("linux-6.10"), page, RoundTripSettings(max_bar_bytes=TIB))
        assert bounded.verdict is Verdict.PROVED
    with pytest.raises(EncodingMismatch, match="round-trips concretely"):
        replay_round_trip(4096, 0, TIB, 1)


def _run(*argv):
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


@pytest.mark.parametrize("argv, needle", [
    (["prove", "--mode", "pair", "--property", "revoke.complete"], "does not run"),
    (["prove", "--mode", "trace", "--property", "revoke.complete", "--max-bar-size", "3T"], "power of two"),
    (["prove", "--mode", "trace", "--property", "revoke.complete", "--events", "teleport"], "unknown event"),
    (["prove", "--mode", "trace", "--property", "revoke.complete", "--events", "rescan"], "no mapping event"),
])
def test_bad_mapping_arguments_are_one_line_usage_errors(argv, needle):
    code, out, err = _run(*argv)
    assert code == 2 and needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_round_trip_reports_and_exit_codes():
    code, out, _ = _run("prove", "--property", "pgoff.round-trip", "--page-size", "4K", "--format", "json")
    assert code == 1 and '"kind": "function"' in out and '"size": "0x20000000000"' in out
    code, out, _ = _run("prove", "--property", "pgoff.round-trip", "--page-size", "4K", "--max-bar-size", "1T")
    assert code == 0 and "proved" in out


def test_list_names_the_new_properties_and_policies():
    _, out, _ = _run("list")
    for name in ("revoke.complete", "pgoff.round-trip", "pgoff.region-of-vma", "rfc-2021", "vfio-platform",
                 "linux-5.8", "linux-6.10"):
        assert name in out


def test_vma_events_cover_every_kind():
    assert {e.kind for e in all_vma_events(SMALL)} == set(VmaEventKind)
    assert VmaEvent(VmaEventKind.HOT_RESET, 0) in all_vma_events(SMALL)


def test_policies_checked_on_mappings_only_run_linux_4_8s_probe():
    from model.policies import BUILTIN, SAME_PROBE_AS_4_8
    from model.policies.linux import Linux48
    for name in SAME_PROBE_AS_4_8:
        cls = type(BUILTIN[name])
        assert issubclass(cls, Linux48)
        for rule in ("probe", "mmap_window", "query", "reprobe", "may_reserve", "dummy_range", "request_dummy"):
            assert getattr(cls, rule) is getattr(Linux48, rule), (name, rule)
