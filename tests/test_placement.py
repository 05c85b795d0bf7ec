"""The Ops-generic placement (model/placement.py) against the kernel-faithful allocator (model/iomem.py).

`first_fit` on `ConcreteOps` must pick exactly what find_resource_space() picks for a BAR
(align = size): same success, same start.  `any_free` must accept exactly the free slots, and
first fit must be the lowest of them (brute force over every start at width 8).
"""

from __future__ import annotations

import itertools
import random

import pytest

from model.iomem import U64_MASK, Resource, find_resource_space, request_resource
from model.ops import ConcreteOps
from model.placement import any_free, first_fit, slot_is_free
from model.ranges import Range
from model.resource_tree import Child

FOUR_GIB = 1 << 32


def kernel_tree(parent: tuple[int, int], children: list[tuple[int, int]]) -> Resource:
    """The parent resource with `children` requested under it (they must be disjoint and inside it)."""
    root = Resource("parent", *parent)
    for i, (first, last) in enumerate(children):
        assert request_resource(root, Resource(f"child{i}", first, last)) is None, (parent, children)
    return root


def kernel_place(root: Resource, size: int, below_4g: bool = False) -> int | None:
    """pci_bus_alloc_resource() for a BAR: align = size, max capped below 4 GiB for a 32-bit BAR."""
    return find_resource_space(root, size, 0, FOUR_GIB - 1 if below_4g else U64_MASK, size)


def model_place(ops: ConcreteOps, parent: tuple[int, int], children: list[Child], size: int,
                below_4g: bool = False) -> int | None:
    slot = first_fit(ops, Range(*parent), children, size, below_4g)
    assert isinstance(slot.ok, bool)
    return slot.start if slot.ok else None


def present(ranges: list[tuple[int, int]]) -> list[Child]:
    return [Child(Range(first, last), True) for first, last in ranges]


def assert_agree(ops: ConcreteOps, parent: tuple[int, int], tree: list[tuple[int, int]],
                 absent: list[tuple[int, int]], size: int, below_4g: bool = False) -> int | None:
    """Both allocators on one case; absent children are in the model's list only (not in the tree)."""
    children = present(tree) + [Child(Range(first, last), False) for first, last in absent]
    expected = kernel_place(kernel_tree(parent, tree), size, below_4g)
    got = model_place(ops, parent, children, size, below_4g)
    assert got == expected, (ops.width, parent, tree, absent, hex(size), below_4g)
    return got


# ----------------------------------------------------------------------------- the vfio example


VFIO_WINDOW = (0xFE800000, 0xFE9FFFFF)
VFIO_BAR = (0xFE800000, 0xFE8000FF)
VFIO_DUMMY = (0xFE800100, 0xFE800FFF)


@pytest.mark.parametrize("width", [32, 64])
def test_vfio_dummy_pushes_a_hot_added_bar_to_the_next_page(width: int) -> None:
    ops = ConcreteOps(width)
    assert assert_agree(ops, VFIO_WINDOW, [VFIO_BAR, VFIO_DUMMY], [], 0x100) == 0xFE801000
    assert assert_agree(ops, VFIO_WINDOW, [VFIO_BAR, VFIO_DUMMY], [], 0x100, below_4g=True) == 0xFE801000
    # The model does not depend on the order the children are listed in.
    assert model_place(ops, VFIO_WINDOW, present([VFIO_DUMMY, VFIO_BAR]), 0x100) == 0xFE801000


@pytest.mark.parametrize("width", [32, 64])
def test_without_the_dummy_the_bar_lands_right_after_its_neighbour(width: int) -> None:
    ops = ConcreteOps(width)
    assert assert_agree(ops, VFIO_WINDOW, [VFIO_BAR], [], 0x100) == 0xFE800100
    # A released dummy (present = false) is not in the tree: the same answer.
    assert assert_agree(ops, VFIO_WINDOW, [VFIO_BAR], [VFIO_DUMMY], 0x100) == 0xFE800100


# ----------------------------------------------------------------------------- below 4 GiB


def test_below_4g_refuses_a_slot_crossing_4_gib() -> None:
    ops = ConcreteOps(64)
    parent = Range(0, (1 << 36) - 1)
    eight_gib = 1 << 33
    assert slot_is_free(ops, parent, [], 0, eight_gib) is True
    assert slot_is_free(ops, parent, [], 0, eight_gib, below_4g=True) is False
    assert slot_is_free(ops, parent, [], FOUR_GIB, 0x1000, below_4g=True) is False
    assert slot_is_free(ops, parent, [], FOUR_GIB - 0x1000, 0x1000, below_4g=True) is True
    assert any_free(ops, parent, [], eight_gib, 0, below_4g=True).ok is False
    assert first_fit(ops, parent, [], eight_gib, below_4g=True).ok is False
    assert first_fit(ops, parent, [], eight_gib).ok is True


def test_below_4g_first_fit_skips_the_slots_above_4_gib() -> None:
    ops = ConcreteOps(64)
    parent = (0xFFFF0000, 0x1000FFFFF)
    low = (0xFFFF0000, 0xFFFFEFFF)         # leaves one page free just below 4 GiB
    assert assert_agree(ops, parent, [low], [], 0x1000, below_4g=True) == 0xFFFFF000
    assert assert_agree(ops, parent, [low], [], 0x2000, below_4g=True) is None
    assert assert_agree(ops, parent, [low], [], 0x2000) == FOUR_GIB
    full = (0xFFFF0000, 0xFFFFFFFF)
    assert assert_agree(ops, parent, [full], [], 0x10, below_4g=True) is None
    assert assert_agree(ops, parent, [full], [], 0x10) == FOUR_GIB


def test_below_4g_agrees_with_a_capped_kernel_search_at_random() -> None:
    rng = random.Random(4)
    ops = ConcreteOps(64)
    for _ in range(200):
        first = FOUR_GIB - rng.choice([0x1000, 0x4000, 0x10000])
        parent = (first, FOUR_GIB + rng.choice([0xFFF, 0xFFFF]))
        tree, absent = random_children(rng, parent, rng.randint(0, 4), granule=0x100)
        size = 1 << rng.randint(4, 16)
        assert_agree(ops, parent, tree, absent, size, below_4g=True)
        assert_agree(ops, parent, tree, absent, size)


# ----------------------------------------------------------------------------- random differential


def random_children(rng: random.Random, parent: tuple[int, int], count: int,
                    granule: int = 1) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Disjoint children inside `parent` (as the tree has them) and some absent ones anywhere in it."""
    first, last = parent
    tree: list[tuple[int, int]] = []
    absent: list[tuple[int, int]] = []
    for _ in range(count * 3):
        if len(tree) >= count:
            break
        length = granule * rng.choice([1, 1, 2, 3, 4, 8, 16, 0x40])
        start = first + granule * rng.randint(0, max(0, (last - first + 1) // granule - 1))
        child = (start, min(start + length - 1, last))
        if any(not (child[1] < a or b < child[0]) for a, b in tree):
            if rng.random() < 0.3:
                absent.append(child)
            continue
        tree.append(child)
    rng.shuffle(tree)
    return tree, absent


@pytest.mark.parametrize("seed", range(4))
def test_first_fit_agrees_with_find_resource_space_at_random(seed: int) -> None:
    rng = random.Random(seed)
    outcomes = set()
    for case in range(150):
        ops = ConcreteOps(rng.choice([16, 24, 64]))
        top = min(ops.mask, 0xFFFF)
        first = rng.choice([0, 0x10, 0x100, 0x1000, 0x1234, 0x8000]) if case % 5 else rng.randint(0, top)
        last = rng.choice([top, first + 0xFFF, first + 0x7FFF, first + rng.randint(0, 0x3000)])
        parent = (first, min(last, top))
        granule = rng.choice([1, 4, 0x10, 0x100])
        tree, absent = random_children(rng, parent, rng.randint(0, 6), granule)
        size = 1 << rng.randint(0, 14)
        start = assert_agree(ops, parent, tree, absent, size)
        outcomes.add("failed" if start is None else "at parent start" if start == parent[0] else "later")
    assert outcomes == {"failed", "at parent start", "later"}


# ----------------------------------------------------------------------------- exhaustive at width 8


GRANULE = 16
W8_SIZES = [1 << k for k in range(8)]


def granular_ranges(first: int, last: int) -> list[tuple[int, int]]:
    starts = range(first, last + 1, GRANULE)
    return [(a, b - 1) for a in starts for b in range(a + GRANULE, last + 2, GRANULE)]


@pytest.mark.slow
@pytest.mark.parametrize("parent_first", range(0, 256, GRANULE))
def test_first_fit_agrees_exhaustively_at_width_8(parent_first: int) -> None:
    """Every parent [a, b] on a 16-byte granule, every one or two disjoint granular children, every size."""
    ops = ConcreteOps(8)
    checked = placed = 0
    for parent_last in range(parent_first + GRANULE - 1, 256, GRANULE):
        parent = (parent_first, parent_last)
        singles = granular_ranges(*parent)
        configs = [[c] for c in singles]
        configs += [[c, d] for c, d in itertools.combinations(singles, 2) if c[1] < d[0]]
        for tree in configs:
            root = kernel_tree(parent, tree)
            children = present(tree)
            for size in W8_SIZES:
                expected = kernel_place(root, size)
                assert model_place(ops, parent, children, size) == expected, (parent, tree, size)
                checked += 1
                placed += expected is not None
    assert placed < checked
    if parent_first < 256 - GRANULE:  # a parent of one granule is always filled by its child
        assert placed > 0


# ----------------------------------------------------------------------------- any_free and minimality


def brute_force_slots(ops: ConcreteOps, parent: Range, children: list[Child], size: int) -> list[int]:
    return [s for s in range(1 << ops.width) if slot_is_free(ops, parent, children, s, size)]


def arbitrary_children(rng: random.Random) -> list[Child]:
    """Any ranges at all: overlapping, unaligned, at the top, inverted, present or not."""
    children = []
    for _ in range(rng.randint(0, 4)):
        first = rng.randint(0, 255)
        last = rng.choice([first + rng.randint(0, 40), rng.randint(0, 255), 255])
        children.append(Child(Range(first, min(last, 255)), rng.random() < 0.8))
    return children


def test_any_free_accepts_exactly_the_free_slots_and_first_fit_is_the_lowest() -> None:
    rng = random.Random(8)
    ops = ConcreteOps(8)
    outcomes = set()
    for case in range(300):
        a, b = sorted(rng.sample(range(256), 2)) if case % 8 else (rng.randint(0, 255), rng.randint(0, 255))
        parent = Range(a, b)
        children = arbitrary_children(rng)
        for size in rng.sample(W8_SIZES, 3):
            free = brute_force_slots(ops, parent, children, size)
            for choice in range(256):
                slot = any_free(ops, parent, children, size, choice)
                assert slot.start == choice
                assert slot.ok is (choice in free), (parent, children, size, choice)
            fit = first_fit(ops, parent, children, size)
            assert fit.ok is bool(free), (parent, children, size)
            if free:
                assert fit.start == min(free), (parent, children, size, free)
            outcomes.add(bool(free))
    assert outcomes == {True, False}
