"""Address maps as standalone SVG: the pages a counterexample touches, its blocks in lanes, on a page ruler.

Only the pages that non-window blocks touch (plus one page of context each side) are drawn; runs of
pages far apart are separated by a break marker.  Each run is linear, so page boundaries and the
order of blocks are exact, while a block of a few bytes is still drawn a few pixels wide.
All geometry is integer, so the output is byte-for-byte stable.
"""

from __future__ import annotations

import re

from barcheck.render.svg_draw import (LEGEND_ROW_H_PX, breaks_svg, canvas_width, empty_note, hatch_defs,
                                      lane_block_svg, legend_items, legend_layout, legend_svg, outline_svg, ruler_svg,
                                      title_svg)
from barcheck.render.svg_geometry import drawn_page_spans, layout_intervals, parse_blocks, parse_page_size
from barcheck.render.svg_lanes import GROUP_GAP_PX, arrange, drawn_right_px, group_height, group_tops
from barcheck.render.svg_text import FONT_PX, esc

CANVAS_LABELS_MAX_PX = 1400
TITLE_H_PX = 30
RULER_H_PX = 44
BOTTOM_PX = 10

_NOT_ID = re.compile(r"[^A-Za-z0-9_.-]")


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
