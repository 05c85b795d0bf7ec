"""The resource tree of a dump: who is whose parent, and a parent's direct children.

/proc/iomem is the kernel's tree itself.  Other formats give ranges only, so the parent of a
resource is the innermost window or other resource that contains it (the kernel nests every
child inside its parent, kernel/resource.c __request_resource()).  A dump that prints PCI bus
addresses (pciconf) gets one tree per PCI domain.  With no window containing a BAR, its parent
is the whole address space, and the output says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from barcheck.hostdump.model import PCI_BUS, DumpBar, HostDump
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
    def label(self) -> str:
        if self.bar is not None:
            return f"{self.name} {self.bar.label}"
        return f"window {self.name}" if self.role == WINDOW else self.name


@dataclass
class Tree:
    nodes: list[Node]
    parent: dict[int, int | None]
    children: dict[int | None, list[int]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def node(self, key: int | None) -> Node | None:
        return None if key is None else self.nodes[key]

    def siblings(self, key: int) -> list[Node]:
        """The other direct children of the node's parent."""
        return [self.nodes[k] for k in self.children.get(self.parent[key], []) if k != key]

    def ancestors(self, key: int) -> set[int]:
        found, current = set(), self.parent[key]
        while current is not None:
            found.add(current)
            current = self.parent[current]
        return found

    def in_group(self, group: int) -> list[Node]:
        return [node for node in self.nodes if node.group == group]


def build(dump: HostDump) -> Tree:
    nodes = _nodes(dump)
    tree = Tree(nodes, {})
    for group in sorted({node.group for node in nodes}):
        _nest(tree, [node for node in nodes if node.group == group])
    for key in sorted(tree.parent, key=lambda k: (nodes[k].first, k)):
        tree.children.setdefault(tree.parent[key], []).append(key)
    return tree


def _group(dump: HostDump, device: str | None, domain: int | None) -> int:
    if dump.address_space != PCI_BUS:
        return 0
    if device is not None:
        return int(device[:4], 16)
    return domain or 0


def _nodes(dump: HostDump) -> list[Node]:
    items: list[tuple[int, str, str, int, int, int, DumpBar | None]] = []
    for window in dump.windows:
        items.append((window.line, WINDOW, window.name, window.first, window.last,
                      _group(dump, None, window.domain), None))
    for other in dump.others:
        items.append((other.line, OTHER, other.name, other.first, other.last, 0, None))
    for bar in dump.bars:
        if bar.kind in MEMORY_KINDS and bar.start is not None:
            items.append((bar.line, BAR, bar.device, bar.start, bar.last, _group(dump, bar.device, None), bar))
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
