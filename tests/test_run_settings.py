"""One settings object (barcheck/engine/settings.py): each engine's view, and knobs that stay out of other views."""

from __future__ import annotations

from barcheck.engine.checker import Settings
from barcheck.engine.msixmeasure import MeasureSettings
from barcheck.engine.pgoffcheck import RoundTripSettings
from barcheck.engine.recordcheck import RecordSettings
from barcheck.engine.settings import RunSettings
from barcheck.engine.tracecheck import TraceSettings
from barcheck.engine.vmacheck import VmaSettings
from model.events import EventKind
from model.placement import FIRST_FIT
from model.vma import VmaEventKind

VIEWS = ("pair", "record", "measure", "trace", "mapping", "round_trip")


def _views(settings: RunSettings) -> dict[str, object]:
    return {name: getattr(settings, name)() for name in VIEWS}


def test_the_default_views_are_each_engines_defaults() -> None:
    assert _views(RunSettings()) == {"pair": Settings(), "record": RecordSettings(), "measure": MeasureSettings(),
                                     "trace": TraceSettings(), "mapping": VmaSettings(),
                                     "round_trip": RoundTripSettings()}


def test_seed_and_budget_reach_every_view() -> None:
    for view in _views(RunSettings(seed=7, rlimit=1234)).values():
        assert (view.seed, view.rlimit) == (7, 1234)


def test_a_knob_changes_only_the_views_that_read_it() -> None:
    base = _views(RunSettings())
    changed = {
        "explain": (RunSettings(explain=False), {"pair", "record"}),
        "depth": (RunSettings(depth=3), {"trace", "mapping"}),
        "method": (RunSettings(method="bmc"), {"trace", "mapping"}),
        "placement": (RunSettings(placement=FIRST_FIT), {"trace"}),
        "trace_events": (RunSettings(trace_events=(EventKind.OPEN,)), {"trace"}),
        "mapping_events": (RunSettings(mapping_events=(VmaEventKind.MMAP,)), {"mapping"}),
        "max_bar_bytes": (RunSettings(max_bar_bytes=1 << 20), {"record", "mapping", "round_trip"}),
        "no_unsafe_interrupts": (RunSettings(no_unsafe_interrupts=True), {"record"}),
    }
    for knob, (settings, readers) in changed.items():
        views = _views(settings)
        assert {name for name in VIEWS if views[name] != base[name]} == readers, knob
