"""Address-map text: XML escaping, label widths in pixels, and where each block's and tick's label goes."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from barcheck.render.svg_geometry import Block, Tick

FONT_PX = 11
CHAR_PX = 7
TITLE_FONT_PX = 14
TITLE_CHAR_PX = 9
LABEL_PAD_PX = 4
LABEL_GAP_PX = 8
MAX_LABEL_CHARS = 60

# Characters XML 1.0 forbids outright; lone surrogates cannot even be encoded as UTF-8.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def esc(text: Any) -> str:
    """Text safe inside XML/HTML elements and double- or single-quoted attributes."""
    return html.escape(_NOT_XML.sub("\ufffd", str(text)), quote=True)


# ----------------------------------------------------------------------------- label widths and places


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
