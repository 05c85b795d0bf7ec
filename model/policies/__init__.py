"""The registry of built-in policies, by name."""

from __future__ import annotations

from model.policies.base import Policy, ProbeOutcome, ProbeRequest
from model.policies.linux import Linux47, Linux48, V3PerBar

BUILTIN: dict[str, Policy] = {policy.name: policy for policy in (Linux47(), Linux48(), V3PerBar())}


class UnknownPolicy(KeyError):
    def __str__(self) -> str:
        known = ", ".join(sorted(BUILTIN))
        return f"unknown policy {self.args[0]!r} (known: {known})"


def get_policy(name: str) -> Policy:
    try:
        return BUILTIN[name]
    except KeyError:
        raise UnknownPolicy(name) from None


__all__ = ["BUILTIN", "Policy", "ProbeOutcome", "ProbeRequest", "UnknownPolicy", "get_policy"]
