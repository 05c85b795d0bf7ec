"""A concrete model of the kernel's resource tree (kernel/resource.c), on plain Python ints.

Sources read:

* torvalds/linux kernel/resource.c @ d908e1ebbc66 (d908e1ebbc66a4a44469f27dcfb1f2f46144c4bf, the only
  torvalds/linux version in the index; it still names the search `__find_resource()`), and
* for the newer shape of the same functions, a current mainline mirror, Kingxukai/linux
  kernel/resource.c @ 0291023e7330 (`__find_resource_space()`, `__release_resource(old, release_child)`,
  `__request_region_locked()`, the `alloc.start <= alloc.end` wrap check).

Where the two differ, the model follows the newer code and the docstring says so.

Modelled: `struct resource` with start/end (inclusive), IORESOURCE_BUSY, parent and a child list kept
sorted and disjoint (the kernel's sibling chain). Not modelled: the other flags, `desc`, locking,
`alignf` callbacks, `arch_remove_reservations()` (a no-op on most architectures), IORESOURCE_MUXED
waiting.

All addresses are unsigned 64-bit (`resource_size_t` with 64-bit phys_addr_t); where the kernel relies
on u64 wrap-around, the model wraps too (`_u64`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

from model.units import is_power_of_two

U64_MASK = (1 << 64) - 1
MAX_IORES_LEVEL = 5  # r_show() stops counting depth here


class ResourceError(Exception):
    """A call the model refuses: an address outside u64, size 0, an alignment that is not a power of two,
    or a resource that is already linked into a tree."""


def _u64(value: int) -> int:
    return value & U64_MASK


def _check_u64(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ResourceError(f"{what} must be an int, got {value!r}")
    if not 0 <= value <= U64_MASK:
        raise ResourceError(f"{what} {value:#x} is outside the unsigned 64-bit range")
    return value


def _check_size(size_bytes: object, what: str = "size") -> int:
    size_bytes = _check_u64(size_bytes, what)
    if size_bytes == 0:
        raise ResourceError(f"{what} must not be 0")
    return size_bytes


def _check_align(align_bytes: object) -> int:
    align_bytes = _check_u64(align_bytes, "align")
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
        _check_u64(self.start, f"{self.name!r} start")
        _check_u64(self.end, f"{self.name!r} end")

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


def iomem_root() -> Resource:
    """`iomem_resource`: "PCI mem", [0, -1] (kernel/resource.c @ d908e1ebbc66)."""
    return Resource("PCI mem", 0, U64_MASK)


def _check_linkable(root: Resource, new: Resource) -> None:
    _check_u64(root.start, "root start")
    _check_u64(root.end, "root end")
    _check_u64(new.start, f"{new.name!r} start")
    _check_u64(new.end, f"{new.name!r} end")
    if new.parent is not None:
        # The kernel would corrupt its sibling chain (or WARN in __insert_resource); refuse instead.
        raise ResourceError(f"{new.name!r} is already linked under {new.parent.name!r}")
    if new is root:
        raise ResourceError(f"{new.name!r} cannot be requested under itself")


# ----------------------------------------------------------------------------- request / release


def _request(root: Resource, new: Resource) -> Resource | None:
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


def request_resource(root: Resource, new: Resource) -> Resource | None:
    """request_resource_conflict(): link `new` under `root`, or return what stops it.

    kernel/resource.c __request_resource() @ d908e1ebbc66 (unchanged in 0291023e7330): `root` itself
    if `end < start` or `new` does not fit inside `root`; otherwise the first (lowest) direct child
    that overlaps `new`, busy or not. Grandchildren are never looked at. On success `new` is linked in
    address order and None is returned. `new`'s own children (if any) travel with it.
    """
    _check_linkable(root, new)
    return _request(root, new)


def _unlink(old: Resource, release_child: bool) -> bool:
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


def release_resource(old: Resource) -> bool:
    """release_resource() = __release_resource(old, true), kernel/resource.c @ 0291023e7330 (the
    one-argument __release_resource() @ d908e1ebbc66 behaves the same).

    Unlinks `old` from its parent; its children stay attached to it. False is -EINVAL: `old` is not in
    its parent's child list, or (model choice: the kernel dereferences old->parent and oopses) it has
    no parent.
    """
    return _unlink(old, release_child=True)


def remove_resource(old: Resource) -> bool:
    """remove_resource() = __release_resource(old, false), kernel/resource.c @ 0291023e7330.

    Unlinks `old` and moves its children up into its place (the inverse of insert_resource()).
    """
    return _unlink(old, release_child=False)


def release_child_resources(r: Resource) -> None:
    """release_child_resources() / __release_child_resources(), kernel/resource.c @ d908e1ebbc66.

    Detaches every descendant, depth first, and resets each to [0, size - 1] ("need to restore size,
    and keep flags"). `r` itself keeps its place and range.
    """
    detached = r.children
    r.children = []
    for child in detached:
        child.parent = None
        release_child_resources(child)
        size_bytes = _u64(child.end - child.start + 1)  # resource_size()
        child.start = 0
        child.end = _u64(size_bytes - 1)


# ----------------------------------------------------------------------------- insert


def insert_resource(parent: Resource, new: Resource) -> Resource | None:
    """insert_resource_conflict(), kernel/resource.c __insert_resource() @ d908e1ebbc66 (unchanged in
    0291023e7330).

    Requests `new` under `parent`; on a conflict that fully contains `new` (and is not exactly equal
    to it) it descends into that conflict and retries. Otherwise every child of the final parent that
    overlaps `new` must lie entirely inside `new`: those become `new`'s children and `new` takes their
    place. Returns None on success, else the conflict: the parent itself when `new` does not fit, or
    the first child that only partially overlaps `new`.

    A conflict with exactly `new`'s range is adopted, not descended into: inserting a duplicate range
    nests the existing resource under the new one.
    """
    _check_linkable(parent, new)
    while True:
        first = _request(parent, new)
        if first is None or first is parent:
            return first
        if first.start > new.start or first.end < new.end:
            break
        if first.start == new.start and first.end == new.end:
            break
        parent = first

    first_index = parent.children.index(first)
    last_index = first_index
    while True:
        candidate = parent.children[last_index]
        if candidate.start < new.start or candidate.end > new.end:
            return candidate
        if last_index + 1 == len(parent.children) or parent.children[last_index + 1].start > new.end:
            break
        last_index += 1

    adopted = parent.children[first_index:last_index + 1]
    parent.children[first_index:last_index + 1] = [new]
    new.parent = parent
    new.children = adopted
    for child in adopted:
        child.parent = new
    return None


# ----------------------------------------------------------------------------- allocation


def _align_up(value: int, align_bytes: int) -> int:
    """ALIGN(x, a) on u64: may wrap to a value below x."""
    return _u64(value + align_bytes - 1) & ~(align_bytes - 1) & U64_MASK


def _fit_in_gap(gap_start: int, gap_end: int, size_bytes: int, min_addr: int, max_addr: int,
                align_bytes: int) -> int | None:
    """One gap of __find_resource_space(): clip, align, check; the start that fits or None."""
    full_start = max(gap_start, min_addr)  # resource_clip()
    full_end = min(gap_end, max_addr)
    avail_start = _align_up(full_start, align_bytes)
    if avail_start < full_start:  # ALIGN() overflowed
        return None
    alloc_end = _u64(avail_start + size_bytes - 1)
    if avail_start <= alloc_end and alloc_end <= full_end:
        return avail_start
    return None


def _find_space(root: Resource, old: Resource | None, size_bytes: int, min_addr: int, max_addr: int,
                align_bytes: int) -> int | None:
    """__find_resource_space(root, old, ...) with no alignf; `old`'s own span counts as free."""
    children = root.children
    index = 0
    gap_start = root.start
    # The kernel skips a child at root->start so that `this->start - 1` cannot underflow. Its
    # `this->end + 1` is not guarded: a first child ending at 2**64-1 wraps gap_start to 0.
    if children and children[0].start == root.start:
        gap_start = old.start if children[0] is old else _u64(children[0].end + 1)
        index = 1
    while True:
        this = children[index] if index < len(children) else None
        if this is None:
            gap_end = root.end
        else:
            gap_end = this.end if this is old else this.start - 1
        if gap_end >= gap_start:
            found = _fit_in_gap(gap_start, gap_end, size_bytes, min_addr, max_addr, align_bytes)
            if found is not None:
                return found
        if this is None or this.end == root.end:
            return None
        if this is not old:
            gap_start = this.end + 1
        index += 1


def _check_constraints(root: Resource, size_bytes: int, min_addr: int, max_addr: int,
                       align_bytes: int) -> None:
    _check_u64(root.start, "root start")
    _check_u64(root.end, "root end")
    _check_size(size_bytes)
    _check_u64(min_addr, "min_addr")
    _check_u64(max_addr, "max_addr")
    _check_align(align_bytes)


def find_resource_space(root: Resource, size: int, min_addr: int, max_addr: int, align: int) -> int | None:
    """find_resource_space() = __find_resource_space(root, NULL, ...), kernel/resource.c @ 0291023e7330
    (`__find_resource()` @ d908e1ebbc66), with no alignf.

    First fit, lowest address: walks the gaps between `root`'s children in address order; each gap is
    clipped to [min_addr, max_addr], its start rounded up to `align` (a gap whose ALIGN() wraps past
    2**64-1 is skipped), and the candidate [start, start + size - 1] is accepted if it does not wrap
    and lies inside the clipped gap. Returns the start, or None (-EBUSY).

    The wrap check `alloc.start <= alloc.end` is from the newer code; @ d908e1ebbc66 a wrapped end
    passed resource_contains() and only the following __request_resource() refused it. The 2025-2026
    switch to `__resource_contains_unbound(&full_avail, &alloc)` does not change the no-alignf answer.
    """
    _check_constraints(root, size, min_addr, max_addr, align)
    return _find_space(root, None, size, min_addr, max_addr, align)


def _reallocate(root: Resource, old: Resource, size_bytes: int, min_addr: int, max_addr: int,
                align_bytes: int) -> bool:
    start = _find_space(root, old, size_bytes, min_addr, max_addr, align_bytes)
    if start is None:
        return False
    end = _u64(start + size_bytes - 1)
    if start <= old.start and old.end <= end:
        old.start, old.end = start, end  # grows (or stays) in place
        return True
    if old.children:
        return False
    if old.start <= start and end <= old.end:
        old.start, old.end = start, end  # shrinks in place
        return True
    _unlink(old, release_child=True)
    old.start, old.end = start, end
    conflict = _request(root, old)
    assert conflict is None, f"reallocate_resource: BUG_ON(conflict) with {conflict!r}"
    return True


def allocate_resource(root: Resource, new: Resource, size: int, min_addr: int, max_addr: int,
                      align: int) -> bool:
    """allocate_resource() without alignf, kernel/resource.c @ d908e1ebbc66 (same in 0291023e7330).

    Unlinked `new`: find_resource_space(), set new.start/end, __request_resource(). False is -EBUSY
    (no space; or, in the wrap edge case of _find_space, the request conflicts, leaving new.start/end
    already overwritten, as in the kernel).

    Linked `new` (new.parent set): reallocate_resource(root, new, size, ...). The search treats
    `new`'s own span as free (it merges with the gaps on either side). Then, in this order: a found
    range containing the current one -> grow in place; else, if `new` has children -> False (-EBUSY);
    a found range inside the current one -> shrink in place; else release and re-request at the found
    place (children would be lost, hence the previous refusal). Since the search is first fit from
    the bottom, "in place" only happens when no lower address fits.
    """
    _check_constraints(root, size, min_addr, max_addr, align)
    if new.parent is not None:
        return _reallocate(root, new, size, min_addr, max_addr, align)
    _check_linkable(root, new)
    start = _find_space(root, None, size, min_addr, max_addr, align)
    if start is None:
        return False
    new.start, new.end = start, _u64(start + size - 1)
    return _request(root, new) is None


# ----------------------------------------------------------------------------- request_region


def request_region(parent: Resource, start: int, n: int, name: str, owner: object = None) -> Resource | None:
    """__request_region(parent, start, n, name, 0), kernel/resource.c @ d908e1ebbc66
    (__request_region_locked() @ 0291023e7330).

    Creates a BUSY resource [start, start + n - 1] and requests it under `parent`. A conflict with a
    non-busy child makes that child the new parent and retries, so the region nests under e.g. a BAR
    or a vfio dummy. A conflict with a busy resource, or a region that does not fit the current parent
    (the conflict is the parent itself), fails: None. IORESOURCE_MUXED waiting is not modelled (no
    flags are passed). n == 0 or an end past 2**64-1 raises ResourceError (the kernel's wrapped end
    would make the request fail).
    """
    _check_u64(start, "start")
    _check_size(n, "n")
    _check_u64(start + n - 1, "end")
    region = Resource(name, start, start + n - 1, busy=True, owner=owner)
    while True:
        conflict = _request(parent, region)
        if conflict is None:
            return region
        if conflict is parent or conflict.busy:
            return None
        parent = conflict


# ----------------------------------------------------------------------------- /proc/iomem


def render_tree(root: Resource, show_addresses: bool = True) -> str:
    """/proc/iomem text for the tree under `root`, kernel/resource.c r_show() @ d908e1ebbc66.

    One line per descendant in pre-order (`root` itself is not printed): "%*s%0*llx-%0*llx : %s" with
    two spaces per level below `root`, the depth capped at MAX_IORES_LEVEL (5), and a minimum hex width
    of 4 digits when root.end < 0x10000 (ioport_resource) else 8 (longer addresses print in full).
    show_addresses=False mimics a reader without CAP_SYS_ADMIN, who sees zeros (r_show @ 0291023e7330).
    Rendering a subtree stops at its end; the kernel's r_next() would carry on past it.
    """
    width = 4 if root.end < 0x10000 else 8
    lines = []
    for level, node in root.walk():
        if level == 0:
            continue
        depth = min(level - 1, MAX_IORES_LEVEL)
        start, end = (node.start, node.end) if show_addresses else (0, 0)
        name = "<BAD>" if node.name is None else node.name
        lines.append(f"{' ' * (2 * depth)}{start:0{width}x}-{end:0{width}x} : {name}\n")
    return "".join(lines)
