"""The patch gate: which checks a policy file (a patch) can change, and a refusal when it changes
something no selected check reads.

A check's verdict can differ from the unpatched kernel's only if its encoding
reads a member the file overrides; barcheck/run/depends.py records those reads
from the engines themselves.  A member nothing reads would be silently
untested, so it is an error that names it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from barcheck.cli.util import UsageError
from barcheck.run.depends import EVERYTHING, Recorder, changed_members, file_members
from barcheck.run.jobs import Job
from barcheck.run.userpolicy import policy_file_of
from model.policies import Policy, get_policy

_RECORDERS: dict[Policy, Recorder] = {}
_READS: dict[tuple[Policy, Job], frozenset[str] | None] = {}


def reads_of(job: Job, policy: Policy) -> frozenset[str] | None:
    """The members of `policy` the job's encoding reads (None: could read any), recorded once."""
    key = (policy, job)
    if key not in _READS:
        if policy not in _RECORDERS:
            _RECORDERS[policy] = Recorder(policy)
        _READS[key] = _RECORDERS[policy].members_read(job)
    return _READS[key]


def overridden_members(policy: Policy) -> set[str]:
    """Every rule, attribute and helper the policy's file defines (empty for a built-in policy)."""
    loaded = policy_file_of(policy.name)
    if loaded is None:
        return set()
    public, private = file_members(policy, type(loaded.policy).__module__)
    return public | private


def diff_members(a: Policy, b: Policy) -> set[str]:
    """What can make two policies answer differently: members that differ, and all a file defines."""
    return changed_members(a, b) | overridden_members(a) | overridden_members(b)


def _policy(name: str, policies: dict[str, Policy]) -> Policy:
    return policies[name] if name in policies else get_policy(name)


def dependent_checks(jobs: list[Job], policies: dict[str, Policy], changed: set[str],
                     recorded_on: set[str]) -> frozenset[tuple[str, str]]:
    """(engine, property) of every check whose encoding, on a policy named in `recorded_on`, reads a
    changed member, or could not be recorded."""
    keep = set()
    for job in jobs:
        key = (job.engine, job.prop_id)
        if key in keep or job.policy_name not in recorded_on:
            continue
        names = reads_of(job, _policy(job.policy_name, policies))
        if names is EVERYTHING or names & changed:
            keep.add(key)
    return frozenset(keep)


def require_files_read(policies: list[Policy], jobs: list[Job], *, chosen_by_user: bool) -> None:
    """Refuse a run in which a rule a policy file overrides is read by none of the checks."""
    by_name = {p.name: p for p in policies}
    for policy in policies:
        loaded = policy_file_of(policy.name)
        if loaded is None:
            continue
        public, _ = file_members(policy, type(loaded.policy).__module__)
        read: set[str] = set()
        for job in jobs:
            if job.policy_name != policy.name:
                continue
            names = reads_of(job, _policy(job.policy_name, by_name))
            if names is EVERYTHING:
                return
            read |= names
        unread = sorted(public - read)
        if unread:
            raise UsageError(_unread_message(loaded.shown, loaded.path, type(loaded.policy).__name__, unread,
                                             chosen_by_user))


def _unread_message(shown: str, path: str, class_name: str, unread: list[str], chosen_by_user: bool) -> str:
    member = unread[0]
    line = member_line(path, class_name, member)
    where = f"{shown}:{line}" if line else shown
    more = f" (also: {', '.join(unread[1:])})" if unread[1:] else ""
    if chosen_by_user:
        why = ("the --property/--mode selection has no check that reads it; leave them out and barcheck runs "
               "every check that reads a rule the file overrides")
    else:
        why = ("no check barcheck runs for this policy reads it (trace checks need a policy without PCI-core "
               "modifiers, and --mode and --events narrow what runs)")
    return f"--policy {where}: `{member}`{more} is overridden but {why}; the run would not test it"


def member_line(path: str, class_name: str, member: str) -> int | None:
    """The line of `member` in class `class_name` of the file, or None."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    classes = [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    for node in sorted(classes, key=lambda node: node.name != class_name):
        for item in node.body:
            if member in _defined_names(item):
                return item.lineno
    return None


def _defined_names(item: ast.stmt) -> list[str]:
    if isinstance(item, ast.Assign):
        return [target.id for target in item.targets if isinstance(target, ast.Name)]
    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
        return [item.target.id]
    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return [item.name]
    return []
