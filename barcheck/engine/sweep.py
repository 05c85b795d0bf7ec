"""Page-size sweeps: where, along increasing page sizes, a verdict changes."""

from __future__ import annotations

import builtins

from dataclasses import dataclass
from typing import Any, Iterable

from barcheck.engine.verdict import Result
from model.units import size_name


@dataclass(frozen=True, slots=True)
class Change:
    page_size: int
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class Sweep:
    property: str
    kind: str
    policy: str
    page_sizes: tuple[int, ...]
    first: str
    """The verdict at the smallest page size."""
    changes: tuple[Change, ...]
    """Every page size whose verdict differs from the next smaller one's, in order."""

    @builtins.property
    def flips_at(self) -> int | None:
        """The smallest page size at which the verdict flips, or None."""
        return self.changes[0].page_size if self.changes else None


def sweeps(results: Iterable[Result], kind_of) -> list[Sweep]:
    """One sweep per (property, kind, policy) checked at two or more page sizes, sorted."""
    groups: dict[tuple[str, str, str], list[Result]] = {}
    for r in results:
        groups.setdefault((r.property, kind_of(r), r.policy), []).append(r)
    found = []
    for (prop, kind, policy), group in sorted(groups.items()):
        ordered = sorted(group, key=lambda r: r.page_size)
        if len(ordered) < 2:
            continue
        changes = tuple(Change(b.page_size, a.verdict.value, b.verdict.value)
                        for a, b in zip(ordered, ordered[1:]) if a.verdict is not b.verdict)
        found.append(Sweep(prop, kind, policy, tuple(r.page_size for r in ordered), ordered[0].verdict.value,
                           changes))
    return found


def span_text(pages: tuple[int, ...]) -> str:
    return f"{size_name(pages[0])}..{size_name(pages[-1])}"


def sweep_sentence(s: Sweep) -> str:
    if not s.changes:
        return f"{s.first} at every page size in {span_text(s.page_sizes)} ({len(s.page_sizes)} sizes)"
    steps = "; ".join(f"{c.after} from {size_name(c.page_size)}" for c in s.changes)
    return f"flips at {size_name(s.changes[0].page_size)}: {s.first} below it; {steps}"


def sweep_doc(s: Sweep) -> dict[str, Any]:
    return {"property": s.property, "kind": s.kind, "policy": s.policy,
            "page_sizes": list(s.page_sizes), "first_verdict": s.first,
            "flips_at": s.flips_at,
            "changes": [{"page_size": c.page_size, "from": c.before, "to": c.after} for c in s.changes]}
