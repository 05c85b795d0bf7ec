"""Allocation in the concrete resource tree: find_resource_space() and allocate_resource(), no alignf."""

from __future__ import annotations

from model.iomem_node import (U64_MASK, Resource, check_align, check_linkable, check_size, check_u64,
                              request_unchecked, unlink, wrap_u64)


def _align_up(value: int, align_bytes: int) -> int:
    """ALIGN(x, a) on u64: may wrap to a value below x."""
    return wrap_u64(value + align_bytes - 1) & ~(align_bytes - 1) & U64_MASK


def _fit_in_gap(gap_start: int, gap_end: int, size_bytes: int, min_addr: int, max_addr: int,
                align_bytes: int) -> int | None:
    """One gap of __find_resource_space(): clip, align, check; the start that fits or None."""
    full_start = max(gap_start, min_addr)  # resource_clip()
    full_end = min(gap_end, max_addr)
    avail_start = _align_up(full_start, align_bytes)
    if avail_start < full_start:  # ALIGN() overflowed
        return None
    alloc_end = wrap_u64(avail_start + size_bytes - 1)
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
        gap_start = old.start if children[0] is old else wrap_u64(children[0].end + 1)
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
    check_u64(root.start, "root start")
    check_u64(root.end, "root end")
    check_size(size_bytes)
    check_u64(min_addr, "min_addr")
    check_u64(max_addr, "max_addr")
    check_align(align_bytes)


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
    end = wrap_u64(start + size_bytes - 1)
    if start <= old.start and old.end <= end:
        old.start, old.end = start, end  # grows (or stays) in place
        return True
    if old.children:
        return False
    if old.start <= start and end <= old.end:
        old.start, old.end = start, end  # shrinks in place
        return True
    unlink(old, release_child=True)
    old.start, old.end = start, end
    conflict = request_unchecked(root, old)
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
    check_linkable(root, new)
    start = _find_space(root, None, size, min_addr, max_addr, align)
    if start is None:
        return False
    new.start, new.end = start, wrap_u64(start + size - 1)
    return request_unchecked(root, new) is None
