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
from model.policies.msix import Linux416, MsixRemap2016
from model.policies.revocation import Linux58, Linux610, Rfc2021, VfioPlatform
from model.vmm import VMMS

BUILTIN: dict[str, Policy] = {policy.name: policy for policy in (
    Linux47(), Linux48(), V3PerBar(), Linux416(), Linux58(), Linux610(), Rfc2021(), MsixRemap2016(),
    VfioPlatform())}

SAME_PROBE_AS_4_8 = ("linux-4.16", "linux-5.8", "linux-6.10", "rfc-2021", "msix-remap-2016")
"""Policies that differ from linux-4.8 only in the MSI-X rule or in how mappings are populated and
revoked: the default run checks them on those properties only (`--policy` checks them on any)."""

SAME_MAPPING_AS_4_8 = ("linux-4.16", "msix-remap-2016")
"""Policies whose mappings behave as linux-4.8's: the default run leaves them out of the mapping checks."""

VMM_HOST_POLICY = "linux-6.10"
"""The host kernel of a VMM named on its own (`qemu-subpage`): the newest kernel version."""

GUEST_CATALOGUE = ("qemu-subpage", "vmm-no-priority")
"""The policies `barcheck prove` checks on the guest properties when none is named."""

CATALOGUE_COMPOSITIONS = (
    "linux-4.8+resource_alignment",
    "linux-4.8+default_alignment",
    "linux-4.8+align_small_bars",
    "linux-4.8+enhanced_allocation",
)
"""The configured policies `barcheck prove` checks by default, besides BUILTIN."""


USER: dict[str, Policy] = {}
"""Policies loaded from user files in this process, by name (see barcheck/run/userpolicy.py)."""


def register_user_policy(policy: Policy) -> None:
    """Make a user policy resolvable by name, like a built-in one (with modifiers too)."""
    if policy.name in BUILTIN or policy.name in VMMS:
        raise ValueError(f"{policy.name!r} is the name of a built-in policy")
    USER[policy.name] = policy


class UnknownPolicy(KeyError):
    def __str__(self) -> str:
        if isinstance(self.args[0], ModifierError):
            return str(self.args[0])
        known = ", ".join(sorted(BUILTIN) + sorted(VMMS) + sorted(USER))
        modifiers = ", ".join([f"+{m}" for m in MODIFIERS] + [f"+{v}" for v in VMMS])
        return (f"unknown policy {self.args[0]!r} (known: {known}, or a policy file ending in .py; "
                f"modifiers: {modifiers})")


def get_policy(name: str) -> Policy:
    """A built-in policy, a VMM on the newest kernel, or either with modifiers (PCI-core ones, then a VMM)."""
    base_name, *parts = name.split("+")
    if base_name in VMMS:
        return _with_vmm(BUILTIN[VMM_HOST_POLICY], VMMS[base_name], base_name, parts)
    try:
        base = BUILTIN[base_name] if base_name in BUILTIN else USER[base_name]
    except KeyError:
        raise UnknownPolicy(base_name if parts else name) from None
    if not parts:
        return base
    vmms = [part for part in parts if part in VMMS]
    if vmms[1:]:
        raise UnknownPolicy(ModifierError(f"{base_name}: give one VMM, not {' and '.join('+' + v for v in vmms)}"))
    core_parts = [part for part in parts if part not in VMMS]
    try:
        core, spellings = parse_modifiers(base_name, core_parts, tuple(VMMS))
    except ModifierError as err:
        raise UnknownPolicy(err) from None
    vmm = VMMS[vmms[0]] if vmms else None
    return Configured(base, core, spellings + tuple(f"+{v}" for v in vmms), vmm)


def _with_vmm(host: Policy, vmm, vmm_name: str, parts: list[str]) -> Policy:
    if any(part in VMMS for part in parts):
        raise UnknownPolicy(ModifierError(f"{vmm_name}: a VMM takes no second VMM"))
    try:
        core, spellings = parse_modifiers(vmm_name, parts, tuple(VMMS))
    except ModifierError as err:
        raise UnknownPolicy(err) from None
    return Configured(host, core, spellings, vmm, name=vmm_name + "".join(spellings))


def catalogue() -> list[Policy]:
    """Every policy `barcheck prove` checks on the placement properties when none is named, in a fixed order."""
    bases = [policy for name, policy in BUILTIN.items() if name not in SAME_PROBE_AS_4_8]
    return bases + [get_policy(name) for name in CATALOGUE_COMPOSITIONS]


def mapping_catalogue() -> list[Policy]:
    """Every policy `barcheck prove` checks on the vm_pgoff and revocation properties when none is named."""
    return [policy for name, policy in BUILTIN.items() if name not in SAME_MAPPING_AS_4_8]


def msix_catalogue() -> list[Policy]:
    """Every policy `barcheck prove` checks on the MSI-X properties when none is named."""
    return [policy for policy in BUILTIN.values() if policy.has_msix]


def guest_catalogue() -> list[Policy]:
    return [get_policy(name) for name in GUEST_CATALOGUE]


__all__ = ["BUILTIN", "USER", "register_user_policy", "CATALOGUE_COMPOSITIONS", "GUEST_CATALOGUE", "SAME_MAPPING_AS_4_8", "SAME_PROBE_AS_4_8",
           "VMMS", "guest_catalogue", "mapping_catalogue", "msix_catalogue", "Configured", "PciCore", "Policy", "ProbeOutcome",
           "ProbeRequest", "UnknownPolicy", "catalogue", "get_policy"]


def is_plain(policy: Policy) -> bool:
    """No PCI-core modifier: the trace and scenario models (natural alignment) cover it."""
    return policy.pci_core == PciCore()
