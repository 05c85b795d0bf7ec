"""Contradictory assumptions give VACUOUS with the conflicting assumptions named, never PROVED."""

from __future__ import annotations

from barcheck.engine.checker import Settings, check
from barcheck.engine.verdict import Verdict
from model.policies import BUILTIN
from model.scenario import Shape
from properties import REGISTRY


def test_rom_in_a_standard_slot_is_vacuous_and_names_the_slot_rule() -> None:
    # A ROM pinned to BAR slot 0 would be eligible for mmap, but pci.bar-slot puts the ROM at index 6.
    shape = Shape(width=16, window_granule_bytes=4096, decoder_granule_bytes=4,
                  pins=(("bar_kind", (3,)), ("bar_index", (0,))))
    result = check(REGISTRY["isolation.window"], BUILTIN["linux-4.8"], 4096, Settings(shape=shape))
    assert result.verdict is Verdict.VACUOUS
    assert result.assumptions == ("pci.bar-slot",)


def test_same_pins_with_a_valid_slot_are_not_vacuous_for_memory_bars() -> None:
    shape = Shape(width=16, window_granule_bytes=4096, decoder_granule_bytes=4,
                  pins=(("bar_kind", (0,)), ("bar_index", (0,))))
    result = check(REGISTRY["isolation.window"], BUILTIN["linux-4.8"], 4096, Settings(shape=shape))
    assert result.verdict is Verdict.PROVED
    assert result.scope["pins"] == {"bar_kind": [0], "bar_index": [0]}
