"""Address maps as standalone SVG: the pages a counterexample touches, its blocks in lanes, on a page ruler.

Only the pages that non-window blocks touch (plus one page of context each side) are drawn; runs of
pages far apart are separated by a break marker.  Each run is linear, so page boundaries and the
order of blocks are exact, while a block of a few bytes is still drawn a few pixels wide.
All geometry is integer, so the output is byte-for-byte stable.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

ROLES = ("window", "bar", "device", "foreign", "dummy", "mapping", "table", "request")

ROLE_MEANING = {
    "window": "bus/bridge window",
    "bar": "device under test",
    "device": "other resource, not leaking",
    "foreign": "resource that leaks",
    "dummy": "vfio dummy reservation",
    "mapping": "user mapping",
    "table": "MSI-X table",
    "request": "mmap request",
}

LANE_GROUPS = (("window",), ("bar", "device", "foreign"), ("dummy",), ("table",))
OUTLINE_ROLES = ("mapping", "request")

ADDR_LIMIT = 1 << 64

FEW_PAGES = 8
PAGE_PX_FEW = 150
MAX_PLOT_PX = 1100
INTERVAL_CAP_PAGES = 16
MIN_INTERVAL_PX = 48
BREAK_PX = 32
MIN_BLOCK_PX = 3
MAX_TICK_LABELS = 16
MIN_TICK_GAP_PX = 4

MARGIN_X_PX = 72
CANVAS_MIN_PX = 480
CANVAS_TITLE_MAX_PX = 1400
CANVAS_LABELS_MAX_PX = 1400
FONT_PX = 11
CHAR_PX = 7
TITLE_FONT_PX = 14
TITLE_CHAR_PX = 9
LABEL_PAD_PX = 4
LABEL_GAP_PX = 8
MAX_LABEL_CHARS = 60

TITLE_H_PX = 30
RULER_H_PX = 44
LANE_H_PX = 24
LANE_GAP_PX = 4
OUTLINE_LABEL_H_PX = 16
GROUP_GAP_PX = 10
LEGEND_ROW_H_PX = 20
BOTTOM_PX = 10
ARROW_PX = 10


@dataclass(frozen=True)
class Style:
    fill: str
    stroke: str
    stroke_px: int
    dash: str = ""


HATCH_FILL = "hatch"  # replaced by a url() to the map's own <pattern>

ROLE_STYLE = {
    "window": Style("#f3f3ec", "#a3a38c", 1),
    "bar": Style("#cfe0fb", "#1f5fbf", 1),
    "device": Style("#e2e2e2", "#7f7f7f", 1),
    "foreign": Style("#fbcfcf", "#d00000", 3),
    "dummy": Style(HATCH_FILL, "#6f6f6f", 1),
    "mapping": Style("none", "#1a7f37", 2, "6 3"),
    "table": Style("#ffd49c", "#d9822b", 1),
    "request": Style("none", "#8250df", 2, "2 3"),
}

# Characters XML 1.0 forbids outright; lone surrogates cannot even be encoded as UTF-8.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NOT_ID = re.compile(r"[^A-Za-z0-9_.-]")


def esc(text: Any) -> str:
    """Text safe inside XML/HTML elements and double- or single-quoted attributes."""
    return html.escape(_NOT_XML.sub("\ufffd", str(text)), quote=True)


# ----------------------------------------------------------------------------- the document


@dataclass(frozen=True)
class Block:
    role: str
    label: str
    start_addr: int
    end_addr: int  # inclusive

    @property
    def stop_addr(self) -> int:
        return self.end_addr + 1

    @property
    def size_bytes(self) -> int:
        return self.end_addr - self.start_addr + 1

    def tooltip(self) -> str:
        return f"{self.label} [{self.start_addr:#x}-{self.end_addr:#x}] size {self.size_bytes:#x}"


def parse_int(value: Any, what: str) -> int:
    """An address or size given as a hex string ("0xfe000000"), a decimal string or an int."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value.strip(), 0)
        except ValueError:
            raise ValueError(f"{what}: {value!r} is not a number (expected hex such as 0xfe000000)") from None
    else:
        raise ValueError(f"{what}: {value!r} is not a number")
    if not 0 <= number < ADDR_LIMIT:
        raise ValueError(f"{what}: {number:#x} is outside the 64-bit address space")
    return number


def parse_page_size(value: Any) -> int:
    page_bytes = parse_int(value, "page_size")
    if page_bytes == 0 or page_bytes & (page_bytes - 1):
        raise ValueError(f"page_size {page_bytes:#x} is not a power of two")
    return page_bytes


def parse_block(raw: dict, index: int) -> Block:
    role = raw.get("role")
    if role not in ROLES:
        raise ValueError(f"block {index}: unknown role {role!r} (expected one of {', '.join(ROLES)})")
    start_addr = parse_int(raw.get("start"), f"block {index} start")
    end_addr = parse_int(raw.get("end"), f"block {index} end")
    if end_addr < start_addr:
        raise ValueError(f"block {index}: end {end_addr:#x} is below start {start_addr:#x}")
    return Block(role, str(raw.get("label", "")), start_addr, end_addr)


def parse_blocks(map_doc: dict) -> list[Block]:
    return [parse_block(raw, index) for index, raw in enumerate(map_doc.get("blocks") or [])]


# ----------------------------------------------------------------------------- which pages are drawn


def merge_page_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, merged (first_page, last_page) spans; a gap of a single page is drawn rather than broken."""
    merged: list[tuple[int, int]] = []
    for first_page, last_page in sorted(spans):
        if merged and first_page <= merged[-1][1] + 2:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last_page))
        else:
            merged.append((first_page, last_page))
    return merged


def block_pages(block: Block, page_bytes: int) -> tuple[int, int]:
    return block.start_addr // page_bytes, block.end_addr // page_bytes


def with_context(span: tuple[int, int], top_page: int) -> tuple[int, int]:
    return max(span[0] - 1, 0), min(span[1] + 1, top_page)


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def drawn_page_spans(blocks: list[Block], page_bytes: int) -> list[tuple[int, int]]:
    top_page = (ADDR_LIMIT - 1) // page_bytes
    focus = [block_pages(b, page_bytes) for b in blocks if b.role != "window"]
    windows = [block_pages(b, page_bytes) for b in blocks if b.role == "window"]
    if not focus:
        return merge_page_spans(windows)
    spans = merge_page_spans(with_context(span, top_page) for span in focus)
    # A window that shares no page with the rest still gets its first page, so it is not lost.
    strays = [(w[0], w[0]) for w in windows if not any(overlaps(w, s) for s in spans)]
    return merge_page_spans(spans + strays)


# ----------------------------------------------------------------------------- horizontal scale


@dataclass(frozen=True)
class Interval:
    start_addr: int
    stop_addr: int  # one past the last byte drawn
    x_px: int
    width_px: int

    @property
    def right_px(self) -> int:
        return self.x_px + self.width_px

    def x_of(self, addr: int) -> int:
        return self.x_px + (addr - self.start_addr) * self.width_px // (self.stop_addr - self.start_addr)

    def clip(self, block: Block) -> tuple[int, int] | None:
        start_addr, stop_addr = max(block.start_addr, self.start_addr), min(block.stop_addr, self.stop_addr)
        return (start_addr, stop_addr) if start_addr < stop_addr else None

    def block_px(self, start_addr: int, stop_addr: int) -> tuple[int, int]:
        """Pixel extent [x0, x1) of bytes [start_addr, stop_addr), at least MIN_BLOCK_PX wide."""
        x0, x1 = self.x_of(start_addr), self.x_of(stop_addr)
        if x1 - x0 >= MIN_BLOCK_PX:
            return x0, x1
        x0 = min(x0, self.right_px - MIN_BLOCK_PX)
        return x0, x0 + MIN_BLOCK_PX


def interval_widths(page_counts: list[int]) -> list[int]:
    if sum(page_counts) <= FEW_PAGES:
        return [pages * PAGE_PX_FEW for pages in page_counts]
    avail_px = max(MAX_PLOT_PX - BREAK_PX * (len(page_counts) - 1), MIN_INTERVAL_PX * len(page_counts))
    weights = [min(pages, INTERVAL_CAP_PAGES) for pages in page_counts]
    return [max(MIN_INTERVAL_PX, avail_px * weight // sum(weights)) for weight in weights]


def layout_intervals(spans: list[tuple[int, int]], page_bytes: int) -> list[Interval]:
    widths = interval_widths([last - first + 1 for first, last in spans])
    intervals, x_px = [], MARGIN_X_PX
    for (first_page, last_page), width_px in zip(spans, widths):
        intervals.append(Interval(first_page * page_bytes, (last_page + 1) * page_bytes, x_px, width_px))
        x_px += width_px + BREAK_PX
    return intervals


def plot_right_px(intervals: list[Interval]) -> int:
    return intervals[-1].right_px if intervals else MARGIN_X_PX


# ----------------------------------------------------------------------------- text


def text_px(text: str) -> int:
    return len(text) * CHAR_PX


def fit_text(text: str, room_px: int) -> str:
    """`text`, cut with an ellipsis to fit `room_px`; empty when not even one character fits."""
    max_chars = min(room_px // CHAR_PX, MAX_LABEL_CHARS)
    if len(text) <= max_chars:
        return text
    return text[: max_chars - 1] + "…" if max_chars >= 2 else ""


@dataclass
class Placed:
    """A block's rect in pixels and where its label goes.  `lane` is filled in by packing."""

    block: Block
    x0_px: int
    x1_px: int
    text: str = ""
    text_x_px: int = 0
    anchor: str = "middle"
    cont_left: bool = False
    cont_right: bool = False
    lane: int = 0

    def text_extent(self) -> tuple[int, int]:
        width_px = text_px(self.text)
        if self.anchor == "start":
            return self.text_x_px, self.text_x_px + width_px
        if self.anchor == "end":
            return self.text_x_px - width_px, self.text_x_px
        return self.text_x_px - width_px // 2, self.text_x_px + width_px - width_px // 2

    def extent(self) -> tuple[int, int]:
        if not self.text:
            return self.x0_px, self.x1_px
        lo_px, hi_px = self.text_extent()
        return min(self.x0_px, lo_px), max(self.x1_px, hi_px)


def label_texts(block: Block) -> list[str]:
    """Label candidates, best first: with the exact byte range (readable without hovering), then without."""
    span = f"[{block.start_addr:#x}-{block.end_addr:#x}]"
    return [f"{block.label} {span}" if block.label else span, block.label]


def first_fitting(texts: list[str], room_px: int) -> str | None:
    return next((text for text in texts if text and text_px(text) <= room_px), None)


def label_inside(placed: Placed, room_px: int) -> None:
    placed.text = first_fitting(label_texts(placed.block), room_px) or fit_text(placed.block.label, room_px)
    placed.text_x_px, placed.anchor = (placed.x0_px + placed.x1_px) // 2, "middle"


def label_outside(placed: Placed, bounds_px: tuple[int, int]) -> None:
    """Beside the rect: right if it fits, else left if it fits, else the roomier side, truncated."""
    right_room = bounds_px[1] - (placed.x1_px + LABEL_PAD_PX)
    left_room = (placed.x0_px - LABEL_PAD_PX) - bounds_px[0]
    right = (placed.x1_px + LABEL_PAD_PX, "start")
    left = (placed.x0_px - LABEL_PAD_PX, "end")
    for text in label_texts(placed.block):
        for room_px, (x_px, anchor) in ((right_room, right), (left_room, left)):
            if text and text_px(text) <= room_px:
                placed.text, placed.text_x_px, placed.anchor = text, x_px, anchor
                return
    room_px, (x_px, anchor) = max((right_room, right), (left_room, left))
    placed.text, placed.text_x_px, placed.anchor = fit_text(placed.block.label, room_px), x_px, anchor


def place_label(placed: Placed, bounds_px: tuple[int, int]) -> None:
    """Inside when it fits or the rect is wide enough for a truncated label, else beside the rect."""
    inner_px = placed.x1_px - placed.x0_px - 2 * LABEL_PAD_PX
    if first_fitting(label_texts(placed.block), inner_px) or inner_px >= 10 * CHAR_PX:
        label_inside(placed, inner_px)
    else:
        label_outside(placed, bounds_px)


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


# ----------------------------------------------------------------------------- the ruler


@dataclass(frozen=True)
class Tick:
    x_px: int
    addr: int
    rank: int  # lower labels first; 0 and 1 are the ends of the whole ruler

    def text(self) -> str:
        return "2^64" if self.addr == ADDR_LIMIT else f"{self.addr:#x}"


def trailing_zero_bits(number: int) -> int:
    return 64 if number == 0 else (number & -number).bit_length() - 1


def tick_step_pages(page_count: int, width_px: int) -> int:
    step_pages = 1
    while (-(-page_count // step_pages) > MAX_TICK_LABELS
           or width_px * step_pages < MIN_TICK_GAP_PX * page_count):
        step_pages *= 2
    return step_pages


def interval_ticks(iv: Interval, page_bytes: int, end_ranks: tuple[int, int]) -> list[Tick]:
    first_page, stop_page = iv.start_addr // page_bytes, iv.stop_addr // page_bytes
    step_pages = tick_step_pages(stop_page - first_page, iv.width_px)
    inner_first = -(-(first_page + 1) // step_pages) * step_pages
    ticks = [Tick(iv.x_px, iv.start_addr, end_ranks[0])]
    for page in range(inner_first, stop_page, step_pages):
        ticks.append(Tick(iv.x_of(page * page_bytes), page * page_bytes, 10 + 64 - trailing_zero_bits(page)))
    ticks.append(Tick(iv.right_px, iv.stop_addr, end_ranks[1]))
    return ticks


def ruler_ticks(intervals: list[Interval], page_bytes: int) -> list[Tick]:
    ticks = []
    for index, iv in enumerate(intervals):
        end_ranks = (0 if index == 0 else 2, 1 if index == len(intervals) - 1 else 2)
        ticks += interval_ticks(iv, page_bytes, end_ranks)
    return ticks


def label_rows(ticks: list[Tick]) -> dict[int, int]:
    """Tick index -> label row (0 near the axis, 1 above).  Ends of runs may use both rows; others only row 0."""
    rows: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])
    chosen: dict[int, int] = {}
    for index in sorted(range(len(ticks)), key=lambda i: (ticks[i].rank, ticks[i].x_px)):
        tick = ticks[index]
        width_px = text_px(tick.text())
        lo_px, hi_px = tick.x_px - width_px // 2, tick.x_px + width_px - width_px // 2
        for row in ((0, 1) if tick.rank <= 2 else (0,)):
            if all(hi_px + LABEL_GAP_PX <= a or b + LABEL_GAP_PX <= lo_px for a, b in rows[row]):
                rows[row].append((lo_px, hi_px))
                chosen[index] = row
                break
    return chosen


def ruler_svg(intervals: list[Interval], page_bytes: int, top_px: int, bottom_px: int) -> list[str]:
    axis_px = top_px + 34
    out = ['<g class="ruler" stroke="#555555" fill="#333333">']
    out += [f'<line x1="{iv.x_px}" y1="{axis_px}" x2="{iv.right_px}" y2="{axis_px}"/>' for iv in intervals]
    ticks = ruler_ticks(intervals, page_bytes)
    rows = label_rows(ticks)
    for index, tick in enumerate(ticks):
        out.append(f'<line class="grid" x1="{tick.x_px}" y1="{axis_px}" x2="{tick.x_px}" y2="{bottom_px}" '
                   f'stroke="#dddddd"/>')
        row = rows.get(index)
        tick_top_px = axis_px - 5 if row is None else axis_px - 8 - 13 * row
        out.append(f'<line x1="{tick.x_px}" y1="{tick_top_px}" x2="{tick.x_px}" y2="{axis_px + 4}"/>')
        if row is not None:
            out.append(f'<text class="tick" x="{tick.x_px}" y="{axis_px - 10 - 13 * row}" text-anchor="middle" '
                       f'stroke="none">{esc(tick.text())}</text>')
    out.append("</g>")
    return out


def breaks_svg(intervals: list[Interval], page_bytes: int, top_px: int, bottom_px: int) -> list[str]:
    axis_px = top_px + 34
    out = []
    for left, right in zip(intervals, intervals[1:]):
        gap_bytes = right.start_addr - left.stop_addr
        mid_px = (left.right_px + right.x_px) // 2
        zigzag = " ".join(f"{mid_px + (4 if i % 2 else -4)},{y}" for i, y in
                          enumerate(range(axis_px + 8, bottom_px + 1, 6)))
        out += [f'<g class="break"><title>not drawn: {gap_bytes:#x} bytes ({gap_bytes // page_bytes} pages)</title>',
                f'<text x="{mid_px}" y="{axis_px + 5}" text-anchor="middle" font-size="16" fill="#555555">≈</text>',
                f'<polyline points="{zigzag}" fill="none" stroke="#999999" stroke-width="1"/>' if zigzag else "",
                "</g>"]
    return [line for line in out if line]


# ----------------------------------------------------------------------------- drawing blocks


def fill_of(role: str, hatch_id: str) -> str:
    fill = ROLE_STYLE[role].fill
    return f"url(#{hatch_id})" if fill == HATCH_FILL else fill


def style_attrs(role: str, hatch_id: str) -> str:
    style = ROLE_STYLE[role]
    dash = f' stroke-dasharray="{style.dash}"' if style.dash else ""
    return f'fill="{fill_of(role, hatch_id)}" stroke="{style.stroke}" stroke-width="{style.stroke_px}"{dash}'


def rect_svg(placed: Placed, y_px: int, height_px: int, hatch_id: str) -> str:
    role = placed.block.role
    return (f'<rect class="block {role}" x="{placed.x0_px}" y="{y_px}" width="{placed.x1_px - placed.x0_px}" '
            f'height="{height_px}" {style_attrs(role, hatch_id)}><title>{esc(placed.block.tooltip())}</title></rect>')


def label_svg(placed: Placed, baseline_px: int) -> str:
    if not placed.text:
        return ""
    return (f'<text class="label" x="{placed.text_x_px}" y="{baseline_px}" text-anchor="{placed.anchor}">'
            f'{esc(placed.text)}</text>')


def arrows_svg(placed: Placed, y_px: int) -> list[str]:
    mid_px = y_px + LANE_H_PX // 2
    out: list[str] = []
    if placed.x1_px - placed.x0_px < 3 * ARROW_PX:
        return out
    if placed.cont_left:
        x = placed.x0_px + 2
        out.append(f'<polygon class="continues" points="{x},{mid_px} {x + 7},{mid_px - 5} {x + 7},{mid_px + 5}" '
                   f'fill="#a3a38c"/>')
    if placed.cont_right:
        x = placed.x1_px - 2
        out.append(f'<polygon class="continues" points="{x},{mid_px} {x - 7},{mid_px - 5} {x - 7},{mid_px + 5}" '
                   f'fill="#a3a38c"/>')
    return out


def lane_y(group_top_px: int, lane: int) -> int:
    return group_top_px + lane * (LANE_H_PX + LANE_GAP_PX)


def group_height(lane_count: int) -> int:
    return lane_count * (LANE_H_PX + LANE_GAP_PX) - LANE_GAP_PX if lane_count else 0


def lane_block_svg(placed: Placed, group_top_px: int, hatch_id: str) -> list[str]:
    y_px = lane_y(group_top_px, placed.lane)
    out = [f'<g class="{placed.block.role}">', rect_svg(placed, y_px, LANE_H_PX, hatch_id)]
    out += arrows_svg(placed, y_px)
    out += [label_svg(placed, y_px + LANE_H_PX // 2 + FONT_PX * 4 // 10), "</g>"]
    return [line for line in out if line]


def outline_svg(placed: Placed, index: int, labels_top_px: int, bars_bottom_px: int) -> list[str]:
    """A mapping or request: a dashed frame from its label row down through the bar lanes."""
    pad_px = 3 + 2 * (index % 3)  # outside the blocks it frames, so a 3 px BAR at its edge stays visible
    y_px = labels_top_px + placed.lane * OUTLINE_LABEL_H_PX
    framed = Placed(placed.block, placed.x0_px - pad_px, placed.x1_px + pad_px)
    out = [f'<g class="{placed.block.role}">',
           rect_svg(framed, y_px, bars_bottom_px - y_px + pad_px, ""),
           label_svg(placed, y_px + OUTLINE_LABEL_H_PX - 4), "</g>"]
    return [line for line in out if line]


# ----------------------------------------------------------------------------- legend and frame


def legend_items(roles_present: set[str]) -> list[tuple[str, str]]:
    return [(role, f"{role}: {ROLE_MEANING[role]}") for role in ROLES if role in roles_present]


def legend_layout(items: list[tuple[str, str]], canvas_px: int) -> list[tuple[str, str, int, int]]:
    """(role, text, x, row) for each legend entry, wrapping at the canvas edge."""
    placed, x_px, row = [], 16, 0
    for role, text in items:
        item_px = 22 + text_px(text) + 18
        if x_px > 16 and x_px + item_px > canvas_px - 16:
            x_px, row = 16, row + 1
        placed.append((role, text, x_px, row))
        x_px += item_px
    return placed


def legend_svg(layout: list[tuple[str, str, int, int]], top_px: int, hatch_id: str) -> list[str]:
    out = ['<g class="legend">']
    for role, text, x_px, row in layout:
        y_px = top_px + row * LEGEND_ROW_H_PX
        out.append(f'<rect class="swatch {role}" x="{x_px}" y="{y_px + 3}" width="16" height="10" '
                   f'{style_attrs(role, hatch_id)}/>')
        out.append(f'<text x="{x_px + 22}" y="{y_px + 12}">{esc(text)}</text>')
    out.append("</g>")
    return out


def hatch_defs(hatch_id: str) -> list[str]:
    return ["<defs>",
            f'<pattern id="{hatch_id}" patternUnits="userSpaceOnUse" width="6" height="6" '
            'patternTransform="rotate(45)">',
            '<rect width="6" height="6" fill="#ffffff"/>',
            '<line x1="0" y1="0" x2="0" y2="6" stroke="#8a8a8a" stroke-width="3"/>',
            "</pattern>", "</defs>"]


def canvas_width(intervals: list[Interval], title: str) -> int:
    title_px = min(len(title) * TITLE_CHAR_PX + 32, CANVAS_TITLE_MAX_PX)
    return max(plot_right_px(intervals) + MARGIN_X_PX, title_px, CANVAS_MIN_PX)


def title_svg(title: str, canvas_px: int) -> str:
    max_chars = (canvas_px - 32) // TITLE_CHAR_PX
    shown = title if len(title) <= max_chars else title[: max_chars - 1] + "…"
    return (f'<text class="title" x="16" y="{10 + TITLE_FONT_PX + 4}" font-size="{TITLE_FONT_PX}" '
            f'font-weight="bold">{esc(shown)}</text>')


# ----------------------------------------------------------------------------- the map


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


def empty_note(canvas_px: int, y_px: int) -> list[str]:
    return [f'<text class="empty" x="{canvas_px // 2}" y="{y_px + 16}" text-anchor="middle">no blocks</text>']


def render_map(map_doc: dict, *, id_prefix: str = "map-") -> str:
    """A standalone SVG document for one address map.  `id_prefix` keeps element ids unique when several maps
    are inlined in one HTML page.  Raises ValueError for an unknown role or a malformed address."""
    page_bytes = parse_page_size(map_doc.get("page_size"))
    blocks = parse_blocks(map_doc)
    title = str(map_doc.get("title", ""))
    hatch_id = _NOT_ID.sub("_", id_prefix) + "hatch"
    intervals = layout_intervals(drawn_page_spans(blocks, page_bytes), page_bytes)
    canvas_px = canvas_width(intervals, title)
    lanes = arrange(blocks, intervals, (8, max(canvas_px, CANVAS_LABELS_MAX_PX) - 8))
    canvas_px = max(canvas_px, drawn_right_px(lanes) + 8)
    ruler_top_px = TITLE_H_PX
    tops, labels_top_px, bottom_px = group_tops(lanes, ruler_top_px + RULER_H_PX)
    if not blocks:
        bottom_px = ruler_top_px + RULER_H_PX + 24
    legend = legend_layout(legend_items({b.role for b in blocks}), canvas_px)
    legend_top_px = bottom_px + GROUP_GAP_PX + 4
    height_px = legend_top_px + (legend[-1][3] + 1 if legend else 0) * LEGEND_ROW_H_PX + BOTTOM_PX

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{canvas_px}" height="{height_px}" '
           f'viewBox="0 0 {canvas_px} {height_px}" font-family="monospace" font-size="{FONT_PX}" '
           f'class="barcheck-map" role="img" aria-label="{esc(title)}">',
           f"<title>{esc(title)}</title>"]
    if any(b.role == "dummy" for b in blocks):
        out += hatch_defs(hatch_id)
    out.append(f'<rect class="background" width="{canvas_px}" height="{height_px}" fill="#ffffff"/>')
    out.append(title_svg(title, canvas_px))
    out += ruler_svg(intervals, page_bytes, ruler_top_px, bottom_px)
    for items, top_px in zip(lanes.groups, tops):
        for placed in items:
            out += lane_block_svg(placed, top_px, hatch_id)
    bars_bottom_px = tops[1] + group_height(lanes.counts[1])
    for index, placed in enumerate(lanes.outlines):
        out += outline_svg(placed, index, labels_top_px, bars_bottom_px)
    out += breaks_svg(intervals, page_bytes, ruler_top_px, bottom_px)
    if not blocks:
        out += empty_note(canvas_px, ruler_top_px + RULER_H_PX)
    out += legend_svg(legend, legend_top_px, hatch_id)
    out.append("</svg>")
    return "\n".join(out) + "\n"
