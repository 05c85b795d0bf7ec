"""The core properties of the vfio-pci BAR mmap rule."""

from __future__ import annotations

from typing import Any

from model.ops import Ops
from model.pci import BarKind
from model.policies import Policy
from model.ranges import contains, is_nonempty, overlaps, within_union
from model.scenario import Origin, PairScenario, Relation, Shape
from model.units import size_name
from properties.registry import Evaluation, Property, register
from properties.situation import Situation, later_request, outcome_facts, situate, world_assumptions

PAIRWISE_SCOPE = (
    "Unbounded over the whole {width}-bit physical address space: every BAR (index, kind, "
    "prefetchable flag, start and size symbolic, subject to the PCI rules), every parent window, "
    "and one arbitrary foreign resource in every relation to the parent (existing sibling, later "
    "sibling, outside the parent). Pairwise argument: the claim is a conjunction over foreign "
    "resources, and each conjunct involves one of them; further resources only add "
    "request_resource() conflicts, which can turn an mmappable BAR into an unmappable one but "
    "never the reverse (the built-in policies' decisions are anti-monotone in the parent's "
    "children), so one arbitrary foreign resource covers any number of other devices."
)


def _bar_text(sc: PairScenario) -> str:
    last = sc.bar_start + sc.bar_size - 1
    return f"{BarKind(sc.bar_kind).label} BAR {sc.bar_index} [{sc.bar_start:#x}-{last:#x}]"


def _page_text(sc: PairScenario) -> str:
    return f"{size_name(sc.page_bytes)} pages"


def _about_mmappable(ops: Ops, sc: PairScenario, sit: Situation, shape: Shape, holds, extra_facts=(),
                     antecedent=None) -> Evaluation:
    """An evaluation whose antecedent is "the probe made the BAR mmappable" unless another is given."""
    return Evaluation(
        assumptions=tuple(world_assumptions(ops, sc, sit, shape)),
        antecedent=sit.first.mmappable if antecedent is None else antecedent,
        holds=holds,
        facts=tuple(outcome_facts(sit)) + tuple(extra_facts),
    )


def _isolation_evaluate(ops: Ops, sc: PairScenario, policy: Policy, shape: Shape) -> Evaluation:
    sit = situate(ops, sc, policy)
    leak = ops.all_of(is_nonempty(ops, sit.window), overlaps(ops, sit.window, sit.foreign))
    may_map = sit.may_map(ops)
    return _about_mmappable(ops, sc, sit, shape, ops.implies(may_map, ops.negate(leak)), antecedent=may_map)


def _fixed_note(sc: PairScenario) -> str:
    if sc.bar_origin != Origin.FIXED:
        return ""
    return (" The BAR is an Enhanced Allocation entry, which need not be naturally aligned, and the "
            "size >= PAGE_SIZE rule of vfio_pci_probe_mmaps() has no alignment check: vma_to_pfn() truncates "
            "the start to its page and PAGE_ALIGN() rounds the length up.")


def _isolation_explain(sc: PairScenario, facts: dict[str, Any], policy_name: str) -> str:
    return (
        f"Under {policy_name} at {_page_text(sc)}, {_bar_text(sc)} is mmappable and its mmap window "
        f"[{facts['window_start']:#x}-{facts['window_end']:#x}] reaches the foreign resource "
        f"[{sc.foreign_first:#x}-{sc.foreign_last:#x}] ({Relation(sc.foreign_relation).label}), "
        f"breaking the rule that vfio_pci_core_mmap() may only expose PAGE_ALIGN(size) bytes the "
        f"device owns or has reserved." + _fixed_note(sc)
    )


ISOLATION_WINDOW = register(Property(
    id="isolation.window",
    title="No byte of a resource the device does not own lies in the mmap window of a BAR userspace may map",
    statement=(
        "For every BAR the policy marks mmappable (bar_mmap_supported[] in vfio_pci_probe_mmaps()), "
        "the physical window vfio_pci_core_mmap() lets userspace reach, PAGE_ALIGN(size) bytes from "
        "the page holding the BAR start, contains no byte of another device's BAR or of anything "
        "else that decodes addresses."
    ),
    scope=PAIRWISE_SCOPE,
    evaluate=_isolation_evaluate,
    explain=_isolation_explain,
))


def _within_evaluate(ops: Ops, sc: PairScenario, policy: Policy, shape: Shape) -> Evaluation:
    sit = situate(ops, sc, policy)
    empty = ops.negate(is_nonempty(ops, sit.window))
    inside = ops.any_of(empty, within_union(ops, sit.window, sit.bar.range(ops), sit.mapped.dummy_held,
                                            sit.mapped.dummy))
    may_map = sit.may_map(ops)
    return _about_mmappable(ops, sc, sit, shape, ops.implies(may_map, inside), antecedent=may_map)


def _first_uncovered(sc: PairScenario, facts: dict[str, Any]) -> int:
    bar_last = sc.bar_start + sc.bar_size - 1
    for address in (facts["window_start"], facts["window_end"], bar_last + 1, sc.bar_start - 1,
                    facts["dummy_end"] + 1, facts["dummy_start"] - 1):
        in_window = facts["window_start"] <= address <= facts["window_end"]
        in_bar = sc.bar_start <= address <= bar_last
        in_dummy = facts["dummy_held"] and facts["dummy_start"] <= address <= facts["dummy_end"]
        if in_window and not in_bar and not in_dummy:
            return address
    return facts["window_start"]


def _within_explain(sc: PairScenario, facts: dict[str, Any], policy_name: str) -> str:
    dummy = (f"outside the dummy [{facts['dummy_start']:#x}-{facts['dummy_end']:#x}]" if facts["dummy_held"]
             else "no dummy is held")
    return (
        f"Under {policy_name} at {_page_text(sc)}, {_bar_text(sc)} is mmappable with window "
        f"[{facts['window_start']:#x}-{facts['window_end']:#x}], but byte "
        f"{_first_uncovered(sc, facts):#x} of it is outside the BAR and {dummy}: "
        f"vfio_pci_probe_mmaps() granted a mapping of bytes it did not reserve." + _fixed_note(sc)
    )


WINDOW_WITHIN = register(Property(
    id="mmap.window-within-bar-or-dummy",
    title="Every byte of an mmappable BAR's window is the BAR itself or its held dummy reservation",
    statement=(
        "For every BAR the policy marks mmappable, each byte of the window vfio_pci_core_mmap() "
        "exposes (PAGE_ALIGN(size) bytes from the page holding the BAR start) lies in the BAR or in "
        "the \"vfio sub-page reserved\" resource vfio_pci_probe_mmaps() holds for it."
    ),
    scope=PAIRWISE_SCOPE,
    evaluate=_within_evaluate,
    explain=_within_explain,
))


def _covers_evaluate(ops: Ops, sc: PairScenario, policy: Policy, shape: Shape) -> Evaluation:
    sit = situate(ops, sc, policy)
    covers = ops.all_of(is_nonempty(ops, sit.window), contains(ops, sit.window, sit.bar.range(ops)))
    return _about_mmappable(ops, sc, sit, shape, ops.implies(sit.first.mmappable, covers))


def _covers_explain(sc: PairScenario, facts: dict[str, Any], policy_name: str) -> str:
    window = (f"[{facts['window_start']:#x}-{facts['window_end']:#x}]"
              if facts["window_start"] <= facts["window_end"] else "no byte at all (an empty window)")
    return (
        f"Under {policy_name} at {_page_text(sc)}, {_bar_text(sc)} is reported mmappable "
        f"(VFIO_REGION_INFO_FLAG_MMAP), but the largest mmap vfio_pci_core_mmap() then allows reaches "
        f"{window}, which does not hold every byte of the BAR: userspace told it may map the region "
        f"cannot map all of it, or maps it at the wrong place." + _fixed_note(sc)
    )


WINDOW_COVERS = register(Property(
    id="mmap.window-covers-bar",
    title="The mmap window of a BAR the probe marks mmappable holds the whole BAR",
    statement=(
        "For every BAR the policy marks mmappable, the window vfio_pci_core_mmap() lets userspace "
        "map (PAGE_ALIGN(size) bytes from the page holding the BAR start, checked against "
        "`req_start + req_len > phys_len`) is non-empty and holds every byte of the BAR, so the "
        "VFIO_REGION_INFO_FLAG_MMAP that vfio_pci_probe_mmaps() grants can be used for the whole "
        "region at its true address."
    ),
    scope=PAIRWISE_SCOPE,
    evaluate=_covers_evaluate,
    explain=_covers_explain,
))


def _idempotent_evaluate(ops: Ops, sc: PairScenario, policy: Policy, shape: Shape) -> Evaluation:
    sit = situate(ops, sc, policy)
    again = policy.query(ops, later_request(ops, sc, sit), sit.first)
    return _about_mmappable(ops, sc, sit, shape, ops.flag_eq(again, sit.first.mmappable), [("asked_again", again)])


def _idempotent_explain(sc: PairScenario, facts: dict[str, Any], policy_name: str) -> str:
    answers = f"first {'yes' if facts['mmappable'] else 'no'}, then {'yes' if facts['asked_again'] else 'no'}"
    return (
        f"Under {policy_name} at {_page_text(sc)}, asking twice whether {_bar_text(sc)} may be "
        f"mmapped gives different answers ({answers}): the check requests the dummy "
        f"[{facts['dummy_start']:#x}-{facts['dummy_end']:#x}] as a side effect, and the second "
        f"request_resource() conflicts with the first."
    )


PROBE_IDEMPOTENT = register(Property(
    id="probe.idempotent",
    title="Asking again whether a BAR may be mmapped gives the answer the probe gave",
    statement=(
        "The mmappability of a BAR, once decided at enable time (vfio_pci_probe_mmaps() filling "
        "bar_mmap_supported[]), is what every later VFIO_DEVICE_GET_REGION_INFO and mmap sees; a "
        "check that reserves as a side effect (the v3 per-BAR function) must not change its answer "
        "when asked again. Alex Williamson's v3 review: \"If we were to call this a second time, we "
        "might get a different result.\""
    ),
    scope=PAIRWISE_SCOPE,
    evaluate=_idempotent_evaluate,
    explain=_idempotent_explain,
))
