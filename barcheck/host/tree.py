"""The resource tree of a dump: who is whose parent, and a parent's direct children.

/proc/iomem is the kernel's tree itself.  Other formats give ranges only, so the parent of a
resource is the innermost window or other resource that contains it (the kernel nests every
child inside its parent, kernel/resource.c __request_resource()).  With no window containing a
BAR, its parent is the whole address space, and the output says so.

A dump that prints PCI bus addresses (pciconf) gets one tree per PCI domain: each domain has a
bus-address space of its own, so two domains' resources are never each other's parent, child,
sibling or neighbour, even at the same numbers.  CPU physical addresses (every other format) are
one space for all domains, as the kernel's iomem_resource is one tree: there every node is in
group 0.

The children of each parent, and the nodes of each group, are indexed once (`IntervalIndex`), so a
question about one page costs time in proportion to what lies there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from barcheck.host.intervals import IntervalIndex
from barcheck.host.dump.model import PCI_BUS, DumpBar, HostDump
from model.pci import BarKind

WINDOW, BAR, OTHER = "window", "bar", "other"
TOP_BYTES = (1 << 64) - 1
MEMORY_KINDS = (BarKind.MEM32, BarKind.MEM64, BarKind.ROM)


@dataclass(frozen=True, slots=True)
class Node:
    key: int
    role: str
    name: str
    first: int
    last: int
    group: int
    """The address space the node lives in: 0, or the PCI domain for bus-address dumps."""
    bar: DumpBar | None = None

    def contains(self, other: "Node") -> bool:
        return self.first <= other.first and other.last <= self.last

    def overlaps(self, first: int, last: int) -> bool:
        return self.first <= last and first <= self.last

    @property
    def dump_bar(self) -> DumpBar:
        """The BAR of a BAR node."""
        if self.bar is None:
            raise ValueError(f"{self.name} is a {self.role} node, not a BAR")
        return self.bar

    @property
    def label(self) -> str:
        if self.bar is not None:
            return f"{self.name} {self.bar.label}"
        return f"window {self.name}" if self.role == WINDOW else self.name


Scope = tuple[int, "int | None"]
"""(group, parent key): the nodes that are direct children of one parent.  The roots of each
group are a scope of their own, so two PCI domains' roots are not siblings."""


@dataclass
class Tree:
    nodes: list[Node]
    parent: dict[int, int | None]
    children: dict[Scope, list[int]] = field(default_factory=dict)
    """Keys of the direct children of each scope, by start."""
    warnings: list[str] = field(default_factory=list)
    _scope_index: dict[Scope, IntervalIndex[Node]] = field(default_factory=dict, repr=False)
    _group_index: dict[int, IntervalIndex[Node]] = field(default_factory=dict, repr=False)
    memo: dict = field(default_factory=dict, repr=False)
    """Structures other modules derive from the tree once (space.free_space())."""

    def node(self, key: int | None) -> Node | None:
        return None if key is None else self.nodes[key]

    def scope(self, key: int) -> Scope:
        return (self.nodes[key].group, self.parent[key])

    def siblings(self, key: int) -> list[Node]:
        """The other direct children of the node's parent."""
        return [self.nodes[k] for k in self.children.get(self.scope(key), []) if k != key]

    def siblings_overlapping(self, key: int, first: int, last: int) -> list[Node]:
        """The other direct children of the node's parent that have a byte in [first, last], by start."""
        return [n for n in self.scope_index(self.scope(key)).overlapping(first, last) if n.key != key]

    def scope_index(self, scope: Scope) -> IntervalIndex[Node]:
        if scope not in self._scope_index:
            self._scope_index[scope] = IntervalIndex(self.nodes[k] for k in self.children.get(scope, []))
        return self._scope_index[scope]

    def overlapping(self, group: int, first: int, last: int) -> list[Node]:
        """Every node of the group, at any depth, with a byte in [first, last], by start."""
        if group not in self._group_index:
            self._group_index[group] = IntervalIndex(node for node in self.nodes if node.group == group)
        return self._group_index[group].overlapping(first, last)

    def ancestors(self, key: int) -> set[int]:
        found, current = set(), self.parent[key]
        while current is not None:
            found.add(current)
            current = self.parent[current]
        return found


def build(dump: HostDump) -> Tree:
    nodes = _nodes(dump)
    tree = Tree(nodes, {})
    groups: dict[int, list[Node]] = {}
    for node in nodes:
        groups.setdefault(node.group, []).append(node)
    for group in sorted(groups):
        _nest(tree, groups[group])
    for key in sorted(tree.parent, key=lambda k: (nodes[k].first, k)):
        tree.children.setdefault(tree.scope(key), []).append(key)
    return tree


def _group(dump: HostDump, domain: int | None) -> int:
    if dump.address_space != PCI_BUS:
        return 0
    return domain or 0


def _nodes(dump: HostDump) -> list[Node]:
    items: list[tuple[int, str, str, int, int, int, DumpBar | None]] = []
    for window in dump.windows:
        items.append((window.line, WINDOW, window.name, window.first, window.last,
                      _group(dump, window.domain), None))
    for other in dump.others:
        items.append((other.line, OTHER, other.name, other.first, other.last, 0, None))
    for bar in dump.bars:
        if bar.kind in MEMORY_KINDS and bar.start is not None:
            items.append((bar.line, BAR, bar.device, bar.start, bar.last, _group(dump, bar.domain), bar))
    items.sort(key=lambda item: (item[0], item[1], item[3]))
    return [Node(key, role, name, first, last, group, bar)
            for key, (_, role, name, first, last, group, bar) in enumerate(items)]


def _nest(tree: Tree, nodes: list[Node]) -> None:
    stack: list[Node] = []
    for node in sorted(nodes, key=lambda n: (n.first, -n.last, n.key)):
        while stack and stack[-1].last < node.first:
            stack.pop()
        while stack and not stack[-1].contains(node):
            outer = stack.pop()
            tree.warnings.append(f"{node.label} [{node.first:#x}-{node.last:#x}] overlaps {outer.label} "
                                 f"[{outer.first:#x}-{outer.last:#x}] without nesting: no kernel resource "
                                 f"tree has that; they are treated as siblings")
        tree.parent[node.key] = stack[-1].key if stack else None
        if node.role != BAR:
            stack.append(node)
