"""model.pci: PCI addresses, BAR kinds and the BAR rules, concretely and on Z3 constants."""

from __future__ import annotations

import pytest
import z3

from model.ops import ConcreteOps
from model.ops_z3 import SymbolicOps
from model.pci import (RULE_TEXT, Bar, BarKind, PciAddress, ScenarioError, bar_rules, is_memory,
                       is_standard_slot, validate_bar)

MEM32, MEM64, IO, ROM = BarKind.MEM32, BarKind.MEM64, BarKind.IO, BarKind.ROM

# ----------------------------------------------------------------------------- addresses


def test_parse_full_address():
    address = PciAddress.parse("0000:01:00.0")
    assert (address.domain, address.bus, address.device, address.function) == (0, 1, 0, 0)


def test_parse_short_form_defaults_domain_zero():
    assert PciAddress.parse("01:00.0") == PciAddress(0, 1, 0, 0)


def test_parse_hex_fields():
    address = PciAddress.parse("abcd:ff:1f.7")
    assert (address.domain, address.bus, address.device, address.function) == (0xABCD, 0xFF, 0x1F, 7)


@pytest.mark.parametrize("text", ["0000:01:00.0", "0000:00:1f.3", "abcd:ff:1f.7", "0001:3a:02.1"])
def test_str_round_trip(text):
    assert str(PciAddress.parse(text)) == text
    assert PciAddress.parse(str(PciAddress.parse(text))) == PciAddress.parse(text)


def test_str_is_canonical_for_short_and_upper_case_input():
    assert str(PciAddress.parse("1:2.3")) == "0000:01:02.3"
    assert str(PciAddress.parse("ABCD:EF:1F.0")) == "abcd:ef:1f.0"


@pytest.mark.parametrize(("text", "match"), [
    ("0000:01:20.0", "device 0x20 is outside"),
    ("01:20.0", "device"),
    ("01:00.8", "not a PCI address"),
    ("zz", "not a PCI address"),
    ("", "not a PCI address"),
    ("00000:01:00.0", "not a PCI address"),
    ("0000:001:00.0", "not a PCI address"),
    ("0000:01:00", "not a PCI address"),
])
def test_parse_rejects(text, match):
    with pytest.raises(ScenarioError, match=match):
        PciAddress.parse(text)


@pytest.mark.parametrize("fields", [(0x10000, 0, 0, 0), (0, 0x100, 0, 0), (0, 0, 0x20, 0), (0, 0, 0, 8),
                                    (-1, 0, 0, 0)])
def test_constructor_rejects_out_of_range_fields(fields):
    with pytest.raises(ScenarioError, match="is outside"):
        PciAddress(*fields)


def test_addresses_order_by_domain_bus_device_function():
    texts = ["0001:00:00.0", "0000:02:00.0", "0000:01:1f.0", "0000:01:00.7", "0000:01:00.0"]
    assert [str(a) for a in sorted(PciAddress.parse(t) for t in texts)] == sorted(texts)


# ----------------------------------------------------------------------------- BAR kinds


@pytest.mark.parametrize(("text", "kind"), [("mem32", MEM32), ("MEM64", MEM64), (" io ", IO), ("Rom", ROM)])
def test_bar_kind_parse(text, kind):
    assert BarKind.parse(text) is kind


def test_bar_kind_labels_round_trip():
    assert [BarKind.parse(kind.label) for kind in BarKind] == list(BarKind)
    assert [kind.label for kind in BarKind] == ["mem32", "mem64", "io", "rom"]


@pytest.mark.parametrize("text", ["mem16", "", "0", "memory"])
def test_bar_kind_parse_rejects_with_the_known_kinds(text):
    with pytest.raises(ScenarioError, match="expected one of mem32, mem64, io, rom"):
        BarKind.parse(text)


# ----------------------------------------------------------------------------- BAR rules

GOOD_BARS = {
    "mem32-16B": Bar(0, MEM32, False, 0xFE000000, 0x10),
    "mem64-slot4": Bar(4, MEM64, True, 0x4_0000_0000, 0x10_0000),
    "rom-2K": Bar(6, ROM, False, 0xFE800000, 0x800),
    "io-4B": Bar(5, IO, False, 0xE000, 0x4),
    "mem32-top-of-4G": Bar(1, MEM32, True, 0xFFFF_FFF0, 0x10),
    "mem64-1G": Bar(0, MEM64, True, 0x40_0000_0000, 1 << 30),
}

BAD_BARS = {
    "size-24": (Bar(0, MEM32, False, 0xFE000000, 24), "pci.bar-size-pow2"),
    "size-0": (Bar(0, MEM32, False, 0xFE000000, 0), "pci.bar-size-pow2"),
    "mem-8B": (Bar(0, MEM32, False, 0xFE000000, 8), "pci.bar-min-size"),
    "mem64-8B": (Bar(0, MEM64, False, 0xFE000000, 8), "pci.bar-min-size"),
    "rom-1K": (Bar(6, ROM, False, 0xFE000000, 0x400), "pci.bar-min-size"),
    "io-2B": (Bar(0, IO, False, 0xE000, 2), "pci.bar-min-size"),
    "misaligned": (Bar(0, MEM32, False, 0xFE000010, 0x20), "pci.bar-natural-alignment"),
    "mem64-slot5": (Bar(5, MEM64, False, 0x4_0000_0000, 0x1000), "pci.bar-slot"),
    "rom-index0": (Bar(0, ROM, False, 0xFE000000, 0x800), "pci.bar-slot"),
    "mem32-index6": (Bar(6, MEM32, False, 0xFE000000, 0x10), "pci.bar-slot"),
    "mem32-above-4G": (Bar(0, MEM32, False, 0x1_0000_0000, 0x10), "pci.bar-32bit-below-4g"),
    "mem32-straddles-4G": (Bar(0, MEM32, False, 0xFFFF_FFF0, 0x20), "pci.bar-natural-alignment"),
    "rom-above-4G": (Bar(6, ROM, False, 0x1_0000_0000, 0x800), "pci.bar-32bit-below-4g"),
    "io-prefetchable": (Bar(0, IO, True, 0xE000, 0x10), "pci.io-not-prefetchable"),
}


@pytest.mark.parametrize("name", GOOD_BARS)
def test_validate_bar_accepts(name):
    bar = GOOD_BARS[name]
    assert validate_bar(bar) is bar
    assert all(rule.holds for rule in bar_rules(ConcreteOps(64), bar))


@pytest.mark.parametrize("name", BAD_BARS)
def test_validate_bar_rejects_naming_the_rule(name):
    bar, rule = BAD_BARS[name]
    with pytest.raises(ScenarioError) as caught:
        validate_bar(bar, where="dev.bar")
    message = str(caught.value)
    assert rule in message
    assert RULE_TEXT[rule] in message
    assert message.startswith("dev.bar: ")
    assert f"{bar.start_bytes:#x}" in message


@pytest.mark.parametrize("index", [7, -1, 255])
def test_validate_bar_rejects_index_outside_0_to_6(index):
    with pytest.raises(ScenarioError, match=rf"bar\.index: {index} is outside 0\.\.6"):
        validate_bar(Bar(index, MEM32, False, 0xFE000000, 0x10))


def test_validate_bar_rejects_unknown_kind_and_non_addresses():
    with pytest.raises(ScenarioError, match="kind"):
        validate_bar(Bar(0, 4, False, 0xFE000000, 0x10))
    with pytest.raises(ScenarioError, match="start_bytes"):
        validate_bar(Bar(0, MEM64, False, 1 << 64, 0x10))
    with pytest.raises(ScenarioError, match="size_bytes"):
        validate_bar(Bar(0, MEM32, False, 0xFE000000, -16))
    with pytest.raises(ScenarioError, match="start_bytes"):
        validate_bar(Bar(0, MEM32, False, 0x1_0000_0000, 0x10), width=32)


def test_rule_names_are_documented_and_stable():
    names = [rule.name for rule in bar_rules(ConcreteOps(64), GOOD_BARS["mem32-16B"])]
    assert names == ["pci.bar-slot", "pci.bar-size-pow2", "pci.bar-min-size", "pci.bar-natural-alignment",
                     "pci.bar-no-wrap", "pci.bar-32bit-below-4g", "pci.io-not-prefetchable"]
    fixed_names = [rule.name for rule in bar_rules(ConcreteOps(64), GOOD_BARS["mem32-16B"], False)]
    assert fixed_names == names + ["ea.dword-granular"]
    assert set(fixed_names) == set(RULE_TEXT)


def test_exactly_the_named_rule_breaks_for_single_defect_bars():
    """Each single-defect BAR breaks the rule validate_bar names, and that rule only."""
    ops = ConcreteOps(64)
    for name in ("size-24", "mem-8B", "misaligned", "mem64-slot5", "rom-index0", "mem32-above-4G",
                 "io-prefetchable"):
        bar, rule = BAD_BARS[name]
        broken = [r.name for r in bar_rules(ops, bar) if not r.holds]
        assert broken == [rule], (name, broken)


def test_memory_and_slot_helpers():
    ops = ConcreteOps(64)
    assert [is_memory(ops, Bar(0, kind, False, 0, 16)) for kind in BarKind] == [True, True, False, True]
    assert [is_standard_slot(ops, Bar(i, MEM32, False, 0, 16)) for i in range(7)] == [True] * 6 + [False]


def _symbolic(ops: SymbolicOps, bar: Bar) -> Bar:
    return Bar(ops.const(int(bar.index)), ops.const(int(bar.kind)), z3.BoolVal(bar.prefetchable),
               ops.const(bar.start_bytes), ops.const(bar.size_bytes))


ALL_BARS = {**GOOD_BARS, **{name: bar for name, (bar, _) in BAD_BARS.items()},
            "index-7": Bar(7, MEM32, False, 0xFE000000, 0x10),
            "wraps-at-top": Bar(0, MEM64, False, 0xFFFF_FFFF_FFFF_FFF0, 0x20),
            "ends-at-top": Bar(0, MEM64, False, 0xFFFF_FFFF_FFFF_FFF0, 0x10)}


@pytest.mark.parametrize("name", ALL_BARS)
def test_symbolic_rules_agree_with_concrete_rules(name):
    bar = ALL_BARS[name]
    concrete = {rule.name: rule.holds for rule in bar_rules(ConcreteOps(64), bar)}
    sym_ops = SymbolicOps(64)
    symbolic = {}
    for rule in bar_rules(sym_ops, _symbolic(sym_ops, bar)):
        value = z3.simplify(rule.holds)
        assert z3.is_true(value) or z3.is_false(value), f"{rule.name} did not simplify to a constant: {value}"
        symbolic[rule.name] = z3.is_true(value)
    assert symbolic == concrete
    assert all(isinstance(v, bool) for v in concrete.values())


def test_symbolic_rules_agree_at_a_narrow_width():
    """At 32 bits the below-4G rule is vacuous (nothing fits above) in both domains."""
    bar = Bar(0, MEM32, False, 0xFFFF_FFF0, 0x10)
    concrete = {r.name: r.holds for r in bar_rules(ConcreteOps(32), bar)}
    sym_ops = SymbolicOps(32)
    symbolic = {r.name: z3.is_true(z3.simplify(r.holds)) for r in bar_rules(sym_ops, _symbolic(sym_ops, bar))}
    assert symbolic == concrete
    assert all(concrete.values())


def test_ends_at_top_is_not_a_wrap_but_one_byte_more_is():
    ops = ConcreteOps(64)
    ends = {r.name: r.holds for r in bar_rules(ops, ALL_BARS["ends-at-top"])}
    wraps = {r.name: r.holds for r in bar_rules(ops, ALL_BARS["wraps-at-top"])}
    assert ends["pci.bar-no-wrap"] is True
    assert wraps["pci.bar-no-wrap"] is False
