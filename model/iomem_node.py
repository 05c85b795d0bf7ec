"""The kernel's `struct resource` on plain ints: the node, u64 argument checks, and linking or unlinking one child."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

from model.units import is_power_of_two

U64_MASK = (1 << 64) - 1


class ResourceError(Exception):
    """A call the model refuses: an address outside u64, size 0, an alignment that is not a power of two,
    or a resource that is already linked into a tree."""


def wrap_u64(value: int) -> int:
    return value & U64_MASK


def check_u64(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ResourceError(f"{what} must be an int, got {value!r}")
    if not 0 <= value <= U64_MASK:
        raise ResourceError(f"{what} {value:#x} is outside the unsigned 64-bit range")
    return value


def check_size(size_bytes: object, what: str = "size") -> int:
    size_bytes = check_u64(size_bytes, what)
    if size_bytes == 0:
        raise ResourceError(f"{what} must not be 0")
    return size_bytes


def check_align(align_bytes: object) -> int:
    align_bytes = check_u64(align_bytes, "align")
    if not is_power_of_two(align_bytes):
        raise ResourceError(f"align {align_bytes:#x} is not a power of two")
    return align_bytes


@dataclass(eq=False)
class Resource:
    """`struct resource`: [start, end] inclusive, IORESOURCE_BUSY as `busy`, identity equality.

    `children` plays the kernel's child/sibling chain: sorted by start, pairwise disjoint, each inside
    this resource (only the functions below keep that true; do not edit the list by hand).
    """

    name: str
    start: int
    end: int
    busy: bool = False
    parent: Resource | None = field(default=None, repr=False)
    children: list[Resource] = field(default_factory=list, repr=False)
    owner: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_u64(self.start, f"{self.name!r} start")
        check_u64(self.end, f"{self.name!r} end")

    def size(self) -> int:
        """end - start + 1 as an exact int (2**64 for the whole space; <= 0 when end < start, where the
        kernel's resource_size() would wrap)."""
        return self.end - self.start + 1

    def walk(self) -> Iterator[tuple[int, Resource]]:
        """(depth, node) in depth-first pre-order, self first at depth 0, children in address order."""
        yield 0, self
        for child in self.children:
            for depth, node in child.walk():
                yield depth + 1, node

    def find(self, predicate: Callable[[Resource], bool]) -> list[Resource]:
        """Every descendant (not self) for which `predicate` holds, in pre-order."""
        return [node for depth, node in self.walk() if depth and predicate(node)]


def check_linkable(root: Resource, new: Resource) -> None:
    check_u64(root.start, "root start")
    check_u64(root.end, "root end")
    check_u64(new.start, f"{new.name!r} start")
    check_u64(new.end, f"{new.name!r} end")
    if new.parent is not None:
        # The kernel would corrupt its sibling chain (or WARN in __insert_resource); refuse instead.
        raise ResourceError(f"{new.name!r} is already linked under {new.parent.name!r}")
    if new is root:
        raise ResourceError(f"{new.name!r} cannot be requested under itself")


# ----------------------------------------------------------------------------- linking one child


def request_unchecked(root: Resource, new: Resource) -> Resource | None:
    """The body of __request_resource() without argument checks (also used by reallocation)."""
    if new.end < new.start or new.start < root.start or new.end > root.end:
        return root
    for index, child in enumerate(root.children):
        if child.start > new.end:
            root.children.insert(index, new)
            new.parent = root
            return None
        if child.end < new.start:
            continue
        return child
    root.children.append(new)
    new.parent = root
    return None


def unlink(old: Resource, release_child: bool) -> bool:
    parent = old.parent
    if parent is None:
        return False
    for index, child in enumerate(parent.children):
        if child is old:
            if release_child or not old.children:
                del parent.children[index]
            else:
                for grandchild in old.children:
                    grandchild.parent = parent
                parent.children[index:index + 1] = old.children
                # The kernel leaves a stale old->child pointer; the model clears it.
                old.children = []
            old.parent = None
            return True
    return False
