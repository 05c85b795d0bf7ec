"""Deliberately broken variants of linux-4.8 the older tests use by name; they are mutants of the catalogue."""

from __future__ import annotations

from barcheck.selftest.mutants import DummyOneByteShort, NoAlignmentCheck, NoDummy, ReleaseOnReset

BROKEN = (NoAlignmentCheck(), DummyOneByteShort(), NoDummy())

__all__ = ["BROKEN", "DummyOneByteShort", "NoAlignmentCheck", "NoDummy", "ReleaseOnReset"]
