"""`pgoff.round-trip`: the region encoding decodes back to what it encoded, for every BAR the hardware allows.

One query per (policy, page size): index, BAR size and page offset are
symbolic.  A counterexample is pulled toward the smallest BAR, region 0 and
the smallest offset, then replayed on integers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import z3

from barcheck.engine.session import DEFAULT_RLIMIT, DEFAULT_SEED, Session, pull_toward, z3_version
from barcheck.engine.verdict import EncodingMismatch, Result, SolverInfo, Verdict
from model.ops import ConcreteOps, Flag, Ops, Word
from model.pci import MIN_MEM_BAR_BYTES
from model.pgoff import (file_offset, offset_in_region, offset_to_index, page_shift_of, region_pgoff,
                         split_pgoff)
from model.policies import Policy
from model.ranges import align_up, at_least, fits, is_pow2
from model.ops_z3 import SymbolicOps
from model.units import size_name
from properties.declared import ROUND_TRIP_ID, ROUND_TRIP_SCOPE


@dataclass(frozen=True, slots=True)
class RoundTripSettings:
    seed: int = DEFAULT_SEED
    rlimit: int = DEFAULT_RLIMIT
    width: int = 64
    max_bar_bytes: int | None = None


def assumptions(ops: Ops, index: Word, size: Word, offset_pages: Word, page_shift: int,
                max_bar_bytes: int | None) -> list[tuple[str, Flag]]:
    span_pages = ops.lshr(align_up(ops, size, ops.const(1 << page_shift)), page_shift)
    named = [
        ("pci.bar-slot", ops.ult(index, ops.const(6))),
        ("pci.bar-size-pow2", is_pow2(ops, size)),
        ("pci.bar-min-size", at_least(ops, size, MIN_MEM_BAR_BYTES)),
        ("pgoff.offset-inside-bar", ops.ult(offset_pages, span_pages)),
    ]
    if max_bar_bytes is not None and fits(ops, max_bar_bytes):
        named.append(("bar.max-size", ops.ule(size, ops.const(max_bar_bytes))))
    return named


def claims(ops: Ops, index: Word, offset_pages: Word, page_shift: int) -> list[tuple[str, Flag]]:
    """Both number spaces: the file offset in bytes and vm_pgoff in pages."""
    offset_bytes = ops.shl(offset_pages, page_shift)
    encoded = file_offset(ops, index, offset_bytes)
    split = split_pgoff(ops, region_pgoff(ops, index, offset_pages, page_shift), page_shift)
    return [
        ("file-offset", ops.all_of(ops.eq(offset_to_index(ops, encoded), index),
                                   ops.eq(offset_in_region(ops, encoded), offset_bytes))),
        ("vm_pgoff", ops.all_of(ops.eq(split.index, index), ops.eq(split.in_region_pages, offset_pages))),
    ]


@dataclass(frozen=True, slots=True)
class RoundTripCounterexample:
    page_bytes: int
    index: int
    size_bytes: int
    offset_pages: int
    violated: str
    property_id: str = ROUND_TRIP_ID

    def decoded(self) -> tuple[int, int]:
        split = split_pgoff(ConcreteOps(64), region_pgoff(ConcreteOps(64), self.index, self.offset_pages,
                                                            page_shift_of(self.page_bytes)),
                            page_shift_of(self.page_bytes))
        return split.index, split.in_region_pages

    def summary(self) -> str:
        index, page_in_region = self.decoded()
        return (f"BAR{self.index} of {size_name(self.size_bytes)} at page {self.offset_pages:#x} decodes as "
                f"region {index}, page {page_in_region:#x}")

    def lines(self) -> list[str]:
        shift = page_shift_of(self.page_bytes)
        index, page = self.decoded()
        return [
            f"BAR{self.index} of {size_name(self.size_bytes)} ({self.size_bytes:#x} bytes), page size "
            f"{size_name(self.page_bytes)}",
            f"offset {self.offset_pages << shift:#x} into the BAR (page {self.offset_pages:#x}) is file offset "
            f"{(self.index << 40) + (self.offset_pages << shift):#x}, vm_pgoff "
            f"{(self.index << (40 - shift)) + self.offset_pages:#x}",
            f"decodes to region {index}, page {page:#x}: the region's 40-bit offset field cannot hold it",
            f"violated: {self.property_id} ({self.violated})",
        ]

    def doc(self) -> dict[str, Any]:
        index, page = self.decoded()
        return {"replayed": True, "property": self.property_id, "violated": self.violated,
                "page_size": hex(self.page_bytes), "bar": {"index": self.index, "size": hex(self.size_bytes)},
                "offset_pages": hex(self.offset_pages), "decoded": {"index": index, "offset_pages": hex(page)}}


def check_round_trip(policy: Policy, page_bytes: int, settings: RoundTripSettings = RoundTripSettings()) -> Result:
    started = time.perf_counter()
    shift = page_shift_of(page_bytes)
    ctx = z3.Context()
    ops = SymbolicOps(settings.width, ctx)
    session = Session(settings.seed, settings.rlimit, ctx)
    index, size, offset = (z3.BitVec(name, settings.width, ctx) for name in ("index", "size", "offset_pages"))
    named = assumptions(ops, index, size, offset, shift, settings.max_bar_bytes)
    session.add(*(flag for _, flag in named))
    done = lambda verdict, reason="", trace=None, used=(): _result(  # noqa: E731
        policy, page_bytes, settings, verdict, started, session.work(), reason, trace, used)
    status = session.check()
    if status == z3.unknown:
        return done(Verdict.UNKNOWN, f"domain query: {session.reason_unknown()}")
    if status == z3.unsat:
        return done(Verdict.VACUOUS, "no BAR size and offset satisfy the assumptions")
    checks = claims(ops, index, offset, shift)
    status = session.check(ops.negate(ops.all_of(*(flag for _, flag in checks))))
    if status == z3.unknown:
        return done(Verdict.UNKNOWN, session.reason_unknown())
    if status == z3.unsat:
        return done(Verdict.PROVED, used=sorted(name for name, _ in named))
    model = session.model()
    session.add(ops.negate(ops.all_of(*(flag for _, flag in checks))))
    for variable in (size, index, offset):
        model = pull_toward(session, variable, 0, model)
    index_value, size_bytes, offset_pages = (model.eval(v, model_completion=True).as_long() for v in (index, size, offset))
    return done(Verdict.COUNTEREXAMPLE,
                trace=replay_round_trip(page_bytes, index_value, size_bytes, offset_pages, settings.width))


def replay_round_trip(page_bytes: int, index: int, size_bytes: int, offset_pages: int,
                      width: int = 64) -> RoundTripCounterexample:
    ops, shift = ConcreteOps(width), page_shift_of(page_bytes)
    if not all(flag for _, flag in assumptions(ops, index, size_bytes, offset_pages, shift, None)):
        raise EncodingMismatch("round trip: the decoded BAR breaks the assumptions concretely")
    failed = [name for name, flag in claims(ops, index, offset_pages, shift) if not flag]
    if not failed:
        raise EncodingMismatch("round trip: the decoded offset round-trips concretely")
    return RoundTripCounterexample(page_bytes, index, size_bytes, offset_pages, failed[0])


def _result(policy: Policy, page_bytes: int, settings: RoundTripSettings, verdict: Verdict, started: float,
            work: int, reason: str, trace: Any, used) -> Result:
    size_scope = (f"BARs up to {settings.max_bar_bytes:#x} bytes" if settings.max_bar_bytes is not None
                  else "every BAR size the hardware allows")
    scope = {"bounded": False, "method": "function", "width_bits": settings.width, "page_size": page_bytes,
             "max_bar_size": None if settings.max_bar_bytes is None else hex(settings.max_bar_bytes),
             "quantified": f"{ROUND_TRIP_SCOPE}, {size_scope}"}
    info = SolverInfo(z3_version(), settings.seed, settings.rlimit, work)
    return Result(ROUND_TRIP_ID, policy.name, page_bytes, verdict, scope, tuple(used),
                  round(time.perf_counter() - started, 6), info, reason, None, (), trace=trace)
