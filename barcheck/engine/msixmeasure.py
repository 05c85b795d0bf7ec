"""`msix.mappable-fraction`: how many bytes of an MSI-X BAR userspace can mmap, per page size.

A measure, not a verdict.  For each policy, page size and BAR size it finds
the least and the greatest number of mappable bytes over every legal table
placement (exact: a binary search of satisfiable bounds), with a placement
that attains each.  The mmap areas the measure counts are certified against
the mmap check itself: a byte is in an advertised area exactly when the
one-page mmap at its page is accepted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import z3

from barcheck.engine.session import DEFAULT_RLIMIT, DEFAULT_SEED, Session, pull_toward
from model.msix import MsixMmap, in_area
from model.ops_z3 import SymbolicOps
from model.policies import Policy
from model.ranges import align_down
from model.units import KIB, MIB
from properties.msix import (layout_assumptions, layout_of, mappable_bytes, platform_of, probe_mmappable,
                             request_accepted)
from properties.record import RecordOptions

DEFAULT_BAR_SIZES = (4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, MIB)
DEFAULT_POLICIES = ("linux-4.7", "linux-4.8", "linux-4.16", "msix-remap-2016")
ANCHOR = 0xFE000000


@dataclass(frozen=True, slots=True)
class Placement:
    table_offset: int
    table_entries: int


@dataclass(frozen=True, slots=True)
class Measure:
    policy: str
    page_size: int
    bar_size: int
    platform: str
    """"any", "remap" (MSI isolation) or "no-remap": rows split only where the platform matters."""
    min_bytes: int
    max_bytes: int
    min_at: Placement | None
    """A placement attaining `min_bytes`; None when the solver gave up and `min_bytes` is only a lower bound."""
    max_at: Placement | None
    """A placement attaining `max_bytes`; None when the solver gave up and `max_bytes` is only an upper bound."""
    certified: str
    """"proved" when the areas match the mmap check for every layout and both extremes are exact; otherwise why not."""
    seconds: float

    @property
    def exact(self) -> bool:
        return self.min_at is not None and self.max_at is not None


@dataclass(frozen=True, slots=True)
class MeasureSettings:
    seed: int = DEFAULT_SEED
    rlimit: int = DEFAULT_RLIMIT
    bar_sizes: tuple[int, ...] = DEFAULT_BAR_SIZES


class SolverGaveUp(Exception):
    """A check ended without sat or unsat (work budget spent, or z3 failed inside it): the answer is unknown."""


class StrictSolver:
    """A session whose check() answers sat or unsat, or raises `SolverGaveUp`."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def check(self, *assumptions) -> z3.CheckSatResult:
        try:
            status = self.session.check(*assumptions)
        except z3.Z3Exception as err:
            # Out of budget, z3 can stop halfway through preprocessing and fail instead of answering unknown.
            raise SolverGaveUp(f"z3 stopped: {_z3_message(err)}") from None
        if status == z3.unknown:
            raise SolverGaveUp(self.session.reason_unknown() or "no reason given")
        return status

    def model(self) -> z3.ModelRef:
        return self.session.model()

    def add(self, *conditions) -> None:
        self.session.add(*conditions)

    def push(self) -> None:
        self.session.push()

    def pop(self) -> None:
        self.session.pop()


def _z3_message(err: z3.Z3Exception) -> str:
    value = err.value if isinstance(err.value, str) else err.value.decode("utf-8", "replace")
    return " ".join(value.split())


@dataclass(frozen=True, slots=True)
class Extreme:
    value_bytes: int
    """Exact when `at` is given; otherwise the bound the search reached (a lower bound of the least value,
    an upper bound of the greatest)."""
    at: Placement | None
    gave_up: str
    """Why the solver gave up ("" when exact)."""


class _Cell:
    """One BAR size at one page size: table placement symbolic, the rest fixed."""

    def __init__(self, policy: Policy, page_bytes: int, bar_bytes: int, isolated: bool | None,
                 settings: MeasureSettings) -> None:
        self.ctx = z3.Context()
        ops = self.ops = SymbolicOps(64, self.ctx)
        self.session = StrictSolver(Session(settings.seed, settings.rlimit, self.ctx))
        self.offset = z3.BitVec("table_offset", 64, self.ctx)
        self.entries = z3.BitVec("table_entries", 64, self.ctx)
        start = -(-ANCHOR // max(bar_bytes, page_bytes)) * max(bar_bytes, page_bytes)

        def record(iso) -> dict[str, Any]:
            return {"bar_start": ops.const(start), "bar_size": ops.const(bar_bytes), "table_offset": self.offset,
                    "table_entries": self.entries, "msi_isolated": iso, "allow_unsafe_interrupts": ops.true()}

        rec = record(ops.true() if isolated else ops.false())
        self.session.add(*(flag for _, flag in layout_assumptions(ops, rec, RecordOptions())))
        self.value = mappable_bytes(ops, policy, page_bytes, rec)
        self.split = None
        if isolated is None:
            self.split = z3.Not(mappable_bytes(ops, policy, page_bytes, record(ops.true())) ==
                                mappable_bytes(ops, policy, page_bytes, record(ops.false())))

    def placement(self, model: z3.ModelRef) -> Placement:
        return Placement(model.eval(self.offset, model_completion=True).as_long(),
                         model.eval(self.entries, model_completion=True).as_long())

    def extreme(self, upper_bytes: int, largest: bool) -> Extreme:
        """The least (or greatest) value, exact with a placement; or, when the solver gives up, the bound reached."""
        low, high = 0, upper_bytes
        try:
            if self.session.check() != z3.sat:
                raise RuntimeError("no legal table placement")
            while low < high:
                middle = (low + high + 1) // 2 if largest else (low + high) // 2
                bound = z3.UGE(self.value, middle) if largest else z3.ULE(self.value, middle)
                status = self.session.check(bound)
                if largest:
                    low, high = (middle, high) if status == z3.sat else (low, middle - 1)
                else:
                    low, high = (low, middle) if status == z3.sat else (middle + 1, high)
            return Extreme(low, self.canonical_placement(low), "")
        except SolverGaveUp as gave_up:
            return Extreme(high if largest else low, None, str(gave_up))

    def canonical_placement(self, value_bytes: int) -> Placement:
        """The placement attaining the value with the smallest table offset, then the fewest entries."""
        session = self.session
        session.push()
        try:
            session.add(self.value == value_bytes)
            if session.check() != z3.sat:
                raise RuntimeError("the extreme vanished")
            model = pull_toward(session, self.offset, 0, session.model())
            return self.placement(pull_toward(session, self.entries, 1, model))
        finally:
            session.pop()


def measure(policy: Policy, page_bytes: int, settings: MeasureSettings = MeasureSettings()) -> list[Measure]:
    certified = certify(policy, page_bytes, settings)
    rows = []
    for bar_bytes in settings.bar_sizes:
        started = time.perf_counter()
        probe = _Cell(policy, page_bytes, bar_bytes, None, settings)
        try:
            splits = probe.session.check(probe.split) == z3.sat
        except SolverGaveUp:
            splits = True  # per platform is right whether or not the platforms differ
        for isolated in ((False, True) if splits else (None,)):
            cell = _Cell(policy, page_bytes, bar_bytes, isolated, settings) if splits else probe
            low = cell.extreme(bar_bytes, largest=False)
            high = cell.extreme(bar_bytes, largest=True)
            platform = "any" if isolated is None else ("remap" if isolated else "no-remap")
            rows.append(Measure(policy.name, page_bytes, bar_bytes, platform, low.value_bytes, high.value_bytes,
                                low.at, high.at, _certified(certified, low, high),
                                round(time.perf_counter() - started, 6)))
    return rows


def _certified(areas: str, low: Extreme, high: Extreme) -> str:
    if areas != "proved":
        return areas
    if low.gave_up or high.gave_up:
        return f"unknown ({low.gave_up or high.gave_up})"
    return areas


def certify(policy: Policy, page_bytes: int, settings: MeasureSettings) -> str:
    """A byte of an mmappable MSI-X BAR is in an advertised area iff the one-page mmap at its page is accepted."""
    ctx = z3.Context()
    ops = SymbolicOps(64, ctx)
    session = StrictSolver(Session(settings.seed, settings.rlimit, ctx))
    rec = {name: z3.BitVec(name, 64, ctx) for name in ("bar_start", "bar_size", "table_offset", "table_entries")}
    rec.update({name: z3.Bool(name, ctx) for name in ("msi_isolated", "allow_unsafe_interrupts")})
    offset = z3.BitVec("offset", 64, ctx)
    page = ops.const(page_bytes)
    session.add(*(flag for _, flag in layout_assumptions(ops, rec, RecordOptions())))
    session.add(probe_mmappable(ops, rec, policy, page_bytes), z3.ULT(offset, rec["bar_size"]))
    layout, platform = layout_of(rec), platform_of(rec)
    areas = policy.msix_areas(ops, page, layout, platform)
    advertised = ops.any_of(*(in_area(ops, area, offset) for area in areas))
    accepted = request_accepted(ops, policy, MsixMmap(page, layout, platform, align_down(ops, offset, page), page))
    try:
        status = session.check(z3.Not(advertised == accepted))
    except SolverGaveUp as gave_up:
        return f"unknown ({gave_up})"
    if status == z3.unsat:
        return "proved"
    return "refuted: the advertised areas and the mmap check disagree on some byte"
