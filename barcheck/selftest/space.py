"""Every pair scenario of a small width: the enumeration the solver is cross-checked against."""

from __future__ import annotations

import itertools
from typing import Iterator

from model.scenario import PairScenario, Shape


def small_space(shape: Shape, page_bytes: int) -> Iterator[PairScenario]:
    """Every scenario at a small width whose fields satisfy the pins and the cheap PCI and
    granularity rules (all of which are assumptions, so nothing that could matter is skipped).

    The origins and realloc_start are enumerated only as far as the pins allow (the
    defaults, ordinary-function BAR, platform foreign and realloc at 0, otherwise)."""
    width = shape.width
    pins = shape.pinned()

    def values(name: str, default):
        return pins.get(name, default)
    sizes = [1 << k for k in range(4, width)]
    bars = [(start, size) for size in sizes for start in range(0, 1 << width, size)]
    if any(origin == 3 for origin in values("bar_origin", ())):
        fg = shape.fixed_granule_bytes
        natural = set(bars)
        bars += [(start, size) for size in range(fg, 1 << width, fg) for start in range(0, 1 << width, fg)
                 if (start, size) not in natural and start + size <= 1 << width]
    wg, dg = shape.window_granule_bytes, shape.decoder_granule_bytes
    parents = [(f, last) for f in range(0, 1 << width, wg) for last in range(f + wg - 1, 1 << width, wg)
               if f in values("parent_first", (f,)) and last in values("parent_last", (last,))]
    foreigns = [(f, last) for f in range(0, 1 << width, dg) for last in range(f + dg - 1, 1 << width, dg)
                if f in values("foreign_first", (f,)) and last in values("foreign_last", (last,))]
    extras = list(itertools.product(values("bar_origin", (0,)), values("foreign_origin", (4,)),
                                    values("realloc_start", (0,))))
    for index, kind, prefetch in itertools.product(values("bar_index", range(7)), values("bar_kind", range(4)),
                                                   values("bar_prefetchable", (0, 1))):
        for (start, size), (pf, pl) in itertools.product(bars, parents):
            if not (pf <= start and start + size - 1 <= pl):
                continue
            for (ff, fl), relation in itertools.product(foreigns, values("foreign_relation", range(3))):
                for bar_origin, foreign_origin, realloc in extras:
                    yield PairScenario(page_bytes, index, kind, bool(prefetch), start, size, pf, pl, ff, fl,
                                       relation, bar_origin, foreign_origin, realloc)
