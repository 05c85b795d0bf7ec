"""Address-map lanes: each block placed on the pixel scale, then packed into non-overlapping lanes per role group."""

from __future__ import annotations

from dataclasses import dataclass, field

from barcheck.render.svg_geometry import Block, Interval
from barcheck.render.svg_text import LABEL_GAP_PX, LABEL_PAD_PX, Placed, label_inside, place_label

LANE_GROUPS = (("window",), ("bar", "device", "foreign"), ("dummy",), ("table",))
OUTLINE_ROLES = ("mapping", "request")

LANE_H_PX = 24
LANE_GAP_PX = 4
OUTLINE_LABEL_H_PX = 16
GROUP_GAP_PX = 10
ARROW_PX = 10


# ----------------------------------------------------------------------------- placing blocks


def containing_interval(intervals: list[Interval], block: Block) -> Interval:
    return next(iv for iv in intervals if iv.start_addr <= block.start_addr < iv.stop_addr)


def place_block(block: Block, intervals: list[Interval], bounds_px: tuple[int, int]) -> Placed:
    x0_px, x1_px = containing_interval(intervals, block).block_px(block.start_addr, block.stop_addr)
    placed = Placed(block, x0_px, x1_px)
    place_label(placed, bounds_px)
    return placed


def place_window(block: Block, intervals: list[Interval]) -> list[Placed]:
    """One piece per drawn interval the window reaches; arrows mark where it goes on beyond the piece."""
    pieces = []
    for iv in intervals:
        clipped = iv.clip(block)
        if clipped is None:
            continue
        x0_px, x1_px = iv.block_px(*clipped)
        pieces.append(Placed(block, x0_px, x1_px, cont_left=clipped[0] > block.start_addr,
                             cont_right=clipped[1] < block.stop_addr))
    if pieces:
        first = pieces[0]
        arrows_px = ARROW_PX * (first.cont_left + first.cont_right)
        label_inside(first, first.x1_px - first.x0_px - 2 * LABEL_PAD_PX - 2 * arrows_px)
    return pieces


def pack_lanes(items: list[Placed]) -> int:
    """Greedy interval colouring on pixel extents (labels included), in the order given; returns the lane count."""
    lanes: list[list[tuple[int, int]]] = []
    for item in items:
        lo_px, hi_px = item.extent()
        for lane, spans in enumerate(lanes):
            if all(hi_px + LABEL_GAP_PX <= a or b + LABEL_GAP_PX <= lo_px for a, b in spans):
                item.lane = lane
                spans.append((lo_px, hi_px))
                break
        else:
            item.lane = len(lanes)
            lanes.append([(lo_px, hi_px)])
    return len(lanes)


def by_start(items: list[Placed]) -> list[Placed]:
    return sorted(items, key=lambda p: p.block.start_addr)


def windows_outer_first(items: list[Placed]) -> list[Placed]:
    return sorted(items, key=lambda p: (p.block.start_addr, -p.block.end_addr))


# ----------------------------------------------------------------------------- lane groups


@dataclass
class Lanes:
    """Placed blocks per lane group, and each group's lane count."""

    groups: list[list[Placed]] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    outlines: list[Placed] = field(default_factory=list)
    outline_rows: int = 0


def arrange(blocks: list[Block], intervals: list[Interval], bounds_px: tuple[int, int]) -> Lanes:
    lanes = Lanes()
    for roles in LANE_GROUPS:
        if roles == ("window",):
            items = windows_outer_first([p for b in blocks if b.role == "window" for p in place_window(b, intervals)])
        else:
            items = by_start([place_block(b, intervals, bounds_px) for b in blocks if b.role in roles])
        lanes.groups.append(items)
        lanes.counts.append(pack_lanes(items))
    lanes.outlines = by_start([place_block(b, intervals, bounds_px) for b in blocks if b.role in OUTLINE_ROLES])
    lanes.outline_rows = pack_lanes(lanes.outlines)
    if lanes.outlines and not lanes.counts[1]:
        lanes.counts[1] = 1  # outlines span the bar lanes, so keep one even when it is empty
    return lanes


def drawn_right_px(lanes: Lanes) -> int:
    return max((p.extent()[1] for items in lanes.groups + [lanes.outlines] for p in items), default=0)


def group_tops(lanes: Lanes, top_px: int) -> tuple[list[int], int, int]:
    """Top of each lane group, top of the outline label rows, and the bottom of everything drawn."""
    tops, y_px, labels_top_px = [], top_px, top_px
    for index, count in enumerate(lanes.counts):
        if index == 1:
            labels_top_px = y_px
            y_px += lanes.outline_rows * OUTLINE_LABEL_H_PX
        tops.append(y_px)
        if count:
            y_px += group_height(count) + GROUP_GAP_PX
    return tops, labels_top_px, y_px - GROUP_GAP_PX


def lane_y(group_top_px: int, lane: int) -> int:
    return group_top_px + lane * (LANE_H_PX + LANE_GAP_PX)


def group_height(lane_count: int) -> int:
    return lane_count * (LANE_H_PX + LANE_GAP_PX) - LANE_GAP_PX if lane_count else 0
