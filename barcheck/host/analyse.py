"""Each memory BAR of a dump at each page size, under each policy.

The policy code is the model's (`Policy.probe()` and `Policy.mmap_window()`, evaluated with
ConcreteOps): the probe sees the BAR's parent in the dump's resource tree and the parent's
other direct children, as vfio_pci_probe_mmaps() sees res->parent.  "Isolated" is the
conjunction of the catalogue properties isolation.window and mmap.window-within-bar-or-dummy
on this layout: every byte of the mmap window is the BAR or its held dummy, and no other
resource of the dump lies in it.
"""

from __future__ import annotations

from dataclasses import dataclass

from barcheck.host.dump.model import DumpBar
from barcheck.host.hint import Hint, resource_alignment_hint
from barcheck.host.probe import OPS, probe, to_model_bar
from barcheck.host.space import MIN_BAR_BYTES, first_slots, free_gaps, parent_range
from barcheck.host.tree import BAR, OTHER, Node, Tree
from model.policies import Policy, get_policy
from model.ranges import Range


@dataclass(frozen=True, slots=True)
class PolicyView:
    mmappable: bool
    dummy: tuple[int, int] | None
    """The "vfio sub-page reserved" range the probe holds, if any."""
    window: tuple[int, int] | None
    """The bytes the largest permitted mmap reaches, when mmappable."""
    leaks: tuple[str, ...]
    """What in the window is neither the BAR nor its dummy: other resources, or free space."""

    @property
    def isolated(self) -> bool:
        return not self.leaks


@dataclass(frozen=True, slots=True)
class PageView:
    page_bytes: int
    subpage: bool
    aligned: bool
    shares_page_with: tuple[str, ...]
    shares_page_with_other: tuple[str, ...]
    hotplug_pages: tuple[int, ...]
    """Pages of the BAR with free space in its parent where a hot-added BAR could land."""
    policies: dict[str, PolicyView]
    hint: Hint | None


@dataclass(frozen=True, slots=True)
class BarView:
    node: Node
    parent: str | None
    pages: tuple[PageView, ...]

    @property
    def bar(self) -> DumpBar:
        return self.node.dump_bar


def analyse_bar(tree: Tree, node: Node, page_sizes: list[int], policies: list[Policy],
                hint_policy: str | None) -> BarView:
    parent = tree.node(tree.parent[node.key])
    views = tuple(_page_view(tree, node, page, policies, hint_policy) for page in page_sizes)
    return BarView(node, None if parent is None else parent.label, views)


def _page_view(tree: Tree, node: Node, page: int, policies: list[Policy], hint_policy: str | None) -> PageView:
    head_first = node.first - node.first % page
    tail_last = _round_up(node.last + 1, page) - 1
    neighbours = _neighbours(tree, node, head_first, tail_last)
    devices = sorted({n.name for n in neighbours if n.role == BAR and n.name != node.name})
    others = sorted({n.name for n in neighbours if n.role == OTHER})
    views = {policy.name: _policy_view(policy, tree, node, page) for policy in policies}
    hint = None
    if hint_policy is not None and not _mmappable_under(tree, node, page, hint_policy, views):
        hint = resource_alignment_hint(tree, node, page, hint_policy)
    return PageView(page, node.dump_bar.size_bytes < page, node.first % page == 0, tuple(devices), tuple(others),
                    _hotplug_pages(tree, node, page, head_first, tail_last), views, hint)


def _mmappable_under(tree: Tree, node: Node, page: int, name: str, views: dict[str, PolicyView]) -> bool:
    if name in views:
        return views[name].mmappable
    return _policy_view(get_policy(name), tree, node, page).mmappable


def _round_up(value: int, align: int) -> int:
    return -(-value // align) * align


def _neighbours(tree: Tree, node: Node, first: int, last: int) -> list[Node]:
    """Resources other than the BAR and its ancestors that have a byte in [first, last]."""
    skip = tree.ancestors(node.key) | {node.key}
    return [n for n in tree.overlapping(node.group, first, last) if n.key not in skip and n.role in (BAR, OTHER)]


def _hotplug_pages(tree: Tree, node: Node, page: int, head_first: int, tail_last: int) -> tuple[int, ...]:
    first, last = parent_range(tree, node)
    pages = []
    for page_first in sorted({head_first, tail_last - page + 1}):
        lo, hi = max(page_first, first), min(page_first + page - 1, last)
        if lo > hi:
            continue
        gaps = free_gaps(lo, hi, tree.siblings_overlapping(node.key, lo, hi) + [node])
        if any(first_slots(gap, MIN_BAR_BYTES, MIN_BAR_BYTES, 1) for gap in gaps):
            pages.append(page_first)
    return tuple(pages)


def _policy_view(policy: Policy, tree: Tree, node: Node, page: int) -> PolicyView:
    bar = to_model_bar(node)
    outcome = probe(policy, tree, node, page, bar)
    dummy = (outcome.dummy.first, outcome.dummy.last) if outcome.dummy_held else None
    if not outcome.mmappable:
        return PolicyView(False, dummy, None, ())
    window = policy.mmap_window(OPS, bar, page)
    return PolicyView(True, dummy, (window.first, window.last), _leaks(tree, node, window, dummy))


def _leaks(tree: Tree, node: Node, window: Range, dummy: tuple[int, int] | None) -> tuple[str, ...]:
    owned = [(node.first, node.last)] + ([dummy] if dummy else [])
    found = []
    skip = tree.ancestors(node.key) | {node.key}
    for other in tree.overlapping(node.group, window.first, window.last):
        if other.key not in skip:
            found.append(f"{other.label} [{other.first:#x}-{other.last:#x}]")
    cursor = window.first
    for first, last in sorted(owned):
        if first > cursor:
            found.append(f"unreserved [{cursor:#x}-{first - 1:#x}]")
        cursor = max(cursor, last + 1)
    if cursor <= window.last:
        found.append(f"unreserved [{cursor:#x}-{window.last:#x}]")
    return tuple(sorted(set(found)))
