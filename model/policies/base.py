"""What a policy is: one kernel behaviour, written once against `Ops`.

A policy is a class whose methods are the rules of that behaviour.  A variant
(a later kernel, a proposal, a user's patch, a deliberately broken mutant)
derives from another policy and overrides one rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from model.ops import Flag, Ops, Word
from model.msix import Area, MsixLayout, MsixMmap, Platform
from model.pci import Bar
from model.pgoff import zap_end_pgoff
from model.policies.alignment import PciCore
from model.ranges import Range
from model.resource_tree import Child


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    """What vfio-pci sees when it decides whether one BAR may be mmapped."""

    page_bytes: Word
    bar: Bar
    parent: Range
    """The BAR's parent resource (res->parent): a bridge or host-bridge window."""
    children: tuple[Child, ...]
    """The parent's other direct children at the time of the call."""


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    mmappable: Flag
    """bar_mmap_supported[index] after the probe."""
    dummy_held: Flag
    """A "vfio sub-page reserved" resource was requested successfully and is held."""
    dummy: Range
    """The range of that dummy resource (meaningful only when held)."""


PGOFF_PFN, PGOFF_REGION = "pfn", "region"
POPULATE_AT_MMAP, POPULATE_AT_FAULT = "mmap", "fault"
REVOKE_NONE, REVOKE_VMA_LIST, REVOKE_MAPPING_RANGE = "none", "vma-list", "mapping-range"


class Policy:
    """Base class of all policies.  Subclasses set the class attributes."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    kernel_ref: ClassVar[str] = ""
    """File, function and commit of the kernel code the policy models."""
    pci_core: PciCore = PciCore()
    """How the PCI core sizes and aligns the resources vfio-pci sees (no modifiers: natural alignment)."""

    def probe(self, ops: Ops, req: ProbeRequest) -> ProbeOutcome:
        """Decide mmappability of one BAR when the device is enabled."""
        raise NotImplementedError

    releases_dummy_at_close: ClassVar[bool] = True
    """vfio_pci_core_disable() (last close) releases every dummy."""
    releases_dummy_at_reset: ClassVar[bool] = False
    """VFIO_DEVICE_RESET leaves the reservations alone."""
    releases_dummy_at_munmap: ClassVar[bool] = False
    """munmap() of a BAR leaves its reservation alone (it lives until the device is disabled)."""

    def query(self, ops: Ops, req: ProbeRequest, first: ProbeOutcome) -> Flag:
        """Ask again, later, whether the BAR may be mmapped.  Default: the cached answer."""
        return first.mmappable

    def reprobe(self, ops: Ops, req: ProbeRequest, current: ProbeOutcome) -> ProbeOutcome:
        """A repeated probe while the device stays open (a region-info query asks again).

        Default: the answer is cached in bar_mmap_supported[], nothing is requested.
        """
        return ProbeOutcome(self.query(ops, req, current), current.dummy_held, current.dummy)

    def mmap_window(self, ops: Ops, bar: Bar, page_bytes: Word) -> Range:
        """The physical bytes the largest permitted mmap of the BAR reaches."""
        raise NotImplementedError

    def at_mmap(self, ops: Ops, req: ProbeRequest, current: ProbeOutcome) -> ProbeOutcome:
        """What mmap() of the BAR does to its reservation before it maps, seeing the parent's children
        at that moment.  The result's `mmappable` says whether this mmap succeeds; its dummy fields are
        the reservation from then on.

        Default: vfio_pci_core_mmap() requests nothing and checks bar_mmap_supported[] only
        (drivers/vfio/pci/vfio_pci_core.c, gregkh/linux@1129c0011b90), so the probe's answer stands.
        A patch that reserves the page remainder at the first mmap instead of at enable overrides it.
        """
        return current

    pgoff_holds: ClassVar[str] = PGOFF_PFN
    """What mmap leaves in vma->vm_pgoff: the physical pfn, or the region encoding."""
    populates_at: ClassVar[str] = POPULATE_AT_MMAP
    """When PTEs appear: remap_pfn_range() in mmap, or the fault handler."""
    revokes_by: ClassVar[str] = REVOKE_NONE
    """How memory-disable, reset and D3 take mappings away."""
    placed_by_pci_core: ClassVar[bool] = True
    """The device's BARs are assigned, hot-added and rescanned by the PCI core (false for platform devices)."""
    has_command_register: ClassVar[bool] = True
    """PCI config space (COMMAND memory bit, PM capability, bus resets); false for platform devices."""
    revocation_ref: ClassVar[str] = ""

    def zap_end_pgoff(self, page_shift: int) -> int:
        """The end (exclusive, in vm_pgoff numbering) of the file range vfio_pci_zap_bars() unmaps."""
        return zap_end_pgoff(page_shift)
    """File, function and commit of the mmap, fault and zap code the revocation aspect models."""

    has_msix: ClassVar[bool] = True
    """The bus driver passes MSI-X devices through (false for platform devices)."""
    msix_ref: ClassVar[str] = ""
    """File, function and commit of the MSI-X mmap rule."""
    vmm: ClassVar[Any] = None
    """The VMM on the guest side (`model.vmm.Vmm`), or None when the policy describes the host kernel only."""

    def msix_mmap_ok(self, ops: Ops, req: MsixMmap) -> Flag:
        """The MSI-X part of the mmap check for a request on the MSI-X BAR."""
        raise NotImplementedError

    def msix_areas(self, ops: Ops, page_bytes: Word, layout: MsixLayout, platform: Platform) -> tuple[Area, ...]:
        """The mmap areas of the MSI-X BAR userspace is told about."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<policy {self.name}>"


def may_map_alone(ops: Ops, policy: Policy, req: ProbeRequest) -> Flag:
    """Whether userspace can mmap the BAR when the parent's children do not change between the probe
    and the mmap: the probe allows it and the mmap-time rule does not refuse."""
    first = policy.probe(ops, req)
    mapped = policy.at_mmap(ops, req, first)
    return first.mmappable if mapped is first else ops.all_of(first.mmappable, mapped.mmappable)
