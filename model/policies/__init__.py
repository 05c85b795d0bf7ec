"""The registry of built-in policies, by name, and composition with modifiers.

A policy name is a kernel-version policy followed by modifiers:
`linux-4.8+resource_alignment+enhanced_allocation`.  Modifiers are written
back in registry order, so every spelling of one configuration gets one name.
"""

from __future__ import annotations

from model.policies.alignment import MODIFIERS, ModifierError, PciCore, parse_modifiers
from model.policies.base import Policy, ProbeOutcome, ProbeRequest
from model.policies.composed import Configured
from model.policies.linux import Linux47, Linux48, V3PerBar
from model.policies.revocation import Linux58, Linux610, Rfc2021, VfioPlatform

BUILTIN: dict[str, Policy] = {policy.name: policy for policy in (
    Linux47(), Linux48(), V3PerBar(), Linux58(), Linux610(), Rfc2021(), VfioPlatform())}

SAME_PROBE_AS_4_8 = ("linux-5.8", "linux-6.10", "rfc-2021")
"""Policies that differ from linux-4.8 only in how mappings are populated and revoked: the
default run checks them on the mapping properties only (`--policy` checks them on any)."""

CATALOGUE_COMPOSITIONS = (
    "linux-4.8+resource_alignment",
    "linux-4.8+default_alignment",
    "linux-4.8+align_small_bars",
    "linux-4.8+enhanced_allocation",
)
"""The configured policies `barcheck prove` checks by default, besides BUILTIN."""


class UnknownPolicy(KeyError):
    def __str__(self) -> str:
        if isinstance(self.args[0], ModifierError):
            return str(self.args[0])
        known = ", ".join(sorted(BUILTIN))
        modifiers = ", ".join(f"+{m}" for m in MODIFIERS)
        return f"unknown policy {self.args[0]!r} (known: {known}; modifiers: {modifiers})"


def get_policy(name: str) -> Policy:
    base_name, *parts = name.split("+")
    try:
        base = BUILTIN[base_name]
    except KeyError:
        raise UnknownPolicy(base_name if parts else name) from None
    if not parts:
        return base
    try:
        core, spellings = parse_modifiers(base_name, parts)
    except ModifierError as err:
        raise UnknownPolicy(err) from None
    return Configured(base, core, spellings)


def catalogue() -> list[Policy]:
    """Every policy `barcheck prove` checks on the placement properties when none is named, in a fixed order."""
    bases = [policy for name, policy in BUILTIN.items() if name not in SAME_PROBE_AS_4_8]
    return bases + [get_policy(name) for name in CATALOGUE_COMPOSITIONS]


def mapping_catalogue() -> list[Policy]:
    """Every policy `barcheck prove` checks on the vm_pgoff and revocation properties when none is named."""
    return list(BUILTIN.values())


__all__ = ["BUILTIN", "CATALOGUE_COMPOSITIONS", "SAME_PROBE_AS_4_8", "mapping_catalogue", "Configured", "PciCore", "Policy", "ProbeOutcome",
           "ProbeRequest", "UnknownPolicy", "catalogue", "get_policy"]
