"""The conformance comparison on real kernel consoles recorded by `barcheck conform --logs`.

tests/data/conform/ holds the guest consoles of the conformance suite
(conformance/*.toml) on Debian's 6.1 x86_64 and 6.12 ppc64le 64K kernels.
These tests need no QEMU: they check that the model agrees with what those
kernels did, and that wrong models are caught.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from barcheck.conform.compare import compare
from barcheck.conform.observe import ObservationError, parse
from barcheck.conform.plan import make_plan
from barcheck.scenario.file import load_scenario
from model.policies import get_policy
from tests.broken_policies import DummyOneByteShort, NoAlignmentCheck, NoDummy, ReleaseOnReset

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "tests" / "data" / "conform"
SCENARIOS = sorted((ROOT / "conformance").glob("*.toml"))


def _recorded(scenario: Path):
    spec = load_scenario(scenario)
    plan = make_plan(spec)
    lines = (LOGS / f"{spec.name}-{plan.machine.arch}.log").read_text().splitlines()
    return spec, plan, parse(lines)


def _differences(comparison) -> list:
    return [d for s in comparison.steps for d in s.differences]


def test_the_suite_has_every_required_case():
    assert len(SCENARIOS) >= 10
    arches = {make_plan(load_scenario(p)).machine.arch for p in SCENARIOS}
    assert arches == {"x86_64", "ppc64le"}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_model_agrees_with_the_recorded_kernel(scenario):
    spec, plan, obs = _recorded(scenario)
    assert obs.done and obs.page_bytes == plan.machine.page_bytes
    result = compare(spec, get_policy(spec.policy), plan.machine.page_bytes, obs)
    assert result.incomplete == ""
    assert len(result.steps) == len(spec.events)
    assert _differences(result) == []
    assert result.mismatches == 0


def test_recorded_runs_show_both_mmap_outcomes_and_hot_add_placement():
    """The suite is not trivially agreeing: it holds refused and granted mmaps, and packed hot-adds."""
    flags, hot_adds = set(), []
    for scenario in SCENARIOS:
        _, _, obs = _recorded(scenario)
        for step in obs.steps.values():
            flags |= set(step.mmap_flags.values())
            if step.appeared:
                hot_adds.append(step.appeared.memory_bars()[0].first)
    assert flags == {True, False}
    assert any(start % 4096 for start in hot_adds) and any(start % 4096 == 0 for start in hot_adds)


def _one(name: str):
    return _recorded(ROOT / "conformance" / f"{name}.toml")


def test_a_kernel_without_sub_page_mmap_disagrees():
    spec, plan, obs = _one("x86-firmware-padded")
    result = compare(spec, get_policy("linux-4.7"), 4096, obs)
    first = result.steps[0].differences
    assert ("MMAP flag of BAR0", "set", "clear") in [(d.what, d.kernel, d.model) for d in first]


@pytest.mark.parametrize("policy, scenario, what", [
    (NoAlignmentCheck(), "x86-hotadd-target-closed", "MMAP flag of BAR0"),
    (NoDummy(), "x86-firmware-padded", "reserved ranges"),
    (DummyOneByteShort(), "ppc64-4k-bar", "reserved ranges"),
    (ReleaseOnReset(), "x86-reset", "reserved ranges"),
], ids=lambda v: getattr(v, "name", v))
def test_broken_policies_disagree_with_the_kernel(policy, scenario, what):
    spec, plan, obs = _one(scenario)
    result = compare(spec, policy, plan.machine.page_bytes, obs)
    assert what in [d.what for d in _differences(result)]


def test_a_tampered_observation_shows_both_sides():
    spec, plan, _ = _one("x86-hotadd-target-open")
    lines = (LOGS / "x86-hotadd-target-open-x86_64.log").read_text().splitlines()
    tampered = [line.replace("BC res 0000:01:02.0 0 0xfe601000 0xfe6010ff",
                             "BC res 0000:01:02.0 0 0xfe602000 0xfe6020ff") for line in lines]
    result = compare(spec, get_policy("linux-4.8"), 4096, parse(tampered))
    diff = [d for d in _differences(result) if d.what == "BAR0 assigned at"]
    assert [(d.kernel, d.model) for d in diff] == [("0xfe602000-0xfe6020ff", "0xfe601000-0xfe6010ff")]


def test_a_guest_that_stops_early_is_incomplete():
    spec, plan, _ = _one("x86-reset")
    lines = (LOGS / "x86-reset-x86_64.log").read_text().splitlines()
    cut = next(i for i, line in enumerate(lines) if line.startswith("BC step 3 begin"))
    result = compare(spec, get_policy("linux-4.8"), 4096, parse(lines[:cut + 1]))
    assert len(result.steps) == 2
    assert "before finishing step 3" in result.incomplete


def test_kernel_text_in_front_of_an_agent_line_is_skipped():
    obs = parse(["[    1.0] something #1 SMP Debian 6.BC hello kernel=6.1 arch=x86_64 page_size=4096"])
    assert (obs.kernel, obs.page_bytes) == ("6.1", 4096)


def test_a_missing_bridge_is_an_observation_error():
    spec, plan, _ = _one("x86-hotadd-target-open")
    lines = [line for line in (LOGS / "x86-hotadd-target-open-x86_64.log").read_text().splitlines()
             if not line.startswith("BC bridge")]
    with pytest.raises(ObservationError, match="bridge 0000:00:05.0 is not in the guest"):
        compare(spec, get_policy("linux-4.8"), 4096, parse(lines))


def test_declared_values_that_differ_are_scenario_mismatches(tmp_path):
    source = (ROOT / "conformance" / "x86-reset.toml").read_text()
    changed = source.replace('bars = [{ index = 0, size = "256" }]',
                             'bars = [{ index = 0, size = "256", start = "0xfe700000" }]', 1)
    path = tmp_path / "x86-reset.toml"
    path.write_text(changed)
    spec = load_scenario(path)
    obs = parse((LOGS / "x86-reset-x86_64.log").read_text().splitlines())
    result = compare(spec, get_policy("linux-4.8"), 4096, obs)
    assert [(m.declared, m.kernel) for m in result.boot_mismatches] == [("0xfe700000", "0xfe600000")]
    assert _differences(result) == []


def test_expect_mmap_lists_memory_bars_only(tmp_path):
    """pci-testdev also has an I/O BAR; the kernel reports its region, the expectation does not list it."""
    source = (ROOT / "conformance" / "ppc64-4k-bar.toml").read_text()
    marker = 'do = "open"\ndevice = "0000:00:05.0"\n'
    assert marker in source
    path = tmp_path / "ppc64-4k-bar.toml"
    path.write_text(source.replace(marker, marker + "expect_mmap = true\n"))
    spec = load_scenario(path)
    obs = parse((LOGS / "ppc64-4k-bar-ppc64le.log").read_text().splitlines())
    assert set(obs.steps[3].mmap_flags) == {0, 1}
    assert compare(spec, get_policy("linux-4.8"), 65536, obs).mismatches == 0
    path.write_text(source.replace(marker, marker + "expect_mmap = false\n"))
    result = compare(load_scenario(path), get_policy("linux-4.8"), 65536, obs)
    assert [(m.declared, m.kernel) for m in result.steps[2].expectation_mismatches] == [("[False]", "[True]")]
