"""The concrete kernel/resource.c model: request/release, insert, allocation, request_region, /proc/iomem."""

from __future__ import annotations

import random

import pytest

from model.iomem import (
    U64_MASK,
    Resource,
    ResourceError,
    allocate_resource,
    find_resource_space,
    insert_resource,
    iomem_root,
    release_child_resources,
    release_resource,
    remove_resource,
    render_tree,
    request_region,
    request_resource,
)


def res(name: str, start: int, end: int, **kwargs) -> Resource:
    return Resource(name, start, end, **kwargs)


def linked(parent: Resource, name: str, start: int, end: int, **kwargs) -> Resource:
    child = res(name, start, end, **kwargs)
    assert request_resource(parent, child) is None
    return child


def spans(node: Resource) -> list[tuple[int, int]]:
    return [(child.start, child.end) for child in node.children]


def bridge_window() -> Resource:
    window = res("bridge window", 0xFE800000, 0xFE9FFFFF)
    assert request_resource(iomem_root(), window) is None
    return window


# ----------------------------------------------------------------------------- request_resource


def test_request_into_an_empty_parent_links_the_child():
    parent = res("parent", 0x1000, 0x1FFF)
    child = res("child", 0x1100, 0x11FF)
    assert request_resource(parent, child) is None
    assert child.parent is parent
    assert parent.children == [child]


def test_request_conflicting_with_an_overlapping_child_returns_that_child():
    parent = res("parent", 0x0, 0xFFFF)
    first = linked(parent, "a", 0x1000, 0x1FFF)
    linked(parent, "b", 0x3000, 0x3FFF)
    new = res("new", 0x1F00, 0x20FF)
    assert request_resource(parent, new) is first
    assert new.parent is None
    assert len(parent.children) == 2


def test_request_returns_the_lowest_overlapping_child():
    parent = res("parent", 0x0, 0xFFFF)
    low = linked(parent, "low", 0x1000, 0x1FFF)
    linked(parent, "high", 0x2000, 0x2FFF)
    assert request_resource(parent, res("wide", 0x1800, 0x2800)) is low


def test_a_busy_or_non_busy_child_conflicts_alike():
    parent = res("parent", 0x0, 0xFFFF)
    idle = linked(parent, "idle", 0x1000, 0x1FFF, busy=False)
    assert request_resource(parent, res("new", 0x1000, 0x1000, busy=True)) is idle


def test_grandchildren_are_not_examined_when_the_child_is_disjoint():
    parent = res("parent", 0x0, 0xFFFF)
    child = linked(parent, "child", 0x1000, 0x1FFF)
    linked(child, "grandchild", 0x1000, 0x10FF)
    new = res("new", 0x2000, 0x20FF)
    assert request_resource(parent, new) is None
    assert spans(parent) == [(0x1000, 0x1FFF), (0x2000, 0x20FF)]


def test_request_under_a_child_only_sees_that_childs_children():
    parent = res("parent", 0x0, 0xFFFF)
    child = linked(parent, "child", 0x1000, 0x1FFF)
    linked(child, "grandchild", 0x1000, 0x10FF)
    assert request_resource(child, res("next to grandchild", 0x1100, 0x11FF)) is None


@pytest.mark.parametrize("start, end", [
    (0x0FFF, 0x1000),   # starts below the parent
    (0x1F00, 0x2000),   # ends above the parent
    (0x1800, 0x17FF),   # end < start
    (0x0, U64_MASK),    # far too big
])
def test_request_that_does_not_fit_returns_the_parent(start, end):
    parent = res("parent", 0x1000, 0x1FFF)
    assert request_resource(parent, res("new", start, end)) is parent
    assert parent.children == []


def test_children_are_kept_sorted_whatever_the_request_order():
    parent = res("parent", 0x0, 0xFFFF)
    for start in (0x5000, 0x1000, 0x9000, 0x3000, 0x7000):
        linked(parent, f"r{start:x}", start, start + 0xFFF)
    assert spans(parent) == [(s, s + 0xFFF) for s in (0x1000, 0x3000, 0x5000, 0x7000, 0x9000)]


def test_adjacent_children_do_not_conflict():
    parent = res("parent", 0x0, 0xFF)
    linked(parent, "low", 0x0, 0x7F)
    linked(parent, "high", 0x80, 0xFF)
    assert spans(parent) == [(0x0, 0x7F), (0x80, 0xFF)]


def test_release_then_request_again():
    parent = res("parent", 0x0, 0xFFFF)
    child = linked(parent, "child", 0x1000, 0x1FFF)
    grandchild = linked(child, "grandchild", 0x1000, 0x10FF)
    other = res("other", 0x1800, 0x18FF)
    assert request_resource(parent, other) is child

    assert release_resource(child) is True
    assert child.parent is None and parent.children == []
    assert child.children == [grandchild] and grandchild.parent is child  # children go with it

    assert request_resource(parent, other) is None
    assert request_resource(parent, child) is other
    assert release_resource(other) is True
    assert request_resource(parent, child) is None
    assert parent.children == [child]


def test_release_of_an_unlinked_resource_returns_false():
    assert release_resource(res("loose", 0x0, 0xF)) is False


def test_release_of_a_resource_missing_from_its_parents_list_returns_false():
    parent = res("parent", 0x0, 0xFFFF)
    stray = res("stray", 0x0, 0xF, parent=parent)
    assert release_resource(stray) is False


def test_remove_resource_moves_the_children_up():
    parent = res("parent", 0x0, 0xFFFF)
    before = linked(parent, "before", 0x0, 0xFF)
    middle = linked(parent, "middle", 0x1000, 0x1FFF)
    after = linked(parent, "after", 0x3000, 0x3FFF)
    kids = [linked(middle, "k1", 0x1000, 0x10FF), linked(middle, "k2", 0x1800, 0x18FF)]
    assert remove_resource(middle) is True
    assert parent.children == [before, *kids, after]
    assert all(kid.parent is parent for kid in kids)
    assert middle.parent is None and middle.children == []


# ----------------------------------------------------------------------------- insert_resource


def test_insert_adopts_enclosed_children():
    parent = res("parent", 0x0, 0xFFFF)
    before = linked(parent, "before", 0x0, 0xFFF)
    a = linked(parent, "a", 0x2000, 0x20FF)
    b = linked(parent, "b", 0x2800, 0x28FF)
    after = linked(parent, "after", 0x4000, 0x4FFF)
    window = res("window", 0x2000, 0x3FFF)
    assert insert_resource(parent, window) is None
    assert parent.children == [before, window, after]
    assert window.parent is parent
    assert window.children == [a, b]
    assert a.parent is window and b.parent is window


def test_insert_without_conflict_behaves_like_request():
    parent = res("parent", 0x0, 0xFFFF)
    new = res("new", 0x100, 0x1FF)
    assert insert_resource(parent, new) is None
    assert parent.children == [new] and new.children == []


def test_insert_fails_on_partial_overlap_and_changes_nothing():
    parent = res("parent", 0x0, 0xFFFF)
    inside = linked(parent, "inside", 0x2000, 0x20FF)
    straddling = linked(parent, "straddling", 0x3F00, 0x40FF)
    window = res("window", 0x2000, 0x3FFF)
    assert insert_resource(parent, window) is straddling
    assert parent.children == [inside, straddling]
    assert inside.parent is parent and window.parent is None


def test_insert_descends_into_a_conflict_that_contains_it():
    parent = res("parent", 0x0, 0xFFFF)
    big = linked(parent, "big", 0x1000, 0x4FFF)
    enclosed = linked(big, "enclosed", 0x2000, 0x20FF)
    new = res("new", 0x2000, 0x2FFF)
    assert insert_resource(parent, new) is None
    assert new.parent is big
    assert big.children == [new] and new.children == [enclosed]


def test_insert_of_an_identical_range_nests_the_existing_resource():
    parent = res("parent", 0x0, 0xFFFF)
    existing = linked(parent, "existing", 0x1000, 0x1FFF)
    twin = res("twin", 0x1000, 0x1FFF)
    assert insert_resource(parent, twin) is None
    assert parent.children == [twin] and twin.children == [existing]


def test_insert_outside_the_parent_returns_the_parent():
    parent = res("parent", 0x1000, 0x1FFF)
    assert insert_resource(parent, res("new", 0x1800, 0x2000)) is parent


# ----------------------------------------------------------------------------- find_resource_space


def test_vfio_dummy_pushes_a_sub_page_bar_to_the_next_page():
    window = bridge_window()
    linked(window, "BAR0", 0xFE800000, 0xFE8000FF)
    linked(window, "vfio sub-page reserved", 0xFE800100, 0xFE800FFF)
    new_bar = res("hot-plugged BAR", 0, 0xFF)
    assert find_resource_space(window, 0x100, 0, U64_MASK, 0x100) == 0xFE801000
    assert allocate_resource(window, new_bar, 0x100, 0, U64_MASK, 0x100) is True
    assert (new_bar.start, new_bar.end) == (0xFE801000, 0xFE8010FF)
    assert new_bar.parent is window


def test_without_the_dummy_the_bar_lands_right_after_its_neighbour():
    window = bridge_window()
    linked(window, "BAR0", 0xFE800000, 0xFE8000FF)
    assert find_resource_space(window, 0x100, 0, U64_MASK, 0x100) == 0xFE800100


def test_first_fit_takes_the_first_gap_that_fits_not_the_best_one():
    parent = res("parent", 0x0, 0xFFFF)
    linked(parent, "a", 0x0, 0xFFF)
    linked(parent, "b", 0x1200, 0x1FFF)        # leaves a 0x200 gap at 0x1000
    linked(parent, "c", 0x4000, 0x40FF)        # a 0x2000 gap at 0x2000
    assert find_resource_space(parent, 0x100, 0, U64_MASK, 0x100) == 0x1000
    assert find_resource_space(parent, 0x400, 0, U64_MASK, 0x100) == 0x2000
    assert find_resource_space(parent, 0x100, 0, U64_MASK, 0x2000) == 0x2000


def test_alignment_can_push_past_a_gap():
    parent = res("parent", 0x0, 0xFFFF)
    linked(parent, "a", 0x0, 0x7FF)
    linked(parent, "b", 0x1800, 0x1FFF)        # gap 0x800-0x17ff holds no 0x1000-aligned 0x1000
    assert find_resource_space(parent, 0x1000, 0, U64_MASK, 0x1000) == 0x2000


def test_allocation_fails_when_the_parent_is_full():
    parent = res("parent", 0x0, 0xFFF)
    linked(parent, "a", 0x0, 0x7FF)
    linked(parent, "b", 0x900, 0xFFF)
    new = res("new", 0x0, 0x1FF)
    assert find_resource_space(parent, 0x200, 0, U64_MASK, 1) is None
    assert allocate_resource(parent, new, 0x200, 0, U64_MASK, 1) is False
    assert new.parent is None and (new.start, new.end) == (0x0, 0x1FF)
    assert find_resource_space(parent, 0x100, 0, U64_MASK, 1) == 0x800


def test_allocation_in_an_empty_parent_starts_at_the_parent_start():
    parent = res("parent", 0x1234, 0xFFFF)
    assert find_resource_space(parent, 0x10, 0, U64_MASK, 1) == 0x1234
    assert find_resource_space(parent, 0x10, 0, U64_MASK, 0x100) == 0x1300


def test_min_and_max_clip_every_gap():
    parent = res("parent", 0x0, 0xFFFF)
    linked(parent, "a", 0x4000, 0x4FFF)
    assert find_resource_space(parent, 0x100, 0x1000, U64_MASK, 0x100) == 0x1000
    assert find_resource_space(parent, 0x100, 0x3F80, U64_MASK, 0x100) == 0x5000
    assert find_resource_space(parent, 0x100, 0x0, 0x0FF, 0x100) == 0x0
    assert find_resource_space(parent, 0x100, 0x0, 0x0FE, 0x100) is None
    assert find_resource_space(parent, 0x100, 0x5001, 0x5200, 0x100) == 0x5100
    assert find_resource_space(parent, 0x200, 0x5001, 0x5200, 0x100) is None


def test_a_child_at_the_parent_start_is_skipped():
    parent = res("parent", 0x1000, 0x1FFF)
    linked(parent, "first", 0x1000, 0x1FFF)
    assert find_resource_space(parent, 1, 0, U64_MASK, 1) is None


def test_space_at_the_very_top_of_the_address_space():
    root = iomem_root()
    linked(root, "low", 0x0, U64_MASK - 0x1000)
    assert find_resource_space(root, 0x1000, 0, U64_MASK, 0x1000) == U64_MASK - 0xFFF
    assert find_resource_space(root, 0x2000, 0, U64_MASK, 0x1000) is None


def test_align_that_wraps_past_the_top_skips_the_gap():
    root = iomem_root()
    linked(root, "low", 0x0, U64_MASK - 0x10)
    assert find_resource_space(root, 1, 0, U64_MASK, 1 << 63) is None
    assert find_resource_space(root, 1, 0, U64_MASK, 0x10) == U64_MASK - 0xF


def test_a_first_child_covering_all_of_iomem_wraps_the_gap_start_like_the_kernel():
    # `this->end + 1` for a first child ending at ~0 wraps to 0, so the whole space looks free to the
    # search; the request that follows then conflicts with that child.
    root = iomem_root()
    everything = linked(root, "everything", 0x0, U64_MASK)
    assert find_resource_space(root, 0x1000, 0, U64_MASK, 0x1000) == 0x0
    new = res("new", 0x0, 0xFFF)
    assert allocate_resource(root, new, 0x1000, 0, U64_MASK, 0x1000) is False
    assert new.parent is None and root.children == [everything]


# ----------------------------------------------------------------------------- reallocation


def test_reallocation_grows_in_place_when_nothing_lower_fits():
    parent = res("parent", 0x0, 0xFFFF)
    linked(parent, "a", 0x0, 0xFFF)
    bar = linked(parent, "bar", 0x1000, 0x10FF)
    kid = linked(bar, "kid", 0x1000, 0x100F)
    assert allocate_resource(parent, bar, 0x200, 0, U64_MASK, 0x100) is True
    assert (bar.start, bar.end) == (0x1000, 0x11FF)
    assert bar.parent is parent and bar.children == [kid]


def test_reallocation_merges_the_old_span_with_the_gap_below_it():
    parent = res("parent", 0x0, 0xFFFF)
    bar = linked(parent, "bar", 0x1000, 0x10FF)
    assert allocate_resource(parent, bar, 0x200, 0, U64_MASK, 0x100) is True
    assert (bar.start, bar.end) == (0x0, 0x1FF)   # lowest fit, the old span is free to it
    assert parent.children == [bar]


def test_reallocation_moves_a_childless_resource():
    parent = res("parent", 0x0, 0xFFFF)
    bar = linked(parent, "bar", 0x1000, 0x10FF)
    blocker = linked(parent, "blocker", 0x1100, 0x1FFF)
    assert allocate_resource(parent, bar, 0x1000, 0, U64_MASK, 0x1000) is True
    assert (bar.start, bar.end) == (0x0, 0xFFF)
    assert parent.children == [bar, blocker]
    assert allocate_resource(parent, bar, 0x1000, 0x2000, U64_MASK, 0x1000) is True
    assert (bar.start, bar.end) == (0x2000, 0x2FFF)
    assert parent.children == [blocker, bar] and bar.parent is parent


def test_reallocation_refuses_to_move_a_resource_with_children():
    parent = res("parent", 0x0, 0xFFFF)
    bar = linked(parent, "bar", 0x1000, 0x10FF)
    linked(parent, "blocker", 0x1100, 0x1FFF)
    linked(bar, "kid", 0x1000, 0x100F)
    assert allocate_resource(parent, bar, 0x1000, 0x2000, U64_MASK, 0x1000) is False
    assert (bar.start, bar.end) == (0x1000, 0x10FF)


def test_reallocation_shrinks_in_place():
    parent = res("parent", 0x0, 0xFFFF)
    linked(parent, "a", 0x0, 0xFFF)
    bar = linked(parent, "bar", 0x1000, 0x1FFF)
    assert allocate_resource(parent, bar, 0x100, 0, U64_MASK, 0x100) is True
    assert (bar.start, bar.end) == (0x1000, 0x10FF)


def test_reallocation_fails_without_space():
    parent = res("parent", 0x0, 0x1FFF)
    bar = linked(parent, "bar", 0x0, 0xFFF)
    linked(parent, "b", 0x1000, 0x1FFF)
    assert allocate_resource(parent, bar, 0x2000, 0, U64_MASK, 1) is False
    assert (bar.start, bar.end) == (0x0, 0xFFF)


# ----------------------------------------------------------------------------- request_region


def test_request_region_nests_under_a_non_busy_bar():
    window = bridge_window()
    bar = linked(window, "0000:01:00.0 BAR0", 0xFE800000, 0xFE800FFF)
    region = request_region(window, 0xFE800000, 0x100, "vfio-pci", owner=("bar", "0000:01:00.0", 0))
    assert region is not None and region.busy
    assert region.parent is bar and bar.children == [region]
    assert (region.start, region.end) == (0xFE800000, 0xFE8000FF)
    assert region.owner == ("bar", "0000:01:00.0", 0)


def test_request_region_descends_through_several_non_busy_levels():
    root = iomem_root()
    window = linked(root, "window", 0xFE800000, 0xFE9FFFFF)
    bar = linked(window, "bar", 0xFE800000, 0xFE800FFF)
    region = request_region(root, 0xFE800100, 0x10, "driver")
    assert region is not None and region.parent is bar


def test_request_region_over_a_non_busy_dummy_succeeds_as_its_child():
    window = bridge_window()
    linked(window, "BAR0", 0xFE800000, 0xFE8000FF)
    dummy = linked(window, "vfio sub-page reserved", 0xFE800100, 0xFE800FFF)
    region = request_region(window, 0xFE800200, 0x100, "other driver")
    assert region is not None and region.parent is dummy


def test_request_region_fails_against_a_busy_region():
    window = bridge_window()
    bar = linked(window, "bar", 0xFE800000, 0xFE800FFF)
    first = request_region(window, 0xFE800000, 0x1000, "vfio-pci")
    assert first is not None and first.parent is bar
    assert request_region(window, 0xFE800000, 0x100, "second") is None
    assert bar.children == [first]


def test_request_region_fails_when_it_straddles_a_non_busy_resource():
    window = bridge_window()
    linked(window, "bar", 0xFE800000, 0xFE800FFF)
    assert request_region(window, 0xFE800F00, 0x200, "straddler") is None


def test_request_region_in_free_space_goes_directly_under_the_parent():
    window = bridge_window()
    region = request_region(window, 0xFE900000, 0x1000, "free")
    assert region is not None and region.parent is window


def test_request_region_is_released_like_any_resource():
    window = bridge_window()
    region = request_region(window, 0xFE900000, 0x1000, "free")
    assert release_resource(region) is True
    assert request_region(window, 0xFE900000, 0x1000, "again") is not None


# ----------------------------------------------------------------------------- release_child_resources


def test_release_child_resources_detaches_and_resets_every_descendant():
    window = bridge_window()
    bar = linked(window, "bar", 0xFE810000, 0xFE813FFF)
    kid = linked(bar, "kid", 0xFE812000, 0xFE8120FF)
    other = linked(window, "other", 0xFE900000, 0xFE9FFFFF)
    release_child_resources(window)
    assert window.children == [] and (window.start, window.end) == (0xFE800000, 0xFE9FFFFF)
    assert window.parent is not None
    assert (bar.start, bar.end, bar.parent, bar.children) == (0, 0x3FFF, None, [])
    assert (kid.start, kid.end, kid.parent) == (0, 0xFF, None)
    assert (other.start, other.end) == (0, 0xFFFFF)
    assert bar.size() == 0x4000 and kid.size() == 0x100


def test_release_child_resources_keeps_busy_and_owner():
    parent = res("parent", 0x0, 0xFFFF)
    kid = linked(parent, "kid", 0x100, 0x1FF, busy=True, owner="tag")
    release_child_resources(parent)
    assert kid.busy and kid.owner == "tag"


# ----------------------------------------------------------------------------- render_tree, walk, find


def test_render_tree_mimics_proc_iomem():
    root = iomem_root()
    window = linked(root, "PCI Bus 0000:01", 0xFE800000, 0xFE9FFFFF)
    bar = linked(window, "0000:01:00.0", 0xFE800000, 0xFE8000FF)
    linked(window, "vfio sub-page reserved", 0xFE800100, 0xFE800FFF)
    request_region(root, 0xFE800000, 0x100, "vfio-pci")
    linked(root, "high", 0x1_0000_0000, 0x1_0000_0FFF)
    linked(root, "System RAM", 0x1000, 0x9FFFF)
    assert bar.children
    assert render_tree(root) == (
        "00001000-0009ffff : System RAM\n"
        "fe800000-fe9fffff : PCI Bus 0000:01\n"
        "  fe800000-fe8000ff : 0000:01:00.0\n"
        "    fe800000-fe8000ff : vfio-pci\n"
        "  fe800100-fe800fff : vfio sub-page reserved\n"
        "100000000-100000fff : high\n"
    )
    assert render_tree(root, show_addresses=False).splitlines()[0] == "00000000-00000000 : System RAM"


def test_render_tree_uses_four_digits_for_ioport_sized_roots_and_caps_depth():
    ioports = res("PCI IO", 0, 0xFFFF)
    node = ioports
    for level in range(7):
        node = linked(node, f"l{level}", 0x10, 0x1F)
    lines = render_tree(ioports).splitlines()
    assert lines[0] == "0010-001f : l0"
    assert [len(line) - len(line.lstrip(" ")) for line in lines] == [0, 2, 4, 6, 8, 10, 10]
    assert render_tree(res("empty", 0, 0xFFFF)) == ""


def test_walk_is_preorder_and_find_excludes_self():
    root = res("root", 0x0, 0xFFFF)
    a = linked(root, "a", 0x1000, 0x1FFF)
    a1 = linked(a, "a1", 0x1000, 0x10FF, busy=True)
    b = linked(root, "b", 0x0, 0xFF, busy=True)
    assert [(depth, node.name) for depth, node in root.walk()] == [(0, "root"), (1, "b"), (1, "a"), (2, "a1")]
    assert root.find(lambda node: node.busy) == [b, a1]
    assert root.find(lambda node: True) == [b, a, a1]
    assert iomem_root().size() == 1 << 64


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("start, end", [(-1, 0), (0, 1 << 64), (1 << 64, 1 << 64)])
def test_addresses_outside_u64_are_rejected(start, end):
    with pytest.raises(ResourceError):
        Resource("bad", start, end)


def test_addresses_changed_after_construction_are_checked_on_use():
    parent = res("parent", 0x0, 0xFFFF)
    new = res("new", 0x0, 0xF)
    new.end = -1
    with pytest.raises(ResourceError):
        request_resource(parent, new)


@pytest.mark.parametrize("size, align", [(0, 1), (0x100, 0), (0x100, 3), (0x100, 0x300), (1 << 64, 1)])
def test_bad_size_or_align_is_rejected(size, align):
    parent = res("parent", 0x0, 0xFFFF)
    with pytest.raises(ResourceError):
        find_resource_space(parent, size, 0, U64_MASK, align)
    with pytest.raises(ResourceError):
        allocate_resource(parent, res("new", 0, 0), size, 0, U64_MASK, align)


def test_bad_min_max_are_rejected():
    parent = res("parent", 0x0, 0xFFFF)
    with pytest.raises(ResourceError):
        find_resource_space(parent, 1, -1, U64_MASK, 1)
    with pytest.raises(ResourceError):
        find_resource_space(parent, 1, 0, 1 << 64, 1)


def test_bad_request_region_arguments_are_rejected():
    parent = res("parent", 0x0, U64_MASK)
    with pytest.raises(ResourceError):
        request_region(parent, 0x1000, 0, "empty")
    with pytest.raises(ResourceError):
        request_region(parent, U64_MASK, 2, "wraps")
    with pytest.raises(ResourceError):
        request_region(parent, -1, 1, "negative")


def test_linking_an_already_linked_resource_is_rejected():
    parent = res("parent", 0x0, 0xFFFF)
    other = res("other", 0x0, 0xFFFF)
    child = linked(parent, "child", 0x0, 0xF)
    with pytest.raises(ResourceError):
        request_resource(other, child)
    with pytest.raises(ResourceError):
        insert_resource(parent, child)
    with pytest.raises(ResourceError):
        request_resource(parent, parent)


# ----------------------------------------------------------------------------- randomized properties

SPACE_END = 0xFFF
POWERS_OF_TWO = [1 << bit for bit in range(9)]  # 1 .. 256


def assert_tree_invariants(root: Resource) -> None:
    for _, node in root.walk():
        for child in node.children:
            assert child.parent is node
            assert node.start <= child.start <= child.end <= node.end
        for left, right in zip(node.children, node.children[1:]):
            assert left.end < right.start


def brute_force_space(root: Resource, size: int, min_addr: int, max_addr: int, align: int) -> int | None:
    taken = [(child.start, child.end) for child in root.children]
    lowest = max(root.start, min_addr)
    highest = min(root.end, max_addr)
    first = -(-lowest // align) * align
    for start in range(first, highest - size + 2, align):
        end = start + size - 1
        if all(end < s or start > e for s, e in taken):
            return start
    return None


def random_operation(rng: random.Random, root: Resource, nodes: list[Resource]) -> None:
    kind = rng.choice(["request", "request", "insert", "allocate", "region", "release", "remove"])
    target = rng.choice(nodes)
    start = rng.randrange(0, SPACE_END + 1)
    end = min(SPACE_END, start + rng.choice(POWERS_OF_TWO) - 1)
    if kind == "request":
        new = Resource(f"r{len(nodes)}", start, end, busy=rng.random() < 0.3)
        if request_resource(target, new) is None:
            nodes.append(new)
    elif kind == "insert":
        new = Resource(f"i{len(nodes)}", start, end)
        if insert_resource(target, new) is None:
            nodes.append(new)
    elif kind == "allocate":
        new = Resource(f"a{len(nodes)}", 0, 0)
        if allocate_resource(target, new, rng.choice(POWERS_OF_TWO), 0, U64_MASK, rng.choice(POWERS_OF_TWO)):
            nodes.append(new)
    elif kind == "region":
        region = request_region(target, start, end - start + 1, f"g{len(nodes)}")
        if region is not None:
            nodes.append(region)
    elif target is not root:
        release = release_resource if kind == "release" else remove_resource
        assert release(target) is True
        attached = {id(node) for _, node in root.walk()}
        nodes[:] = [node for node in nodes if id(node) in attached]


@pytest.mark.parametrize("seed", range(300))
def test_random_operations_keep_the_tree_valid_and_find_space_matches_brute_force(seed):
    rng = random.Random(seed)
    root = Resource("root", rng.choice([0x0, 0x0, 0x40, 0x101]), SPACE_END)
    nodes = [root]
    for _ in range(rng.randrange(1, 25)):
        random_operation(rng, root, nodes)
        assert_tree_invariants(root)
    for _ in range(5):
        target = rng.choice(nodes)
        size, align = rng.choice(POWERS_OF_TWO), rng.choice(POWERS_OF_TWO)
        min_addr = rng.choice([0, rng.randrange(0, SPACE_END + 1)])
        max_addr = rng.choice([U64_MASK, rng.randrange(min_addr, SPACE_END + 1)])
        expected = brute_force_space(target, size, min_addr, max_addr, align)
        assert find_resource_space(target, size, min_addr, max_addr, align) == expected


@pytest.mark.parametrize("seed", range(100))
def test_reallocation_keeps_the_tree_valid_and_matches_brute_force_with_the_old_span_free(seed):
    rng = random.Random(10_000 + seed)
    root = Resource("root", 0x0, SPACE_END)
    nodes = [root]
    for _ in range(rng.randrange(1, 12)):
        random_operation(rng, root, nodes)
    candidates = [node for node in root.children]
    if not candidates:
        return
    old = rng.choice(candidates)
    before = (old.start, old.end)
    had_children = bool(old.children)
    size, align = rng.choice(POWERS_OF_TWO), rng.choice(POWERS_OF_TWO)
    others = [child for child in root.children if child is not old]
    probe = Resource("probe", 0x0, SPACE_END, children=others)
    expected = brute_force_space(probe, size, 0, U64_MASK, align)

    moved = allocate_resource(root, old, size, 0, U64_MASK, align)

    assert_tree_invariants(root)
    assert old.parent is root
    if expected is None:
        assert moved is False and (old.start, old.end) == before
        return
    new_span = (expected, expected + size - 1)
    encloses_old = new_span[0] <= before[0] and before[1] <= new_span[1]
    if had_children and not encloses_old:
        assert moved is False and (old.start, old.end) == before
    else:
        assert moved is True and (old.start, old.end) == new_span
