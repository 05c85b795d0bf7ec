"""PCI domain types: addresses, BAR kinds, BARs and the PCI rules they obey.

The rules are written once against `Ops`, so they validate concrete input and
constrain symbolic BARs alike.  Spec facts (PCI 3.0 section 6.2.5.1): a memory
BAR is a power of two of at least 16 bytes and naturally aligned; an I/O BAR
at least 4 bytes; the expansion ROM BAR decodes address bits 31:11 (at least
2 KiB); a 64-bit memory BAR takes two BAR registers, so it cannot sit in slot 5.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

from model.ops import ConcreteOps, Flag, Ops
from model.ranges import Range, at_least, is_aligned, is_nonempty, is_pow2, last_below, span


class ScenarioError(ValueError):
    """Input that describes something no real PCI system can have."""


class BarKind(enum.IntEnum):
    """The kind of a BAR; the value is its code in symbolic encodings."""

    MEM32 = 0
    MEM64 = 1
    IO = 2
    ROM = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> "BarKind":
        try:
            return cls[text.strip().upper()]
        except KeyError:
            known = ", ".join(kind.label for kind in cls)
            raise ScenarioError(f"unknown BAR kind {text!r} (expected one of {known})") from None


STD_BAR_COUNT = 6
ROM_INDEX = 6
MAX_BAR_INDEX = ROM_INDEX
MIN_MEM_BAR_BYTES = 16
MIN_IO_BAR_BYTES = 4
MIN_ROM_BAR_BYTES = 2048
FOUR_GIB = 1 << 32

_ADDRESS_RE = re.compile(
    r"^(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$"
)


@dataclass(frozen=True, slots=True, order=True)
class PciAddress:
    """domain:bus:device.function."""

    domain: int
    bus: int
    device: int
    function: int

    def __post_init__(self) -> None:
        limits = (("domain", self.domain, 0xFFFF), ("bus", self.bus, 0xFF),
                  ("device", self.device, 0x1F), ("function", self.function, 7))
        for field, value, top in limits:
            if not 0 <= value <= top:
                raise ScenarioError(f"PCI address {field} {value:#x} is outside 0..{top:#x}")

    @classmethod
    def parse(cls, text: str) -> "PciAddress":
        match = _ADDRESS_RE.match(text.strip())
        if not match:
            raise ScenarioError(f"{text!r} is not a PCI address (expected dddd:bb:dd.f)")
        domain, bus, device, function = match.groups()
        return cls(int(domain or "0", 16), int(bus, 16), int(device, 16), int(function))

    def __str__(self) -> str:
        return f"{self.domain:04x}:{self.bus:02x}:{self.device:02x}.{self.function}"


@dataclass(frozen=True, slots=True)
class Bar:
    """One BAR.  Fields are ints for concrete BARs and Z3 terms for symbolic ones."""

    index: Any
    kind: Any
    prefetchable: Any
    start_bytes: Any
    size_bytes: Any

    def range(self, ops: Ops) -> Range:
        return span(ops, self.start_bytes, self.size_bytes)


@dataclass(frozen=True, slots=True)
class Rule:
    """A named well-formedness condition, evaluated in some `Ops` domain."""

    name: str
    holds: Flag


def kind_is(ops: Ops, bar: Bar, *kinds: BarKind) -> Flag:
    return ops.any_of(*(ops.eq(bar.kind, ops.const(int(kind))) for kind in kinds))


def is_memory(ops: Ops, bar: Bar) -> Flag:
    """IORESOURCE_MEM: memory BARs and the expansion ROM."""
    return kind_is(ops, bar, BarKind.MEM32, BarKind.MEM64, BarKind.ROM)


def is_standard_slot(ops: Ops, bar: Bar) -> Flag:
    """One of BAR0..BAR5 (PCI_STD_NUM_BARS), as opposed to the ROM."""
    return ops.ult(bar.index, ops.const(STD_BAR_COUNT))


def _slot_rule(ops: Ops, bar: Bar) -> Flag:
    index_is = lambda limit: ops.ule(bar.index, ops.const(limit))  # noqa: E731
    return ops.all_of(
        ops.implies(kind_is(ops, bar, BarKind.MEM32, BarKind.IO), index_is(STD_BAR_COUNT - 1)),
        ops.implies(kind_is(ops, bar, BarKind.MEM64), index_is(STD_BAR_COUNT - 2)),
        ops.implies(kind_is(ops, bar, BarKind.ROM), ops.eq(bar.index, ops.const(ROM_INDEX))),
    )


def _min_size_rule(ops: Ops, bar: Bar) -> Flag:
    size = bar.size_bytes
    return ops.all_of(
        ops.implies(kind_is(ops, bar, BarKind.MEM32, BarKind.MEM64), at_least(ops, size, MIN_MEM_BAR_BYTES)),
        ops.implies(kind_is(ops, bar, BarKind.IO), at_least(ops, size, MIN_IO_BAR_BYTES)),
        ops.implies(kind_is(ops, bar, BarKind.ROM), at_least(ops, size, MIN_ROM_BAR_BYTES)),
    )


def _below_4g_rule(ops: Ops, bar: Bar) -> Flag:
    narrow = kind_is(ops, bar, BarKind.MEM32, BarKind.IO, BarKind.ROM)
    return ops.implies(narrow, last_below(ops, bar.range(ops).last, FOUR_GIB))


def _io_not_prefetchable_rule(ops: Ops, bar: Bar) -> Flag:
    return ops.implies(kind_is(ops, bar, BarKind.IO), ops.negate(bar.prefetchable))


def _dword_granular(ops: Ops, bar: Bar, granule_bytes: int) -> Flag:
    low = ops.const(granule_bytes - 1)
    return ops.all_of(ops.eq(ops.bit_and(bar.start_bytes, low), ops.const(0)),
                      ops.eq(ops.bit_and(bar.size_bytes, low), ops.const(0)),
                      ops.ne(bar.size_bytes, ops.const(0)))


def bar_rules(ops: Ops, bar: Bar, fixed: Flag | None = None, fixed_granule_bytes: int = 4) -> list[Rule]:
    """The PCI rules every real BAR obeys, by name.

    `fixed`: the BAR is an Enhanced Allocation (IORESOURCE_PCI_FIXED) entry;
    pci_ea_read() gives it a DWORD-granular base and size with no
    power-of-two or alignment check, so those rules do not bind it.
    """
    regular = ops.true() if fixed is None else ops.negate(fixed)
    rules = [
        Rule("pci.bar-slot", _slot_rule(ops, bar)),
        Rule("pci.bar-size-pow2", ops.implies(regular, is_pow2(ops, bar.size_bytes))),
        Rule("pci.bar-min-size", ops.implies(regular, _min_size_rule(ops, bar))),
        Rule("pci.bar-natural-alignment", ops.implies(regular, is_aligned(ops, bar.start_bytes, bar.size_bytes))),
        Rule("pci.bar-no-wrap", is_nonempty(ops, bar.range(ops))),
        Rule("pci.bar-32bit-below-4g", _below_4g_rule(ops, bar)),
        Rule("pci.io-not-prefetchable", _io_not_prefetchable_rule(ops, bar)),
    ]
    if fixed is not None:
        rules.append(Rule("ea.dword-granular", ops.implies(fixed, _dword_granular(ops, bar, fixed_granule_bytes))))
    return rules


RULE_TEXT = {
    "pci.bar-slot": "BAR0-5 hold memory and I/O BARs, a 64-bit BAR takes two slots (so not slot 5), the ROM is index 6",
    "pci.bar-size-pow2": "a BAR's size is a power of two",
    "pci.bar-min-size": "memory BARs are at least 16 bytes, I/O BARs 4, the expansion ROM 2 KiB",
    "pci.bar-natural-alignment": "a BAR starts at a multiple of its size (Enhanced Allocation BARs excepted)",
    "ea.dword-granular": "an Enhanced Allocation BAR starts and ends on a DWORD (pci_ea_read(): base & ~3, MaxOffset | 3)",
    "pci.bar-no-wrap": "a BAR does not wrap past the top of the address space",
    "pci.bar-32bit-below-4g": "32-bit memory, I/O and ROM BARs lie below 4 GiB",
    "pci.io-not-prefetchable": "I/O BARs are never prefetchable",
}


def validate_bar(bar: Bar, where: str = "bar", width: int = 64) -> Bar:
    """Raise ScenarioError naming the first PCI rule a concrete BAR breaks."""
    ops = ConcreteOps(width)
    if not 0 <= bar.index <= MAX_BAR_INDEX:
        raise ScenarioError(f"{where}.index: {bar.index} is outside 0..{MAX_BAR_INDEX}")
    if bar.kind not in set(BarKind):
        raise ScenarioError(f"{where}.kind: {bar.kind!r} is not a BAR kind")
    for field in ("start_bytes", "size_bytes"):
        value = getattr(bar, field)
        if not isinstance(value, int) or not 0 <= value <= ops.mask:
            raise ScenarioError(f"{where}.{field}: {value!r} is not a {width}-bit address")
    for rule in bar_rules(ops, bar):
        if not rule.holds:
            raise ScenarioError(
                f"{where}: {BarKind(bar.kind).label} BAR {bar.index} at {bar.start_bytes:#x} "
                f"size {bar.size_bytes:#x} breaks {rule.name}: {RULE_TEXT[rule.name]}"
            )
    return bar
