"""Properties of the alignment configurations: sub-page BARs made mmappable, and kept aligned."""

from __future__ import annotations

from typing import Any

from model.ops import Ops
from model.pci import BarKind, is_standard_slot, kind_is
from model.policies import Policy
from model.ranges import is_aligned
from model.scenario import Origin, PairScenario, Relation, Shape
from model.units import size_name
from properties.core import PAIRWISE_SCOPE, _bar_text, _page_text
from properties.registry import Evaluation, Property, register
from properties.situation import outcome_facts, realloc_assumption, situate, world_assumptions

CONFIG_SCOPE = (
    PAIRWISE_SCOPE + " The BAR and the foreign resource each have an origin (ordinary function, SR-IOV VF, "
    "host bridge, Enhanced Allocation fixed BAR, or for the foreign resource any non-PCI decoder), and "
    "the policy's alignment configuration is applied to the BAR's resource and to every other ordinary "
    "function's BARs."
)


def _subpage_evaluate(ops: Ops, sc: PairScenario, policy: Policy, shape: Shape) -> Evaluation:
    sit = situate(ops, sc, policy)
    bar = sc.bar()
    subpage = ops.all_of(is_standard_slot(ops, bar), kind_is(ops, bar, BarKind.MEM32, BarKind.MEM64),
                         ops.ult(bar.size_bytes, sc.page_bytes))
    return Evaluation(
        assumptions=tuple(world_assumptions(ops, sc, sit, shape)),
        antecedent=subpage,
        holds=ops.implies(subpage, sit.may_map(ops)),
        facts=tuple(outcome_facts(sit)),
    )


def _why_not_mmappable(sc: PairScenario, facts: dict[str, Any]) -> str:
    if facts["resource_size"] >= sc.page_bytes:
        return "vfio_pci_probe_mmaps() refused it"
    if sc.bar_start % sc.page_bytes:
        return ("its start is not page-aligned, so vfio_pci_probe_mmaps() does not even try to reserve "
                "the rest of the page")
    foreign = f"[{sc.foreign_first:#x}-{sc.foreign_last:#x}] of {Origin(sc.foreign_origin).phrase}"
    if sc.foreign_relation == Relation.EXISTING_SIBLING and sc.foreign_first <= facts["dummy_end"] \
            and sc.foreign_last >= facts["dummy_start"]:
        why = ("nothing keeps other resources out of the rest of the page" if not facts["requested_align"]
               else "the alignment configuration only aligns the starts of the BARs it realigns, and "
                    "pci_reassigndev_resource_alignment() does not realign this one")
        return (f"the dummy [{facts['dummy_start']:#x}-{facts['dummy_end']:#x}] cannot be reserved because "
                f"request_resource() conflicts with the resource {foreign} in the rest of the page; {why}")
    return "the dummy reservation failed"


def _subpage_explain(sc: PairScenario, facts: dict[str, Any], policy_name: str) -> str:
    return (
        f"Under {policy_name} at {_page_text(sc)}, {_bar_text(sc)} of {Origin(sc.bar_origin).phrase} is "
        f"smaller than a page but not mmappable: {_why_not_mmappable(sc, facts)}. Guest accesses to it are "
        f"trapped and emulated."
    )


SUBPAGE_AVAILABLE = register(Property(
    id="mmap.subpage-available",
    title="Every sub-page memory BAR is mmappable (completeness: the performance goal of the seeds)",
    statement=(
        "For every memory BAR in BAR0-5 whose hardware size is below PAGE_SIZE, vfio_pci_probe_mmaps() "
        "marks it mmappable: either the PCI core gave its resource a whole page (pci=resource_alignment=, "
        "quirk_extend_bar_to_page), or it starts on a page and the \"vfio sub-page reserved\" dummy for the "
        "rest of the page can be requested. A completeness property, not a safety one: a counterexample "
        "means slow trapped access, not a leak."
    ),
    scope=CONFIG_SCOPE,
    evaluate=_subpage_evaluate,
    explain=_subpage_explain,
))


def _realloc_evaluate(ops: Ops, sc: PairScenario, policy: Policy, shape: Shape) -> Evaluation:
    sit = situate(ops, sc, policy)
    requested = sit.realigned.requested_align
    asked = ops.ne(requested, ops.const(0))
    reassigned = ops.ne(sit.realigned.realloc_align, ops.const(0))
    kept = ops.all_of(reassigned, is_aligned(ops, sc.realloc_start, requested))
    assumptions = world_assumptions(ops, sc, sit, shape) + [realloc_assumption(ops, sc, sit)]
    return Evaluation(
        assumptions=tuple(assumptions),
        antecedent=asked,
        holds=ops.implies(asked, kept),
        facts=tuple(outcome_facts(sit)) + (("realloc_align", sit.realigned.realloc_align),
                                           ("startalign", sit.realigned.startalign)),
    )


def _realloc_explain(sc: PairScenario, facts: dict[str, Any], policy_name: str) -> str:
    wanted = size_name(facts["requested_align"])
    if not facts["realloc_align"]:
        lost = ("after the bridge window is released, release_child_resources() resets the resource to "
                "[0, size-1]; pci_assign_resource() had already cleared IORESOURCE_STARTALIGN (and "
                "pci_request_resource_alignment() IORESOURCE_SIZEALIGN), so resource_alignment() is 0 "
                "(\"bogus alignment\") and the BAR is not reassigned at all")
    else:
        lost = (f"after the bridge window is released it is reassigned at {sc.realloc_start:#x}, aligned only "
                f"to {size_name(facts['realloc_align'])}")
    return (f"Under {policy_name} at {_page_text(sc)}, {_bar_text(sc)} was placed on a {wanted} boundary as "
            f"the configuration requested, but {lost}: the requested alignment is lost.")


PRESERVED_ACROSS_REALLOC = register(Property(
    id="alignment.preserved-across-realloc",
    title="A BAR the configuration realigned keeps its alignment when its bridge window is released and "
          "the BAR reassigned",
    statement=(
        "For every BAR the alignment configuration realigned (resize, IORESOURCE_STARTALIGN or "
        "quirk_extend_bar_to_page), reassignment after release_child_resources() (pci=realloc, hot-plug "
        "re-sizing a bridge window) places it again at a multiple of the requested alignment. Stewart "
        "Hildebrand, \"PCI: Restore resource alignment\" (2024): \"Devices with alignment specified will "
        "lose their alignment in cases when the bridge resources have been released\"."
    ),
    scope=CONFIG_SCOPE + " The reassigned start is any address the allocator may choose at the resource's "
                         "remaining alignment.",
    evaluate=_realloc_evaluate,
    explain=_realloc_explain,
))
