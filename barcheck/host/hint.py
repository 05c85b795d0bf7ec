"""The smallest `pci=resource_alignment=` entry that makes a BAR mmappable, checked on the model.

Kernel facts (drivers/pci/pci.c, 6952350/linux-6.18.y @929249a1026b, as in
model/policies/alignment.py): an entry `[<order>@]<domain>:<bus>:<dev>.<fn>` that names the
device makes pci_specified_resource_alignment() return `1 << order` (PAGE_SHIFT without an
order) with `*resize = true`, so pci_request_resource_alignment() grows every MEM BAR smaller
than that to `[0, align - 1]` and the PCI core assigns it again at a multiple of `align`.

The check runs the model on the realigned resource (model/realign.py with the policy's
`+resource_alignment=SIZE` configuration): an order is accepted only when the BAR is
mmappable, and the mapping isolated, wherever the PCI core may place it.  For an order whose
alignment is at least the page size, the grown resource is a whole number of pages, so the
size >= PAGE_SIZE rule applies at every placement (the catalogue proves
mmap.subpage-available for linux-4.8+resource_alignment); the check places it at the free
aligned slot of its parent nearest its old start and runs the probe and the isolation check there.  A smaller
order leaves a sub-page resource whose mmappability depends on where it lands; it is rejected
with a placement that is not mmappable.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Callable

from barcheck.host.intervals import IntervalIndex
from barcheck.host.probe import OPS, mmap_window, probe, probe_near, to_model_bar
from barcheck.host.space import Carving, free_gaps, nearest_free_slots, parent_range
from barcheck.host.tree import BAR, Node, Scope, Tree
from model.policies import Policy, get_policy
from model.ranges import Range
from model.realign import realign
from model.resource_tree import Child, request_resource
from model.units import size_name


@dataclass(frozen=True, slots=True)
class Hint:
    parameter: str | None
    """`pci=resource_alignment=ORDER@DDDD:BB:DD.F`, or None when no entry was found to work."""
    order: int | None
    placed_at: int | None
    """Where the check placed the grown resource (the free aligned slot of its parent nearest its old start)."""
    policy: str
    reason: str


def resource_alignment_hint(tree: Tree, node: Node, page_bytes: int, policy_name: str) -> Hint:
    """The smallest order that works; the reason names the order rejected just before it.

    An order that leaves the BAR sub-page is always rejected (see _try_order()), so its reason is
    worked out only when it is the one the answer names."""
    size = node.dump_bar.size_bytes
    page_order = page_bytes.bit_length() - 1
    rejected: Callable[[], Hint] | None = None
    for order in range(size.bit_length(), page_order + 1):
        attempt = partial(_try_order, tree, node, page_bytes, policy_name, order)
        if _grown_bytes(tree, node, page_bytes, policy_name, order) < page_bytes:
            rejected = attempt
            continue
        hint = attempt()
        if hint.parameter is not None:
            return Hint(hint.parameter, hint.order, hint.placed_at, hint.policy,
                        hint.reason + (f"; {rejected().reason}" if rejected else ""))
        rejected = partial(_same, hint)
    return Hint(None, None, None, policy_name, rejected().reason if rejected else "no alignment order to try")


def _same(hint: Hint) -> Hint:
    return hint


def nearest_slots(tree: Tree, node: Node, size_bytes: int, align_bytes: int, count: int = 4) -> list[int]:
    """Free aligned slots of the parent for a resource of this size, nearest the BAR's own start first."""
    return nearest_free_slots(tree, node, size_bytes, align_bytes, count)


def _grown_bytes(tree: Tree, node: Node, page_bytes: int, policy_name: str, order: int) -> int:
    """The size of the BAR's resource under `resource_alignment=` of this order (it does not depend on the start)."""
    bar = to_model_bar(node)
    key = ("grown", policy_name, order, page_bytes, bar.index, bar.kind, bar.prefetchable, bar.size_bytes)
    if key not in tree.memo:
        policy = _aligned_policy(tree, policy_name, 1 << order)
        tree.memo[key] = realign(OPS, policy.pci_core, bar, True, page_bytes).resource.size_bytes
    return tree.memo[key]


def _try_order(tree: Tree, node: Node, page_bytes: int, policy_name: str, order: int) -> Hint:
    align = 1 << order
    policy = _aligned_policy(tree, policy_name, align)
    grown = replace(to_model_bar(node), size_bytes=_grown_bytes(tree, node, page_bytes, policy_name, order))
    slots = nearest_slots(tree, node, grown.size_bytes, align)
    if not slots:
        first, last = parent_range(tree, node)
        return _no(policy_name, f"order {order} does not fit: no free {size_name(grown.size_bytes)} slot at "
                                f"{size_name(align)} alignment in the parent [{first:#x}-{last:#x}]; the bridge "
                                f"window would have to grow (pci=realloc)")
    for slot in slots:
        placed = to_model_bar(node, slot, grown.size_bytes)
        outcome = probe(policy, tree, node, page_bytes, placed)
        if not outcome.mmappable:
            return _no(policy_name, f"order {order} is not enough: the BAR becomes {size_name(grown.size_bytes)}, "
                                    f"and placed at {slot:#x} it is not mmappable")
        window = mmap_window(policy, placed, page_bytes, tree.memo)
        if not outcome.dummy_held and (window.first < slot or window.last > slot + grown.size_bytes - 1):
            return _no(policy_name, f"order {order} is not enough: placed at {slot:#x} the mapping reaches past "
                                    f"the BAR")
    if grown.size_bytes < page_bytes:
        return _no(policy_name, f"order {order} leaves a sub-page BAR whose mmappability depends on where it lands")
    return Hint(f"pci=resource_alignment={order}@{node.name}", order, slots[0], policy_name,
                f"the BAR grows to {size_name(grown.size_bytes)}; placed at {slots[0]:#x}, the nearest free aligned "
                f"slot, it is mmappable and its mapping is the BAR alone")


def _aligned_policy(tree: Tree, policy_name: str, align_bytes: int) -> Policy:
    """The policy under `+resource_alignment=`, built once per analysis."""
    name = f"{policy_name}+resource_alignment={size_name(align_bytes)}"
    if ("policy", name) not in tree.memo:
        tree.memo[("policy", name)] = get_policy(name)
    return tree.memo[("policy", name)]


def _no(policy_name: str, reason: str) -> Hint:
    return Hint(None, None, None, policy_name, reason)


@dataclass(frozen=True, slots=True)
class JointCheck:
    parameter: str | None
    placements: tuple[tuple[str, int, int], ...]
    """(BAR label, new start, new size) for every BAR the parameter grows."""
    reason: str


def joint_check(tree: Tree, hinted: list[Node], page_bytes: int, policy_name: str) -> JointCheck:
    """Check one parameter naming every hinted device at once: all their small BARs grow and move together."""
    devices = sorted({node.name for node in hinted})
    if not devices:
        return JointCheck(None, (), "no device needs a parameter")
    order = page_bytes.bit_length() - 1
    policy = _aligned_policy(tree, policy_name, page_bytes)
    named = set(devices)
    moved = [n for n in tree.nodes if n.role == BAR and n.name in named and n.dump_bar.is_memory
             and (n.dump_bar.index is None or n.dump_bar.index < 6) and n.dump_bar.size_bytes < page_bytes]
    stays = _stays(tree, {n.key for n in moved})
    placed, failure = _place(tree, moved, stays, page_bytes)
    if failure:
        return JointCheck(None, (), failure)
    failure = _verify(tree, moved, stays, placed, policy, page_bytes)
    if failure:
        return JointCheck(None, (), failure)
    entries = ";".join(f"{order}@{device}" for device in devices)
    placements = tuple(sorted((node.label, placed[node.key].first, page_bytes) for node in moved))
    return JointCheck(f"pci=resource_alignment={entries}", placements,
                      f"all {len(moved)} BAR(s) of the named devices smaller than {size_name(page_bytes)} grow to it "
                      f"and are placed together at the nearest free aligned slots; each is then mmappable")


def _stays(tree: Tree, moved_keys: set[int]) -> dict[Scope, list[Node]]:
    """Per parent, the direct children that stay where they are."""
    return {scope: [tree.nodes[k] for k in keys if k not in moved_keys] for scope, keys in tree.children.items()}


def _place(tree: Tree, moved: list[Node], stays: dict[Scope, list[Node]],
           page_bytes: int) -> tuple[dict[int, Node], str | None]:
    """Each moved BAR, by start, at the nearest free page of its parent once the moved ones left."""
    carvings: dict[Scope, Carving] = {}
    placed: dict[int, Node] = {}
    for node in sorted(moved, key=lambda n: (n.first, n.key)):
        scope = tree.scope(node.key)
        if scope not in carvings:
            carvings[scope] = Carving(free_gaps(*parent_range(tree, node), stays[scope]))
        slot = carvings[scope].nearest_slot(node.first, page_bytes, page_bytes)
        if slot is None:
            return placed, (f"{node.label} does not fit once grown to {size_name(page_bytes)}: "
                            f"the bridge window would have to grow (pci=realloc)")
        carvings[scope].take(slot, slot + page_bytes - 1)
        placed[node.key] = replace(node, first=slot, last=slot + page_bytes - 1)
    return placed, None


def _verify(tree: Tree, moved: list[Node], stays: dict[Scope, list[Node]], placed: dict[int, Node], policy: Policy,
            page_bytes: int) -> str | None:
    """Each moved BAR at its new place, among what stays and the other moved BARs: mmappable, and its
    resource fits (request_resource() succeeds)."""
    arrived: dict[Scope, list[Node]] = {}
    for key, here in placed.items():
        arrived.setdefault(tree.scope(key), []).append(here)
    after = {scope: IntervalIndex(stays[scope] + nodes) for scope, nodes in arrived.items()}
    for node in moved:
        index, here = after[tree.scope(node.key)], placed[node.key]
        parent = parent_range(tree, node)
        children_in = partial(_others_in, index, node.key)
        outcome = probe_near(policy, page_bytes, to_model_bar(node, here.first, page_bytes), parent,
                             children_in, partial(_others_in, index, node.key, None, None), tree.memo)
        near = children_in(here.first, here.last)
        fits = request_resource(OPS, Range(*parent), tuple(Child(Range(*c), True) for c in near),
                                Range(here.first, here.last))
        if not (outcome.mmappable and fits):
            return f"{node.label} placed at {here.first:#x} is not mmappable"
    return None


def _others_in(index: IntervalIndex[Node], key: int, first: int | None, last: int | None) -> list[tuple[int, int]]:
    """The spans of the indexed nodes other than `key` that overlap [first, last] (all of them for None)."""
    nodes = index.items if first is None or last is None else index.overlapping(first, last)
    return [(n.first, n.last) for n in nodes if n.key != key]
