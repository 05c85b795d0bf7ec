"""Address-map drawing: the SVG elements of the ruler, breaks, blocks, outlines, legend and title."""

from __future__ import annotations

from dataclasses import dataclass

from barcheck.render.svg_geometry import MARGIN_X_PX, ROLES, Interval, plot_right_px, ruler_ticks
from barcheck.render.svg_lanes import ARROW_PX, LANE_H_PX, OUTLINE_LABEL_H_PX, lane_y
from barcheck.render.svg_text import FONT_PX, TITLE_CHAR_PX, TITLE_FONT_PX, Placed, esc, label_rows, text_px

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

CANVAS_MIN_PX = 480
CANVAS_TITLE_MAX_PX = 1400
LEGEND_ROW_H_PX = 20


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


# ----------------------------------------------------------------------------- the ruler


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


def empty_note(canvas_px: int, y_px: int) -> list[str]:
    return [f'<text class="empty" x="{canvas_px // 2}" y="{y_px + 16}" text-anchor="middle">no blocks</text>']
