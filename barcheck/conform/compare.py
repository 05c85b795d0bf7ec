"""Run the model on the layout the kernel produced and compare it with the kernel, step by step.

Compared at each step:
- whether the event happened (open, mmap, reset, hot-add), from the system
  call's result;
- after an open, the MMAP flag of each of the device's memory BARs;
- after a hot-add, where each new BAR was assigned;
- after every step, every "vfio sub-page reserved" range in /proc/iomem.

The model follows the kernel: a step the kernel refused is not applied to the
model either.  A reset the kernel refuses (no reset method, e.g. a bus reset
with another device on the bus) while the model allows it is reported as a
note: the model lets any open device be reset, which covers more behaviours,
never fewer.  Any other difference is a model defect.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from barcheck.conform.layout import Mismatch, observed_topology
from barcheck.conform.observe import Observation, StepObservation
from barcheck.engine.describe import describe_step, reserved_ranges
from barcheck.scenario.check import bars_of, concrete_idle_state, starts_text, to_event
from barcheck.scenario.file import EventDecl, ScenarioSpec
from model.events import EventKind, transition
from model.ops import ConcreteOps
from model.placement import FIRST_FIT
from model.policies import Policy
from model.simulate import Taken
from model.system import State, Structure
from model.topology import Layout, boot_layout

OUTCOME_EVENTS = (EventKind.OPEN, EventKind.MMAP, EventKind.RESET, EventKind.HOT_ADD)
WIDER_IN_MODEL = (EventKind.RESET,)
"""Events whose guard the model deliberately keeps wider than the kernel's."""


@dataclass(frozen=True, slots=True)
class Difference:
    what: str
    kernel: str
    model: str


@dataclass
class StepComparison:
    number: int
    event: str
    model_text: str
    kernel_text: str
    differences: list[Difference] = field(default_factory=list)
    expectation_mismatches: list[Mismatch] = field(default_factory=list)
    note: str = ""


@dataclass
class Comparison:
    steps: list[StepComparison]
    boot_mismatches: list[Mismatch]
    guest_addresses: dict[str, str]
    incomplete: str = ""
    """Why the guest's run ended early, or ''."""

    @property
    def disagreements(self) -> int:
        return sum(len(s.differences) for s in self.steps)

    @property
    def mismatches(self) -> int:
        return len(self.boot_mismatches) + sum(len(s.expectation_mismatches) for s in self.steps)


def compare(spec: ScenarioSpec, policy: Policy, page_bytes: int, obs: Observation) -> Comparison:
    observed = observed_topology(spec, obs)
    layout = boot_layout(observed.topology, "as-given")
    st = layout.structure
    state = concrete_idle_state(layout, page_bytes)
    result = Comparison([], observed.mismatches, observed.guest_addresses)
    ops = ConcreteOps(64)
    for number, decl in enumerate(spec.events, start=1):
        seen = obs.steps.get(number)
        if seen is None or not seen.complete:
            result.incomplete = f"the guest stopped before finishing step {number}" + \
                (f": {obs.fatal}" if obs.fatal else "")
            break
        step = transition(ops, policy, st, state, to_event(layout, decl), FIRST_FIT)
        comparison, state = _compare_step(st, layout, policy, decl, seen, state, bool(step.enabled), step.after)
        comparison.number = number
        result.steps.append(comparison)
    return result


def _compare_step(st: Structure, layout: Layout, policy: Policy, decl: EventDecl, seen: StepObservation,
                  before: State, enabled: bool, after: State) -> tuple[StepComparison, State]:
    differences, note = [], ""
    if decl.kind in OUTCOME_EVENTS:
        if seen.ok and not enabled:
            differences.append(Difference("outcome", "the event happened", "the event cannot happen"))
        elif not seen.ok and enabled:
            if decl.kind in WIDER_IN_MODEL:
                note = (f"the kernel refused ({seen.error}); the model allows {decl.kind.value} of any open "
                        f"device, so the step is left out of the model too")
            else:
                differences.append(Difference("outcome", f"refused ({seen.error})", "the event happens"))
        happened = seen.ok
    else:
        happened = enabled
    state = after if happened else before
    model_view = Taken(to_event(layout, decl), enabled, before, after if enabled else before)
    if seen.ok and decl.kind is EventKind.OPEN:
        differences += _mmap_flags(st, layout, decl, seen, state)
    if seen.ok and decl.kind is EventKind.HOT_ADD:
        differences += _starts(st, layout, decl, seen, state)
    kernel_reserved, model_reserved = sorted(seen.reserved), reserved_ranges(state)
    if kernel_reserved != model_reserved:
        differences.append(Difference("reserved ranges", _ranges(kernel_reserved), _ranges(model_reserved)))
    comparison = StepComparison(0, f"{decl.kind.value} {decl.target}" + (f" BAR{decl.bar}" if decl.bar is not None else ""),
                                describe_step(st, model_view, policy), _kernel_text(seen), differences,
                                _expectations(decl, seen, _bar_indices(st, layout, decl)), note)
    return comparison, state


def _bar_indices(st: Structure, layout: Layout, decl: EventDecl) -> list[int]:
    """The device's memory BAR indices, in BAR order: what expect_mmap and expect_start list."""
    return [st.bars[b].index for b in bars_of(layout, decl)]


def _mmap_flags(st: Structure, layout: Layout, decl: EventDecl, seen: StepObservation,
                state: State) -> list[Difference]:
    found = []
    for b in bars_of(layout, decl):
        index = st.bars[b].index
        kernel = seen.mmap_flags.get(index)
        model = bool(state.mmap_ok[b])
        if kernel != model:
            found.append(Difference(f"MMAP flag of BAR{index}", _flag(kernel), _flag(model)))
    return found


def _starts(st: Structure, layout: Layout, decl: EventDecl, seen: StepObservation,
            state: State) -> list[Difference]:
    found = []
    bars = seen.appeared.memory_bars() if seen.appeared else {}
    for b in bars_of(layout, decl):
        index = st.bars[b].index
        kernel = bars.get(index)
        kernel_text = f"{kernel.first:#x}-{kernel.last:#x}" if kernel else "unassigned"
        model_text = (f"{state.start[b]:#x}-{state.start[b] + state.size[b] - 1:#x}" if state.assigned[b]
                      else "unassigned")
        if kernel_text != model_text:
            found.append(Difference(f"BAR{index} assigned at", kernel_text, model_text))
    return found


def _expectations(decl: EventDecl, seen: StepObservation, indices: list[int]) -> list[Mismatch]:
    found = []
    if decl.expect_mmap is not None and seen.ok and decl.kind is EventKind.OPEN:
        kernel = tuple(seen.mmap_flags.get(i) for i in indices)
        if kernel != decl.expect_mmap:
            found.append(Mismatch("expect_mmap", str(list(decl.expect_mmap)), str(list(kernel))))
    if decl.expect_start is not None and decl.kind is EventKind.HOT_ADD:
        bars = seen.appeared.memory_bars() if seen.appeared else {}
        kernel_starts = tuple(bars[i].first if i in bars else None for i in indices)
        if kernel_starts != decl.expect_start:
            found.append(Mismatch("expect_start", starts_text(decl.expect_start), starts_text(kernel_starts)))
    if decl.expect_reserved is not None and tuple(sorted(seen.reserved)) != decl.expect_reserved:
        found.append(Mismatch("expect_reserved", _ranges(list(decl.expect_reserved)), _ranges(sorted(seen.reserved))))
    return found


def _kernel_text(seen: StepObservation) -> str:
    parts = ["done" if seen.ok else f"refused ({seen.error})"]
    if seen.mmap_flags:
        parts.append("MMAP " + ", ".join(f"BAR{i}={int(v)}" for i, v in sorted(seen.mmap_flags.items())))
    if seen.appeared:
        parts.append("assigned " + ", ".join(f"BAR{i} {r.first:#x}-{r.last:#x}"
                                             for i, r in sorted(seen.appeared.memory_bars().items())))
    parts.append("reserved " + _ranges(sorted(seen.reserved)))
    return "; ".join(parts)


def _flag(value: bool | None) -> str:
    return "absent" if value is None else ("set" if value else "clear")


def _ranges(pairs: list[tuple[int, int]]) -> str:
    return ", ".join(f"{a:#x}-{b:#x}" for a, b in pairs) if pairs else "none"

