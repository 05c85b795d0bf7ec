"""Concrete scenario generators for the differential and exhaustive tests."""

from __future__ import annotations

import itertools
import random
from typing import Iterator

from model.pci import BarKind
from barcheck.selftest.space import small_space  # noqa: F401  (the tests import it from here)
from model.scenario import Origin, PairScenario, Relation

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
