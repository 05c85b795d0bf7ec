"""Pair scenarios: every one of a small width (the enumeration the solver is cross-checked against),
hand-picked ones around one page, and random ones."""

from __future__ import annotations

import itertools
import random
from typing import Iterator

from model.pci import BarKind
from model.scenario import Origin, PairScenario, Relation, Shape


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


MMIO = 0xFE000000


def grid_scenarios(page_bytes: int) -> Iterator[PairScenario]:
    """Hand-picked placements around one page at 0xfe000000, at 64 bits."""
    bars = [(MMIO, 0x10), (MMIO + 0x10, 0x10), (MMIO, page_bytes // 2), (MMIO, page_bytes),
            (MMIO + 0x100, 0x100), ((1 << 64) - 0x10, 0x10)]
    foreigns = [(MMIO, MMIO + 0xF), (MMIO + 0x10, MMIO + 0x1F), (MMIO + page_bytes - 4, MMIO + page_bytes - 1),
                (MMIO + page_bytes, MMIO + page_bytes + 0xF), (MMIO - 0x10, MMIO - 1)]
    parents = [(MMIO, MMIO + 0xFFFFF), (MMIO, MMIO + page_bytes - 1)]
    kinds = [(0, BarKind.MEM32), (2, BarKind.MEM64), (5, BarKind.IO), (6, BarKind.ROM), (5, BarKind.MEM64)]
    for (start, size), (ff, fl), (pf, pl), relation in itertools.product(bars, foreigns, parents, Relation):
        yield PairScenario(page_bytes, 0, int(BarKind.MEM32), False, start, size, pf, pl, ff, fl, int(relation))
    for origins in itertools.product(Origin, Origin):
        if origins[0] is not Origin.PLATFORM:
            yield PairScenario(page_bytes, 0, int(BarKind.MEM32), False, MMIO + 0x10, page_bytes, MMIO,
                               MMIO + 0xFFFFF, MMIO, MMIO + 0xF, 0, int(origins[0]), int(origins[1]), MMIO + 0x100)
    for index, kind in kinds:
        yield PairScenario(page_bytes, index, int(kind), kind is BarKind.MEM64, MMIO, 0x800, MMIO, MMIO + 0xFFFFF,
                           MMIO + 0x1000, MMIO + 0x100F, 0)


def random_scenarios(seed: int, count: int, page_bytes: int, width: int = 64) -> Iterator[PairScenario]:
    """Random scenarios, half of them near one page so that interesting cases are frequent."""
    rng = random.Random(seed)
    top = (1 << width) - 1
    for _ in range(count):
        base = rng.choice([MMIO & top, rng.randrange(1 << width)])
        word = lambda: (base + rng.randrange(-2 * page_bytes, 2 * page_bytes)) & top if rng.random() < 0.7 \
            else rng.randrange(1 << width)  # noqa: E731
        size = 1 << rng.randrange(0, width) if rng.random() < 0.8 else rng.randrange(1 << width)
        a, b = sorted((word(), word()))
        c, d = sorted((word(), word()))
        yield PairScenario(page_bytes, rng.randrange(7), rng.randrange(4), rng.random() < 0.5,
                           word(), size, a, b, c, d, rng.randrange(3), rng.randrange(4), rng.randrange(5), word())
