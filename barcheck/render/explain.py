"""What a reviewer reads first: one sentence per counterexample, "why it holds" per proof, and where the policy lives."""

from __future__ import annotations

import functools
import hashlib
import inspect
import re
from pathlib import Path
from typing import Any

from barcheck.engine.recordcheck import RecordCounterexample
from barcheck.engine.verdict import Result
from barcheck.engine.sources import PROJECT_ROOT
from model.policies import Policy, UnknownPolicy, get_policy
from model.units import size_name
from properties import ASSUMPTION_TEXT
from properties.claims import claim
from properties.code import KERNEL_CODE



def title_and_statement(prop_id: str, kind: str) -> tuple[str, str]:
    found = claim(kind, prop_id)
    return found.title, found.statement


def result_id(result: Result, kind: str) -> str:
    """A file-name-safe id, unique per (property, kind, policy, page size)."""
    return id_of(result.property, kind, result.policy, result.page_size)


MAX_ID_CHARS = 150
"""Ids name files (`<id>.md`, `<id>-<n>.svg`); with this cap every such name stays far below NAME_MAX (255 bytes)."""


def id_of(prop_id: str, kind: str, policy_name: str, page_bytes: int) -> str:
    """`<property>.<kind>.<policy>.<page>` in file-name characters; a longer one is cut, keeping a digest."""
    raw = f"{prop_id}.{kind}.{policy_name}.{size_name(page_bytes)}"
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", raw.replace("+", "_plus_"))
    if len(safe) <= MAX_ID_CHARS:
        return safe
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{safe[:MAX_ID_CHARS - len(digest) - 1]}-{digest}"


def explanation(result: Result, kind: str) -> str:
    """One sentence in domain terms: what went wrong, the rule it breaks, the kernel code concerned."""
    if result.counterexample is not None:
        return result.counterexample.explanation
    trace = result.trace
    if isinstance(trace, RecordCounterexample):
        return trace.report_lines[0]
    title, _ = title_and_statement(result.property, kind)
    code = KERNEL_CODE[result.property]
    page = size_name(result.page_size)
    what = trace.summary() if trace is not None else "the check failed"
    return (f"Under {result.policy} at {page} pages, {what}, breaking {result.property} "
            f"(\"{title}\"), a rule {code} must keep.")


def why_it_holds(result: Result, kind: str) -> dict[str, Any]:
    scope = result.scope.get("quantified", "")
    if kind == "trace":
        scope += ("; an inductive invariant (init, step and safety discharged separately)"
                  if result.scope.get("method") == "induction" else "; bounded model checking")
        if "placement" in result.scope:
            scope += f"; placement {result.scope['placement']}"
    used = [{"name": name, "text": ASSUMPTION_TEXT.get(name, name)} for name in result.assumptions]
    return {"scope": scope, "assumptions": used}


@functools.lru_cache(maxsize=256)
def _class_source(cls: type) -> tuple[Path, int]:
    """The file and first line of a class (inspect parses the whole file: keep the answer per class object)."""
    _, line = inspect.getsourcelines(cls)
    return Path(inspect.getsourcefile(cls) or "").resolve(), line


def policy_source(policy_name: str, prop_id: str) -> dict[str, Any]:
    """The file and line of the class that implements the policy (the VMM's for guest properties)."""
    try:
        policy: Policy = get_policy(policy_name)
    except UnknownPolicy:
        return {"path": "model/policies/__init__.py", "line": 1}
    target: object = policy
    if prop_id.startswith("guest.") and policy.vmm is not None:
        target = policy.vmm
    while hasattr(target, "base"):
        target = target.base
    cls: type = type(target)
    path, line = _class_source(cls)
    for root in (PROJECT_ROOT, Path.cwd().resolve()):
        if path.is_relative_to(root):
            return {"path": path.relative_to(root).as_posix(), "line": line}
    return {"path": path.as_posix(), "line": line}
