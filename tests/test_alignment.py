"""Alignment configurations, Enhanced Allocation, SR-IOV and page-size sweeps."""

from __future__ import annotations

import json

import pytest

from barcheck.engine.checker import check
from barcheck.cli.main import main
from barcheck.engine.verdict import Verdict
from model.ops import ConcreteOps
from model.pci import Bar, BarKind
from model.policies import UnknownPolicy, catalogue, get_policy
from model.realign import realign
from model.scenario import Origin, Relation
from model.sriov import NotRealisable, vf_bars
from model.units import KIB, SizeError, parse_page_sizes
from properties import REGISTRY

PAGE_64K = 64 * KIB


def resource_of(policy_name: str, size_bytes: int, page_bytes: int = PAGE_64K, origin: Origin = Origin.FUNCTION,
                index: int = 0):
    ops = ConcreteOps(64)
    bar = Bar(index, int(BarKind.MEM32), False, 0xFE000000, size_bytes)
    return realign(ops, get_policy(policy_name).pci_core, bar, origin is Origin.FUNCTION, page_bytes)


def test_resize_grows_the_resource_to_the_page() -> None:
    r = resource_of("linux-4.8+resource_alignment", 0x100)
    assert (r.resource.size_bytes, r.requested_align, r.grown, r.startalign) == (PAGE_64K, PAGE_64K, True, False)
    assert r.realloc_align == PAGE_64K


def test_explicit_resize_alignment_can_stay_below_the_page() -> None:
    r = resource_of("linux-4.8+resource_alignment=4K", 0x100)
    assert r.resource.size_bytes == 4 * KIB and r.requested_align == 4 * KIB


def test_default_alignment_keeps_the_size_and_loses_the_alignment_on_release() -> None:
    r = resource_of("linux-4.8+default_alignment", 0x100)
    assert (r.resource.size_bytes, r.requested_align, r.startalign) == (0x100, PAGE_64K, True)
    assert r.realloc_align == 0


def test_the_2024_series_restores_the_alignment() -> None:
    r = resource_of("linux-4.8+align_small_bars", 0x100)
    assert (r.resource.size_bytes, r.requested_align, r.realloc_align) == (0x100, PAGE_64K, PAGE_64K)


def test_the_quirk_extends_standard_bars_only() -> None:
    assert resource_of("linux-4.8+extend_bar_to_page", 0x100).resource.size_bytes == PAGE_64K
    rom = realign(ConcreteOps(64), get_policy("linux-4.8+extend_bar_to_page").pci_core,
                  Bar(6, int(BarKind.ROM), False, 0xFE000000, 0x800), True, PAGE_64K)
    assert rom.resource.size_bytes == 0x800


@pytest.mark.parametrize("origin", [Origin.VIRTUAL_FUNCTION, Origin.HOST_BRIDGE, Origin.FIXED])
def test_exempt_devices_are_not_realigned(origin: Origin) -> None:
    for name in ("linux-4.8+resource_alignment", "linux-4.8+default_alignment"):
        r = resource_of(name, 0x100, origin=origin)
        assert (r.resource.size_bytes, r.requested_align) == (0x100, 0), (name, origin)


def test_bars_of_at_least_the_alignment_are_left_alone() -> None:
    r = resource_of("linux-4.8+default_alignment", PAGE_64K)
    assert (r.resource.size_bytes, r.requested_align) == (PAGE_64K, 0)


@pytest.mark.parametrize("name,message", [
    ("linux-4.8+bogus", "unknown modifier '+bogus'"),
    ("linux-4.8+default_alignment+default_alignment", "given twice"),
    ("linux-4.8+default_alignment+align_small_bars", "give one"),
    ("linux-4.8+resource_alignment=48K", "power of"),
    ("linux-4.8+enhanced_allocation=4K", "takes no value"),
    ("linux-9+resource_alignment", "unknown policy 'linux-9'"),
])
def test_bad_policy_names_are_refused_with_the_reason(name: str, message: str) -> None:
    with pytest.raises(UnknownPolicy) as err:
        get_policy(name)
    assert message in str(err.value)


def test_modifier_order_does_not_change_the_name() -> None:
    a = get_policy("linux-4.8+enhanced_allocation+resource_alignment=64K")
    b = get_policy("linux-4.8+resource_alignment=64K+enhanced_allocation")
    assert a.name == b.name == "linux-4.8+resource_alignment=64K+enhanced_allocation"
    assert a.pci_core == b.pci_core


def test_catalogue_holds_the_builtins_and_the_configurations() -> None:
    names = [p.name for p in catalogue()]
    assert names[:3] == ["linux-4.7", "linux-4.8", "v3-per-bar"]
    assert "linux-4.8+resource_alignment" in names and "linux-4.8+enhanced_allocation" in names


def test_resize_proves_subpage_availability_on_its_stated_assumption() -> None:
    result = check(REGISTRY["mmap.subpage-available"], get_policy("linux-4.8+resource_alignment"), PAGE_64K)
    assert result.verdict is Verdict.PROVED
    assert "align.device-named" in result.assumptions


def test_without_configuration_a_subpage_bar_can_be_refused() -> None:
    result = check(REGISTRY["mmap.subpage-available"], get_policy("linux-4.8"), PAGE_64K)
    assert result.verdict is Verdict.COUNTEREXAMPLE
    sc = result.counterexample.scenario
    assert sc.bar_size < PAGE_64K and not result.counterexample.facts["mmappable"]


def test_start_alignment_alone_leaves_an_exempt_device_in_the_page() -> None:
    policy = get_policy("linux-4.8+default_alignment")
    result = check(REGISTRY["mmap.subpage-available"], policy, PAGE_64K)
    assert result.verdict is Verdict.COUNTEREXAMPLE
    sc = result.counterexample.scenario
    assert sc.bar_start % PAGE_64K == 0 and sc.bar_size < PAGE_64K
    assert sc.foreign_relation == Relation.EXISTING_SIBLING
    assert sc.foreign_origin in (Origin.HOST_BRIDGE, Origin.FIXED, Origin.PLATFORM)
    assert sc.bar_start < sc.foreign_first <= sc.bar_start + PAGE_64K - 1
    assert "host bridge" in result.counterexample.explanation
    assert check(REGISTRY["isolation.window"], policy, PAGE_64K).verdict is Verdict.PROVED


def test_a_mid_page_enhanced_allocation_bar_leaks_its_page() -> None:
    result = check(REGISTRY["isolation.window"], get_policy("linux-4.8+enhanced_allocation"), PAGE_64K)
    assert result.verdict is Verdict.COUNTEREXAMPLE
    sc = result.counterexample.scenario
    assert sc.bar_origin == Origin.FIXED
    assert sc.bar_size >= PAGE_64K and sc.bar_start % PAGE_64K != 0 and sc.bar_start % 4 == 0
    assert sc.parent_first <= sc.bar_start and sc.bar_start + sc.bar_size - 1 <= sc.parent_last
    assert sc.parent_first <= sc.foreign_first <= sc.foreign_last <= sc.parent_last
    assert "Enhanced Allocation" in result.counterexample.explanation


def test_natural_alignment_is_a_named_assumption_of_plain_proofs() -> None:
    result = check(REGISTRY["isolation.window"], get_policy("linux-4.8"), PAGE_64K)
    assert result.verdict is Verdict.PROVED
    assert {"pci.bar-natural-alignment", "platform.no-fixed-bars"} <= set(result.assumptions)


def test_realloc_loses_start_alignment_but_not_resize() -> None:
    prop = REGISTRY["alignment.preserved-across-realloc"]
    lost = check(prop, get_policy("linux-4.8+default_alignment"), PAGE_64K)
    assert lost.verdict is Verdict.COUNTEREXAMPLE and lost.counterexample.facts["realloc_align"] == 0
    assert "bogus alignment" in lost.counterexample.explanation
    assert check(prop, get_policy("linux-4.8+resource_alignment"), PAGE_64K).verdict is Verdict.PROVED
    assert check(prop, get_policy("linux-4.8"), PAGE_64K).verdict is Verdict.VACUOUS


def test_vf_bars_are_contiguous_at_their_size() -> None:
    bars = vf_bars(0x80000000, 0x10000, 4, PAGE_64K)
    assert [(b.vf, b.start_bytes, b.last) for b in bars] == [
        (n, 0x80000000 + n * 0x10000, 0x80000000 + (n + 1) * 0x10000 - 1) for n in range(4)]


def test_a_vf_bar_below_the_page_is_not_realisable() -> None:
    assert len(vf_bars(0x80000000, 0x4000, 2, 4 * KIB)) == 2
    with pytest.raises(NotRealisable, match="sriov_init"):
        vf_bars(0x80000000, 0x4000, 2, PAGE_64K)
    with pytest.raises(NotRealisable, match="not aligned"):
        vf_bars(0x80001000, 0x4000, 2, 4 * KIB)


def test_vf_bars_are_never_subpage_in_the_pair_model() -> None:
    ops = ConcreteOps(64)
    from model.scenario import PairScenario
    from properties.situation import situate, world_assumptions
    from model.scenario import Shape
    sc = PairScenario(PAGE_64K, 0, 0, False, 0xFE000000, 0x1000, 0xFE000000, 0xFE0FFFFF, 0xFE100000, 0xFE10000F,
                      2, int(Origin.VIRTUAL_FUNCTION), int(Origin.PLATFORM), 0)
    sit = situate(ops, sc, get_policy("linux-4.8"))
    broken = [name for name, holds in world_assumptions(ops, sc, sit, Shape()) if not holds]
    assert broken == ["sriov.vf-bar-page-multiple"]


def test_page_ranges_are_every_power_of_two() -> None:
    assert [p.name for p in parse_page_sizes("4K..1M")] == ["4K", "8K", "16K", "32K", "64K", "128K", "256K",
                                                            "512K", "1M"]
    for bad in ("64K..4K", "4K..", "4K..6K"):
        with pytest.raises(SizeError):
            parse_page_sizes(bad)


def test_sweep_names_the_page_size_where_the_verdict_flips(capsys) -> None:
    code = main(["prove", "--policy", "linux-4.8+resource_alignment=4K", "--property", "mmap.subpage-available",
                 "--page-size", "4K..32K", "--format", "json"], __import__("sys").stdout, __import__("sys").stderr)
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    [sweep] = doc["sweeps"]
    assert sweep["flips_at"] == 8 * KIB and sweep["first_verdict"] == "proved"
    assert [c["page_size"] for c in sweep["changes"]] == [8 * KIB]
    verdicts = {r["page_size"]: r["verdict"] for r in doc["results"]}
    assert verdicts == {4096: "proved", 8192: "counterexample", 16384: "counterexample", 32768: "counterexample"}


def test_trace_mode_refuses_modifiers_it_does_not_model(capsys) -> None:
    import sys
    code = main(["prove", "--mode", "trace", "--policy", "linux-4.8+default_alignment"], sys.stdout, sys.stderr)
    err = capsys.readouterr().err
    assert code == 2 and "PCI-core modifiers" in err and err.count("\n") == 1


def test_bad_modifier_on_the_command_line_is_a_one_line_usage_error(capsys) -> None:
    import sys
    code = main(["prove", "--policy", "linux-4.8+resource_alignment=3K"], sys.stdout, sys.stderr)
    err = capsys.readouterr().err
    assert code == 2 and "power of two" in err and err.count("\n") == 1


def test_list_names_the_modifiers(capsys) -> None:
    import sys
    assert main(["list"], sys.stdout, sys.stderr) == 0
    out = capsys.readouterr().out
    assert "modifier  +resource_alignment=SIZE" in out and "modifier  +enhanced_allocation" in out
