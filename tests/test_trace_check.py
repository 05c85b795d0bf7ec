"""Trace verdicts: the unbounded proofs, the expected counterexamples, replay, and `barcheck check`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from barcheck.cli.main import main
from barcheck.engine.tracecheck import TraceSettings, check_trace
from barcheck.engine.verdict import Verdict
from model.events import ALL_EVENTS, Event, EventKind
from model.policies import get_policy
from model.system import standard_structure
from properties.trace import TRACE_PROPERTIES
from tests.broken_policies import ReleaseOnReset

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ST = standard_structure(3)


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("prop_id", sorted(TRACE_PROPERTIES))
def test_linux_48_is_proved_for_all_traces_at_4k(prop_id):
    result = check_trace(TRACE_PROPERTIES[prop_id], get_policy("linux-4.8"), ST, 4096)
    assert result.verdict is Verdict.PROVED, result.reason
    assert result.scope["method"] == "induction" and result.scope["bounded"] is False
    assert "boot.tree-and-pci-rules" in result.assumptions


@pytest.mark.slow
@pytest.mark.parametrize("page", [16 * 1024, 64 * 1024])
def test_linux_48_isolation_is_proved_for_all_traces_at_large_pages(page):
    result = check_trace(TRACE_PROPERTIES["isolation.window"], get_policy("linux-4.8"), ST, page)
    assert result.verdict is Verdict.PROVED, result.reason


def test_a_page_family_gives_each_page_the_verdict_it_has_alone():
    """One device keeps it quick: proved and counterexample checks under a family of two page sizes."""
    one = standard_structure(1)
    family = TraceSettings(page_family=(4096, 65536))
    for prop_id, policy in (("isolation.window", "linux-4.8"), ("dummy.held-while-mapped", "linux-4.8")):
        for page in (4096, 65536):
            shared = check_trace(TRACE_PROPERTIES[prop_id], get_policy(policy), one, page, family)
            alone = check_trace(TRACE_PROPERTIES[prop_id], get_policy(policy), one, page)
            assert shared.verdict is alone.verdict is Verdict.PROVED, (prop_id, page)
            assert any("proved once" in note for note in shared.notes)
            assert shared.scope["page_family"] == [4096, 65536] and "page_family" not in alone.scope
    broken = check_trace(TRACE_PROPERTIES["dummy.held-while-mapped"], ReleaseOnReset(), one, 65536, family)
    assert broken.verdict is Verdict.COUNTEREXAMPLE
    assert broken.trace.initial.page_bytes == 65536


def test_a_family_page_size_is_one_of_the_family_and_nothing_else():
    import z3
    from barcheck.engine.unroll import TraceSolver
    solver = TraceSolver(standard_structure(1), (4096, 65536), 64, 0, 0)
    for page, expected in ((4096, z3.sat), (65536, z3.sat), (16384, z3.unsat), (0, z3.unsat)):
        assert solver.check_with(solver.page == page)[0] == expected, page


def test_v3_per_bar_fails_probe_idempotent_with_a_two_step_trace():
    result = check_trace(TRACE_PROPERTIES["probe.idempotent"], get_policy("v3-per-bar"), ST, 4096)
    assert result.verdict is Verdict.COUNTEREXAMPLE
    kinds = [step.event.kind for step in result.trace.steps]
    assert kinds == [EventKind.OPEN, EventKind.REPROBE]
    d = result.trace.steps[0].event.target
    bar = ST.devices[d].bars[0]
    assert result.trace.steps[0].after.mmap_ok[bar] and not result.trace.steps[1].after.mmap_ok[bar]


def test_releasing_the_reservation_while_mapped_is_a_trace_counterexample():
    result = check_trace(TRACE_PROPERTIES["dummy.held-while-mapped"], ReleaseOnReset(), ST, 4096)
    assert result.verdict is Verdict.COUNTEREXAMPLE
    kinds = {step.event.kind for step in result.trace.steps}
    assert {EventKind.OPEN, EventKind.MMAP, EventKind.RESET} <= kinds
    last = result.trace.steps[-1].after
    assert any(m and not h for m, h in zip(last.mapped, last.dummy_held))


def test_release_on_reset_lets_hot_plug_into_the_mapped_page():
    result = check_trace(TRACE_PROPERTIES["hotplug.no-placement-in-mapped-page"], ReleaseOnReset(), ST, 4096)
    assert result.verdict is Verdict.COUNTEREXAMPLE
    assert result.trace.steps[-1].event.kind is EventKind.HOT_ADD


def test_rescan_with_realloc_moves_an_open_device_a_finding():
    settings = TraceSettings(events=ALL_EVENTS)
    result = check_trace(TRACE_PROPERTIES["isolation.window"], get_policy("linux-4.8"), ST, 4096, settings)
    assert result.verdict is Verdict.COUNTEREXAMPLE
    assert EventKind.RESCAN in {step.event.kind for step in result.trace.steps}


def test_bounded_check_proves_linux_48_to_depth_3():
    settings = TraceSettings(method="bmc", depth=3)
    result = check_trace(TRACE_PROPERTIES["dummy.no-leak"], get_policy("linux-4.8"), standard_structure(2), 4096,
                         settings)
    assert result.verdict is Verdict.PROVED
    assert result.scope["bounded"] is True and result.scope["depth"] == 3


def test_trace_json_report_is_deterministic_and_replayed():
    argv = ["prove", "--mode", "trace", "--property", "probe.idempotent", "--policy", "v3-per-bar",
            "--page-size", "4K", "--format", "json"]
    code, first, err = run_cli(*argv)
    assert code == 1 and err == ""
    _, second, _ = run_cli(*argv)
    strip = lambda text: [{k: v for k, v in r.items() if k not in ("seconds", "solver")}  # noqa: E731
                          for r in json.loads(text)["results"]]
    assert strip(first) == strip(second)
    result = json.loads(first)["results"][0]
    assert result["kind"] == "trace" and result["trace"]["replayed"] is True
    assert [s["text"].split(" ")[0] for s in result["trace"]["steps"]] == ["open", "reprobe"]


def test_oracle_example_matches_the_real_kernel_run():
    code, out, err = run_cli("check", str(EXAMPLES / "x86-seabios-hotplug.toml"))
    assert code == 0, out + err
    assert "assigned 0xfe801000-0xfe8010ff" in out
    assert "assigned 0xfe800100-0xfe8001ff, inside the page of 0000:01:01.0 BAR0" in out
    assert "no mmap (sub-page BAR whose start is not page-aligned)" in out


def test_expectation_mismatch_exits_1(tmp_path):
    text = (EXAMPLES / "x86-seabios-hotplug.toml").read_text().replace(
        'expect_start = "0xfe801000"', 'expect_start = "0xfe800100"')
    path = tmp_path / "wrong.toml"
    path.write_text(text)
    code, out, _ = run_cli("check", str(path))
    assert code == 1
    assert "EXPECTATION expected start [0xfe800100], the model gives [0xfe801000]" in out


BAD_SCENARIOS = [
    ("name = ", "TOML syntax"),
    ('[[host_bridge]]\nname = "h"\nwindow = ["0x0", "0xfff"]\n[[device]]\naddress = "0000:00:01.0"\n'
     'parent = "h"\nbars = [{ index = 0, size = "300" }]\n[[event]]\ndo = "open"\ndevice = "0000:00:01.0"\n',
     "device[0].bars[0].size: '300' is not a power of two"),
    ('[[host_bridge]]\nname = "h"\nwindow = ["0x0", "0xfff"]\n[[device]]\naddress = "0000:00:01.0"\n'
     'parent = "nope"\nbars = [{ index = 0, size = "256" }]\n[[event]]\ndo = "open"\ndevice = "0000:00:01.0"\n',
     "parent 'nope' is not a declared"),
    ('bogus = 1\n[[host_bridge]]\nname = "h"\nwindow = ["0x0", "0xfff"]\n[[device]]\n'
     'address = "0000:00:01.0"\nparent = "h"\nbars = [{ index = 0, size = "256" }]\n[[event]]\ndo = "open"\n'
     'device = "0000:00:01.0"\n', "unknown key 'bogus'"),
    ('[[host_bridge]]\nname = "h"\nwindow = ["0x0", "0xfff"]\n[[device]]\naddress = "0000:00:01.0"\n'
     'parent = "h"\nbars = [{ index = 0, size = "256" }]\n[[event]]\ndo = "explode"\ndevice = "0000:00:01.0"\n',
     "event[0].do: 'explode' is not an event"),
    ('[[host_bridge]]\nname = "h"\nwindow = ["0x0", "0xfff"]\n[[device]]\naddress = "0000:00:01.0"\n'
     'parent = "h"\nbars = [{ index = 0, size = "256", start = "0x100" }]\n[[device]]\naddress = "0000:00:02.0"\n'
     'parent = "h"\nbars = [{ index = 0, size = "256", start = "0x100" }]\n[[event]]\ndo = "open"\n'
     'device = "0000:00:01.0"\n', "overlaps another resource there"),
    ('[[host_bridge]]\nname = "h"\nwindow = ["0x0", "0xfff"]\n[[device]]\naddress = "0000:00:01.0"\n'
     'parent = "h"\nbars = [{ index = 0, size = "256" }]\n[[event]]\ndo = "close"\ndevice = "0000:00:01.0"\n'
     'expect_mmap = true\n', "event[0].expect_mmap: applies to open"),
]


@pytest.mark.parametrize("text, message", BAD_SCENARIOS)
def test_bad_scenarios_exit_2_with_one_line(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code, out, err = run_cli("check", str(path), "--out", str(tmp_path / "out"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and str(path) in err and message in err, err
    assert not (tmp_path / "out").exists()


def test_unknown_policy_override_exits_2():
    code, _, err = run_cli("check", str(EXAMPLES / "x86-seabios-hotplug.toml"), "--policy", "nosuch")
    assert code == 2 and "nosuch" in err and err.count("\n") == 1


def test_missing_scenario_file_exits_2(tmp_path):
    code, _, err = run_cli("check", str(tmp_path / "absent.toml"))
    assert code == 2 and "absent.toml" in err and "cannot read" in err


def test_unknown_event_list_is_a_usage_error():
    code, _, err = run_cli("prove", "--mode", "trace", "--events", "open,fly")
    assert code == 2 and "--events" in err and "fly" in err


def test_disabled_event_is_reported_not_applied():
    from model.simulate import Move, idle_state, run
    st = standard_structure(1)
    initial = idle_state(st, 4096, [(0xFE000000, 0xFEBFFFFF), (0xFE800000, 0xFE9FFFFF)], [(0xFEB00000, 0xFEB00FFF)],
                         [256], [True], [0xFE800000])
    taken = run(get_policy("linux-4.8"), st, initial, [Move(Event(EventKind.MMAP, 0))])
    assert not taken[0].enabled and taken[0].after == initial
