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

from dataclasses import dataclass

from barcheck.hostcheck.probe import OPS, probe, probe_among, to_model_bar
from barcheck.hostcheck.space import first_slots, free_gaps, parent_range
from barcheck.hostcheck.tree import BAR, Node, Tree
from model.policies import get_policy
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
    size = node.bar.size_bytes
    page_order = page_bytes.bit_length() - 1
    rejected: list[str] = []
    for order in range(size.bit_length(), page_order + 1):
        hint = _try_order(tree, node, page_bytes, policy_name, order)
        if hint.parameter is not None:
            return Hint(hint.parameter, hint.order, hint.placed_at, hint.policy,
                        hint.reason + (f"; {rejected[-1]}" if rejected else ""))
        rejected.append(hint.reason)
    return Hint(None, None, None, policy_name, rejected[-1] if rejected else "no alignment order to try")


def nearest_slots(tree: Tree, node: Node, size_bytes: int, align_bytes: int, count: int = 4) -> list[int]:
    """Free aligned slots of the parent for a resource of this size, nearest the BAR's own start first."""
    first, last = parent_range(tree, node)
    gaps = free_gaps(first, last, tree.siblings(node.key))
    slots = [slot for gap in gaps for slot in first_slots(gap, size_bytes, align_bytes)]
    home = node.first - node.first % align_bytes
    for gap in gaps:
        if gap[0] <= home <= gap[1]:
            slots += first_slots((home, gap[1]), size_bytes, align_bytes)
    return sorted(set(slots), key=lambda slot: (abs(slot - node.first), slot))[:count]


def _try_order(tree: Tree, node: Node, page_bytes: int, policy_name: str, order: int) -> Hint:
    align = 1 << order
    policy = get_policy(f"{policy_name}+resource_alignment={size_name(align)}")
    grown = realign(OPS, policy.pci_core, to_model_bar(node), True, page_bytes).resource
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
        window = policy.mmap_window(OPS, placed, page_bytes)
        if not outcome.dummy_held and (window.first < slot or window.last > slot + grown.size_bytes - 1):
            return _no(policy_name, f"order {order} is not enough: placed at {slot:#x} the mapping reaches past "
                                    f"the BAR")
    if grown.size_bytes < page_bytes:
        return _no(policy_name, f"order {order} leaves a sub-page BAR whose mmappability depends on where it lands")
    return Hint(f"pci=resource_alignment={order}@{node.name}", order, slots[0], policy_name,
                f"the BAR grows to {size_name(grown.size_bytes)}; placed at {slots[0]:#x}, the nearest free aligned "
                f"slot, it is mmappable and its mapping is the BAR alone")


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
    policy = get_policy(f"{policy_name}+resource_alignment={size_name(page_bytes)}")
    moved = [n for n in tree.nodes if n.role == BAR and n.name in devices and n.bar.is_memory
             and (n.bar.index is None or n.bar.index < 6) and n.bar.size_bytes < page_bytes]
    moved_keys = {n.key for n in moved}
    placed: dict[int, tuple[int, int]] = {}
    for node in sorted(moved, key=lambda n: (n.first, n.key)):
        first, last = parent_range(tree, node)
        taken = [Node(-1, BAR, "", lo, hi, 0) for lo, hi in _others_in_parent(tree, node, moved_keys, placed)]
        slots = sorted((s for gap in free_gaps(first, last, taken) for s in first_slots(gap, page_bytes, page_bytes)),
                       key=lambda s: (abs(s - node.first), s))
        if not slots:
            return JointCheck(None, (), f"{node.label} does not fit once grown to {size_name(page_bytes)}: "
                                        f"the bridge window would have to grow (pci=realloc)")
        placed[node.key] = (slots[0], slots[0] + page_bytes - 1)
    for node in moved:
        start, last = placed[node.key]
        parent = parent_range(tree, node)
        children = _others_in_parent(tree, node, moved_keys, placed)
        outcome = probe_among(policy, page_bytes, to_model_bar(node, start, page_bytes), parent, children)
        fits = request_resource(OPS, Range(*parent), tuple(Child(Range(*c), True) for c in children),
                                Range(start, last))
        if not (outcome.mmappable and fits):
            return JointCheck(None, (), f"{node.label} placed at {start:#x} is not mmappable")
    entries = ";".join(f"{order}@{device}" for device in devices)
    placements = tuple(sorted((node.label, placed[node.key][0], page_bytes) for node in moved))
    return JointCheck(f"pci=resource_alignment={entries}", placements,
                      f"all {len(moved)} BAR(s) of the named devices smaller than {size_name(page_bytes)} grow to it "
                      f"and are placed together at the nearest free aligned slots; each is then mmappable")


def _others_in_parent(tree: Tree, node: Node, moved_keys: set[int],
                      placed: dict[int, tuple[int, int]]) -> list[tuple[int, int]]:
    """What sits under the node's parent once the moved BARs left: the BARs that stay, and those already placed."""
    parent = tree.parent[node.key]
    stay = [(n.first, n.last) for n in tree.nodes if tree.parent.get(n.key) == parent and n.key not in moved_keys]
    return stay + [placed[k] for k in placed if k != node.key and tree.parent[k] == parent]
