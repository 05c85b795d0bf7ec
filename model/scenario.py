"""The pairwise scenario: one BAR of the device, its parent window, one foreign resource.

This is the shape every property of the core checker quantifies over.  The
fields are ints/bools for a concrete scenario and Z3 terms for a symbolic one;
`FIELDS` lists them in the order used for encoding, decoding and minimising.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from typing import Any

from model.ops import Flag, Ops
from model.pci import Bar, BarKind, MIN_MEM_BAR_BYTES
from model.ranges import Range, at_least, is_aligned, is_nonempty, is_pow2
from model.units import KIB, MIB


class Relation(enum.IntEnum):
    """Where the foreign resource sits relative to the BAR's parent window."""

    EXISTING_SIBLING = 0
    """A child of the BAR's parent that already exists when vfio-pci probes the BAR."""
    LATER_SIBLING = 1
    """A child of the BAR's parent placed after the probe (hot-plug, rescan)."""
    OUTSIDE_PARENT = 2
    """Anything outside the parent window (another bridge, platform MMIO)."""

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


class Origin(enum.IntEnum):
    """What a resource belongs to, which decides how the PCI core places and aligns it."""

    FUNCTION = 0
    """A BAR of an ordinary PCI function (endpoint or bridge): the alignment configuration applies."""
    VIRTUAL_FUNCTION = 1
    """An SR-IOV VF BAR: a PAGE_SIZE multiple inside the PF's IOV resource; never realigned."""
    HOST_BRIDGE = 2
    """A BAR of a host bridge (class 06/00): pci_reassigndev_resource_alignment() skips it."""
    FIXED = 3
    """An Enhanced Allocation / IORESOURCE_PCI_FIXED BAR: DWORD-granular, never moved or realigned."""
    PLATFORM = 4
    """Not a PCI BAR: any other address decoder (platform MMIO, firmware ranges)."""

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")

    @property
    def phrase(self) -> str:
        return _ORIGIN_PHRASES[self]


_ORIGIN_PHRASES = {
    Origin.FUNCTION: "an ordinary PCI function",
    Origin.VIRTUAL_FUNCTION: "an SR-IOV virtual function",
    Origin.HOST_BRIDGE: "a host bridge",
    Origin.FIXED: "an Enhanced Allocation (IORESOURCE_PCI_FIXED) entry",
    Origin.PLATFORM: "a non-PCI decoder",
}


@dataclass(frozen=True, slots=True)
class PairScenario:
    page_bytes: Any
    bar_index: Any
    bar_kind: Any
    bar_prefetchable: Any
    bar_start: Any
    bar_size: Any
    parent_first: Any
    parent_last: Any
    foreign_first: Any
    foreign_last: Any
    foreign_relation: Any
    bar_origin: Any = int(Origin.FUNCTION)
    foreign_origin: Any = int(Origin.PLATFORM)
    realloc_start: Any = 0
    """Where the BAR's resource lands when it is reassigned after its bridge window was released."""

    def bar(self) -> Bar:
        return Bar(self.bar_index, self.bar_kind, self.bar_prefetchable, self.bar_start, self.bar_size)

    def parent(self) -> Range:
        return Range(self.parent_first, self.parent_last)

    def foreign(self) -> Range:
        return Range(self.foreign_first, self.foreign_last)

    def relation_is(self, ops: Ops, relation: Relation) -> Flag:
        return ops.eq(self.foreign_relation, ops.const(int(relation)))

    def bar_origin_is(self, ops: Ops, origin: Origin) -> Flag:
        return ops.eq(self.bar_origin, ops.const(int(origin)))

    def foreign_origin_is(self, ops: Ops, origin: Origin) -> Flag:
        return ops.eq(self.foreign_origin, ops.const(int(origin)))


FIELDS = tuple(f.name for f in fields(PairScenario))
FLAG_FIELDS = frozenset({"bar_prefetchable"})
ADDRESS_FIELDS = ("bar_start", "bar_size", "parent_first", "parent_last", "foreign_first", "foreign_last",
                  "realloc_start")

DOMAIN_LIMITS = {"bar_index": 6, "bar_kind": max(BarKind), "foreign_relation": max(Relation),
                 "bar_origin": int(Origin.FIXED), "foreign_origin": int(Origin.PLATFORM)}
"""Encoding domains of the enum-valued word fields (inclusive upper bounds)."""


@dataclass(frozen=True, slots=True)
class Shape:
    """The universe a check quantifies over.

    `window_granule_bytes` and `decoder_granule_bytes` state how coarse real
    parent windows and foreign decoders are; `pins` restricts fields to listed
    values (used by the exhaustive cross-checks to keep brute force tractable).
    """

    width: int = 64
    window_granule_bytes: int = 4 * KIB
    decoder_granule_bytes: int = 4
    fixed_granule_bytes: int = 4
    """Enhanced Allocation BARs start and end on this granule (DWORD in the spec)."""
    pins: tuple[tuple[str, tuple[int, ...]], ...] = field(default_factory=tuple)

    def pinned(self) -> dict[str, tuple[int, ...]]:
        return dict(self.pins)


def granular(ops: Ops, r: Range, granule_bytes: int) -> Flag:
    """first and last+1 are multiples of the granule (last's low bits are all ones)."""
    low_bits = ops.const(granule_bytes - 1)
    return ops.all_of(
        ops.eq(ops.bit_and(r.first, low_bits), ops.const(0)),
        ops.eq(ops.bit_and(r.last, low_bits), low_bits),
    )


def bar_size_is_pow2(ops: Ops, sc: PairScenario) -> Flag:
    """The BAR looks like a BAR register decodes it (only Enhanced Allocation BARs may differ)."""
    return is_pow2(ops, sc.bar_size)


def foreign_is_bar_shaped(ops: Ops, sc: PairScenario) -> Flag:
    """The foreign resource looks like another device's memory BAR."""
    size = ops.add(ops.sub(sc.foreign_last, sc.foreign_first), ops.const(1))
    return ops.all_of(
        is_pow2(ops, size),
        at_least(ops, size, MIN_MEM_BAR_BYTES),
        is_aligned(ops, sc.foreign_first, size),
        is_nonempty(ops, sc.foreign()),
    )


def parent_is_bridge_window(ops: Ops, sc: PairScenario) -> Flag:
    """The parent looks like a PCI-to-PCI bridge memory window (1 MiB granular)."""
    if MIB >= (1 << ops.width):
        return ops.false()
    return granular(ops, sc.parent(), MIB)
