"""Deliberately broken variants of linux-4.8, each overriding one rule.  Each must be refuted by some property."""

from __future__ import annotations

from model.ops import Flag, Ops, Word
from model.pci import Bar
from model.policies.base import ProbeRequest
from model.policies.linux import Linux48
from model.ranges import Range


class NoAlignmentCheck(Linux48):
    """Requests the dummy for a sub-page BAR even when its start is not page-aligned."""

    name = "broken-no-alignment-check"
    title = "linux-4.8 without the `!(res->start & ~PAGE_MASK)` test"

    def may_reserve(self, ops: Ops, bar: Bar, page_bytes: Word) -> Flag:
        return ops.true()


class DummyOneByteShort(Linux48):
    """The dummy ends at start + PAGE_SIZE - 2, leaving the page's last byte unreserved."""

    name = "broken-dummy-one-byte-short"
    title = "linux-4.8 with the dummy's end off by one"

    def dummy_range(self, ops: Ops, bar: Bar, page_bytes: Word) -> Range:
        full = super().dummy_range(ops, bar, page_bytes)
        return Range(full.first, ops.sub(full.last, ops.const(1)))


class NoDummy(Linux48):
    """Maps a page-aligned sub-page BAR without reserving the rest of its page."""

    name = "broken-no-dummy"
    title = "linux-4.8 that never requests the dummy and always succeeds"

    def request_dummy(self, ops: Ops, req: ProbeRequest, dummy: Range) -> Flag:
        return ops.true()

    def probe(self, ops: Ops, req: ProbeRequest):
        outcome = super().probe(ops, req)
        return type(outcome)(outcome.mmappable, ops.false(), outcome.dummy)


BROKEN = (NoAlignmentCheck(), DummyOneByteShort(), NoDummy())


class ReleaseOnReset(Linux48):
    """Releases the dummies on VFIO_DEVICE_RESET although the mappings stay."""

    name = "broken-release-on-reset"
    title = "linux-4.8 that releases the sub-page reservation on reset while the BAR may be mapped"
    releases_dummy_at_reset = True
