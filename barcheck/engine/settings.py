"""One settings object for a run of checks, and the view of it each engine takes."""

from __future__ import annotations

from dataclasses import dataclass

from barcheck.engine.checker import Settings
from barcheck.engine.msixmeasure import MeasureSettings
from barcheck.engine.pgoffcheck import RoundTripSettings
from barcheck.engine.system import INDUCTION
from barcheck.engine.recordcheck import RecordSettings
from barcheck.engine.session import DEFAULT_RLIMIT, DEFAULT_SEED
from barcheck.engine.tracecheck import DEFAULT_DEPTH, TraceSettings
from barcheck.engine.vmacheck import VmaSettings
from model.events import KERNEL_EVENTS, EventKind
from model.placement import ANY_FREE
from model.vma import VmaEventKind
from properties.record import RecordOptions

EngineSettings = Settings | RecordSettings | TraceSettings | VmaSettings | RoundTripSettings | MeasureSettings
"""What a job carries: the view of `RunSettings` its engine reads."""


@dataclass(frozen=True, slots=True)
class RunSettings:
    """Everything checks are asked with, whatever their kind.  Each engine reads its own view, so a
    knob one kind ignores (the depth, for a pair check) never changes another's results or cache key."""

    seed: int = DEFAULT_SEED
    rlimit: int = DEFAULT_RLIMIT
    """Work budget per solver call."""
    explain: bool = True
    """False: verdicts only (no minimal cores, the solver's first counterexample, replayed all the same)."""
    depth: int = DEFAULT_DEPTH
    method: str = INDUCTION
    placement: str = ANY_FREE
    trace_events: tuple[EventKind, ...] = KERNEL_EVENTS
    mapping_events: tuple[VmaEventKind, ...] = tuple(VmaEventKind)
    max_bar_bytes: int | None = None
    """None: every BAR size the hardware allows."""
    no_unsafe_interrupts: bool = False

    def pair(self) -> Settings:
        return Settings(seed=self.seed, rlimit=self.rlimit, explain=self.explain)

    def record(self) -> RecordSettings:
        options = RecordOptions(no_unsafe_interrupts=self.no_unsafe_interrupts, max_bar_bytes=self.max_bar_bytes)
        return RecordSettings(seed=self.seed, rlimit=self.rlimit, options=options, explain=self.explain)

    def measure(self) -> MeasureSettings:
        return MeasureSettings(seed=self.seed, rlimit=self.rlimit)

    def trace(self) -> TraceSettings:
        return TraceSettings(seed=self.seed, rlimit=self.rlimit, depth=self.depth, method=self.method,
                             placement=self.placement, events=self.trace_events)

    def mapping(self) -> VmaSettings:
        return VmaSettings(seed=self.seed, rlimit=self.rlimit, depth=self.depth, method=self.method,
                           max_bar_bytes=self.max_bar_bytes, events=self.mapping_events)

    def round_trip(self) -> RoundTripSettings:
        return RoundTripSettings(seed=self.seed, rlimit=self.rlimit, max_bar_bytes=self.max_bar_bytes)
