"""Replayed resource-tree traces: the boot layout and numbered steps in domain words, as text and JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from barcheck.engine.describe import bar_text, clause_text, describe_step
from model.events import Event
from model.policies import BUILTIN
from model.simulate import Taken
from model.system import State, Structure


@dataclass(frozen=True, slots=True)
class TraceStep:
    number: int
    event: Event
    before: State
    after: State


@dataclass(frozen=True, slots=True)
class TraceCounterexample:
    structure: Structure
    initial: State
    steps: tuple[TraceStep, ...]
    violated: str
    """The failing clause, e.g. `bar:0/bar:1`."""
    placement: str
    choices: tuple[tuple[int, ...], ...] = field(default_factory=tuple)
    property_id: str = ""
    property_title: str = ""
    policy: str = ""
    """The policy's name; the steps of a built-in policy name what its rules decided."""

    def lines(self) -> list[str]:
        policy = BUILTIN.get(self.policy)
        lines = [f"0. {_boot_text(self)}"]
        for step in self.steps:
            taken = Taken(step.event, True, step.before, step.after)
            lines.append(f"{step.number}. {describe_step(self.structure, taken, policy)}")
        lines.append(f"violated: {self.property_id} at {self.summary_clause()}: {self.property_title}")
        return lines

    def summary_clause(self) -> str:
        return clause_text(self.structure, self.violated)

    def summary(self) -> str:
        count = len(self.steps)
        return f"after {count} event{'s' if count != 1 else ''} the trace ends with {self.summary_clause()}"

    def doc(self) -> dict[str, Any]:
        st, s0 = self.structure, self.initial
        return {
            "replayed": True,
            "placement": self.placement,
            "property": self.property_id,
            "violated": self.summary_clause(),
            "page_size": hex(s0.page_bytes),
            "boot": {
                "windows": [{"name": spec.name, "start": hex(s0.window[w].first), "end": hex(s0.window[w].last)}
                            for w, spec in enumerate(st.windows)],
                "fixed": [{"name": spec.name, "start": hex(s0.fixed[f].first), "end": hex(s0.fixed[f].last)}
                          for f, spec in enumerate(st.fixed)],
                "bars": [{"device": st.devices[st.device_of(b)].name, "index": st.bars[b].index,
                          "present": bool(s0.present[st.device_of(b)]), "assigned": bool(s0.assigned[b]),
                          "start": hex(s0.start[b]), "size": hex(s0.size[b])} for b in range(len(st.bars))],
            },
            "steps": [{"number": n, "text": line.split(". ", 1)[1]}
                      for n, line in enumerate(self.lines()[1:-1], start=1)],
        }


def _boot_text(tcx: TraceCounterexample) -> str:
    st, s0 = tcx.structure, tcx.initial
    windows = [f"{spec.name} [{s0.window[w].first:#x}-{s0.window[w].last:#x}]" for w, spec in enumerate(st.windows)]
    fixed = [f"{spec.name} [{s0.fixed[f].first:#x}-{s0.fixed[f].last:#x}]" for f, spec in enumerate(st.fixed)]
    bars = []
    for b in range(len(st.bars)):
        if s0.present[st.device_of(b)]:
            bars.append(bar_text(st, s0, b))
        else:
            bars.append(f"{st.label(b)} not present yet (size {s0.size[b]:#x})")
    return "boot: " + "; ".join(windows + fixed + bars)
