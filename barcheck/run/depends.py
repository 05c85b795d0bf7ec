"""Which policy members a check's encoding reads, and which checks a patch can change.

A check can only come out differently for a patched policy when its encoding
reads a rule or attribute the patch changed.  The reads are recorded, not
listed by hand: the job's own engine runs once on a stand-in of the policy
whose every attribute access is logged, with a solver budget of one resource
unit, so the encoding is built as in a real run (every rule the transition
system, the property and the assumptions call) while each solver call gives up
at once.  An engine that raises while recording, or a stand-in that cannot be
built, counts as reading everything: the check is kept.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, Iterable

from barcheck.run.jobs import TRACE, VMA, Job, run_with_policy
from model.policies import Policy
from model.policies.composed import Configured

RECORDING_RLIMIT = 1
"""Resource units per solver call while recording: the encoding is built, nothing is decided."""
NOT_RULES = frozenset({"name", "title", "kernel_ref", "revocation_ref", "msix_ref", "base"})
"""Descriptions and plumbing, never rules: a change in them cannot change a verdict."""

EVERYTHING = None
"""What `members_read` returns when it could not record: treat the check as reading every member."""


class _Reads:
    def __init__(self) -> None:
        self.names: set[str] = set()


def _recording(policy: Policy, reads: _Reads) -> Policy:
    """A copy of `policy` whose class logs every attribute read (its base's too, for a configured policy)."""
    cls = type(policy)

    def logged(self: Any, name: str) -> Any:
        if not name.startswith("__"):
            reads.names.add(name)
        return cls.__getattribute__(self, name)

    stand_in_class = type(f"Recording{cls.__name__}", (cls,), {"__getattribute__": logged,
                                                                "__module__": cls.__module__})
    stand_in: Any = object.__new__(stand_in_class)
    stand_in.__dict__.update(vars(policy))
    if isinstance(policy, Configured):
        stand_in.__dict__["base"] = _recording(policy.base, reads)
    return stand_in


class Recorder:
    """One stand-in of a policy; each `reads` call logs what one piece of encoding reads from it."""

    def __init__(self, policy: Policy) -> None:
        self._log = _Reads()
        self.stand_in = _recording(policy, self._log)
        self._systems: dict[tuple, tuple[Any, frozenset[str]]] = {}

    def reads(self, build: Callable[[Policy], Any]) -> tuple[Any, frozenset[str]]:
        self._log.names = set()
        value = build(self.stand_in)
        return value, frozenset(self._log.names - NOT_RULES)

    def members_read(self, job: Job) -> frozenset[str] | None:
        """The policy members the job's encoding reads, or EVERYTHING when recording failed."""
        try:
            settings = dataclasses.replace(job.settings, rlimit=RECORDING_RLIMIT)
            _, names = self.reads(lambda p: run_with_policy(dataclasses.replace(job, settings=settings), p))
            return names | self._one_step(job)
        except Exception:  # noqa: BLE001 -- any failure means "could read anything"
            return EVERYTHING

    def _one_step(self, job: Job) -> frozenset[str]:
        """The trace engines stop at their first undecided query, before the transition system is built:
        build it directly (once per structure, page and settings) and the property's clauses on it."""
        if job.engine not in (TRACE, VMA):
            return frozenset()
        engine = _trace_engine(job)
        key = (job.engine, job.page_bytes, job.devices, job.settings)
        if key not in self._systems:
            self._systems[key] = self.reads(lambda p: engine.encode_system(p, engine.structure, job.page_bytes,
                                                                           job.settings))
        one, system_names = self._systems[key]
        _, names = self.reads(lambda p: engine.encode_property(engine.prop, p, engine.structure, one))
        return system_names | names


@dataclasses.dataclass(frozen=True)
class _TraceEngine:
    prop: Any
    structure: Any
    encode_system: Callable
    encode_property: Callable


def _trace_engine(job: Job) -> _TraceEngine:
    if job.engine == TRACE:
        from barcheck.engine import tracecheck
        from model.system import standard_structure
        from properties.trace import TRACE_PROPERTIES
        return _TraceEngine(TRACE_PROPERTIES[job.prop_id], standard_structure(job.devices),
                            tracecheck.encode_system, tracecheck.encode_property)
    from barcheck.engine import vmacheck
    from model.vma import vma_structure
    from properties.revoke import VMA_PROPERTIES
    return _TraceEngine(VMA_PROPERTIES[job.prop_id], vma_structure(job.devices),
                        vmacheck.encode_system, vmacheck.encode_property)


def member_table(policy: Policy) -> dict[str, Any]:
    """Every rule and attribute that decides the policy's behaviour, resolved to the object that
    implements it (the function for a method, the value for an attribute)."""
    kernel = policy.base if isinstance(policy, Configured) else policy
    table: dict[str, Any] = {}
    for klass in reversed(type(kernel).__mro__):
        if klass is object:
            continue
        for attr in vars(klass):
            if not attr.startswith("__") and attr not in NOT_RULES:
                table[attr] = inspect.getattr_static(kernel, attr)
    for attr in ("pci_core", "vmm"):
        table[attr] = getattr(policy, attr)
    return table


def changed_members(a: Policy, b: Policy) -> set[str]:
    """Members whose implementation differs between two policies."""
    table_a, table_b = member_table(a), member_table(b)
    missing = object()
    return {name for name in set(table_a) | set(table_b)
            if not _same(table_a.get(name, missing), table_b.get(name, missing))}


def _same(x: Any, y: Any) -> bool:
    if x is y:
        return True
    if inspect.isfunction(x) or inspect.isfunction(y) or isinstance(x, (staticmethod, classmethod)):
        return False
    try:
        return bool(x == y) and type(x) is type(y)
    except Exception:  # noqa: BLE001
        return False


def file_members(policy: Policy, module_name: str) -> tuple[set[str], set[str]]:
    """(public rules, private helpers) a policy file's own classes define."""
    kernel = policy.base if isinstance(policy, Configured) else policy
    public: set[str] = set()
    private: set[str] = set()
    for klass in type(kernel).__mro__:
        if klass.__module__ != module_name:
            continue
        for attr in vars(klass):
            if attr.startswith("__") or attr in NOT_RULES:
                continue
            (private if attr.startswith("_") else public).add(attr)
    return public, private


def reading(jobs: Iterable[Job], policies: dict[str, Policy]) -> dict[tuple[str, str], frozenset[str] | None]:
    """Members read per (engine, property), over every job given (None: could read anything)."""
    recorders: dict[str, Recorder] = {}
    found: dict[tuple[str, str], frozenset[str] | None] = {}
    for job in jobs:
        key = (job.engine, job.prop_id)
        if key in found and found[key] is EVERYTHING:
            continue
        if job.policy_name not in recorders:
            recorders[job.policy_name] = Recorder(policies[job.policy_name])
        names = recorders[job.policy_name].members_read(job)
        found[key] = EVERYTHING if names is EVERYTHING else frozenset(names | (found.get(key) or frozenset()))
    return found
