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
on u64 wrap-around, the model wraps too (`wrap_u64`).
"""

from __future__ import annotations

from model.iomem_alloc import allocate_resource, find_resource_space
from model.iomem_node import (U64_MASK, Resource, ResourceError, check_linkable, check_size, check_u64,
                              request_unchecked, unlink, wrap_u64)

__all__ = ["U64_MASK", "MAX_IORES_LEVEL", "Resource", "ResourceError", "iomem_root", "request_resource",
           "release_resource", "remove_resource", "release_child_resources", "insert_resource",
           "find_resource_space", "allocate_resource", "request_region", "render_tree"]

MAX_IORES_LEVEL = 5  # r_show() stops counting depth here


def iomem_root() -> Resource:
    """`iomem_resource`: "PCI mem", [0, -1] (kernel/resource.c @ d908e1ebbc66)."""
    return Resource("PCI mem", 0, U64_MASK)


# ----------------------------------------------------------------------------- request / release


def request_resource(root: Resource, new: Resource) -> Resource | None:
    """request_resource_conflict(): link `new` under `root`, or return what stops it.

    kernel/resource.c __request_resource() @ d908e1ebbc66 (unchanged in 0291023e7330): `root` itself
    if `end < start` or `new` does not fit inside `root`; otherwise the first (lowest) direct child
    that overlaps `new`, busy or not. Grandchildren are never looked at. On success `new` is linked in
    address order and None is returned. `new`'s own children (if any) travel with it.
    """
    check_linkable(root, new)
    return request_unchecked(root, new)


def release_resource(old: Resource) -> bool:
    """release_resource() = __release_resource(old, true), kernel/resource.c @ 0291023e7330 (the
    one-argument __release_resource() @ d908e1ebbc66 behaves the same).

    Unlinks `old` from its parent; its children stay attached to it. False is -EINVAL: `old` is not in
    its parent's child list, or (model choice: the kernel dereferences old->parent and oopses) it has
    no parent.
    """
    return unlink(old, release_child=True)


def remove_resource(old: Resource) -> bool:
    """remove_resource() = __release_resource(old, false), kernel/resource.c @ 0291023e7330.

    Unlinks `old` and moves its children up into its place (the inverse of insert_resource()).
    """
    return unlink(old, release_child=False)


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
        size_bytes = wrap_u64(child.end - child.start + 1)  # resource_size()
        child.start = 0
        child.end = wrap_u64(size_bytes - 1)


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
    check_linkable(parent, new)
    while True:
        first = request_unchecked(parent, new)
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
    check_u64(start, "start")
    check_size(n, "n")
    check_u64(start + n - 1, "end")
    region = Resource(name, start, start + n - 1, busy=True, owner=owner)
    while True:
        conflict = request_unchecked(parent, region)
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
