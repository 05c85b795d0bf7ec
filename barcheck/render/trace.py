"""Trace counterexamples as numbered steps in domain words (text, Markdown and JSON)."""

from __future__ import annotations

from typing import Any

from barcheck.engine.describe import bar_text, clause_text, describe_step
from model.policies import BUILTIN
from model.simulate import Taken


def _boot_text(tcx) -> str:
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


def trace_lines(tcx, policy_name: str) -> list[str]:
    policy = BUILTIN.get(policy_name)
    lines = [f"0. {_boot_text(tcx)}"]
    for step in tcx.steps:
        taken = Taken(step.event, True, step.before, step.after)
        lines.append(f"{step.number}. {describe_step(tcx.structure, taken, policy)}")
    lines.append(f"violated: {tcx.property_id} at {clause_text(tcx.structure, tcx.violated)}: {tcx.property_title}")
    return lines


def trace_doc(tcx, policy_name: str) -> dict[str, Any]:
    st = tcx.structure
    s0 = tcx.initial
    return {
        "replayed": True,
        "placement": tcx.placement,
        "property": tcx.property_id,
        "violated": clause_text(st, tcx.violated),
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
        "steps": [{"number": n, "text": text} for n, text in
                  enumerate((line.split(". ", 1)[1] for line in trace_lines(tcx, policy_name)[1:-1]), start=1)],
    }
