"""Address-map geometry: the blocks of a map document, which pages are drawn, their pixel scale and ruler ticks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

ROLES = ("window", "bar", "device", "foreign", "dummy", "mapping", "table", "request")

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


# ----------------------------------------------------------------------------- ruler ticks


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
