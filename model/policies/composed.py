"""A kernel-version policy run under a PCI-core alignment configuration and, optionally, a VMM."""

from __future__ import annotations

from model.msix import Area, MsixLayout, MsixMmap, Platform
from model.ops import Flag, Ops, Word
from model.pci import Bar
from model.policies.alignment import MODIFIERS, PciCore
from model.policies.base import Policy, ProbeOutcome, ProbeRequest
from model.ranges import Range

ASPECTS = ("releases_dummy_at_close", "releases_dummy_at_reset", "releases_dummy_at_munmap", "pgoff_holds", "populates_at", "revokes_by",
           "placed_by_pci_core", "has_command_register", "revocation_ref", "has_msix", "msix_ref")
"""Class attributes of the base policy a configured policy keeps as they are."""


class Configured(Policy):
    """The vfio-pci rules of `base`; the resources they see come from `pci_core`; `vmm` maps them into a guest."""

    def __init__(self, base: Policy, pci_core: PciCore, spellings: tuple[str, ...], vmm=None,
                 name: str | None = None) -> None:
        self.base = base
        self.pci_core = pci_core
        self.vmm = vmm if vmm is not None else base.vmm  # type: ignore[misc]
        core_spellings = [s for s in spellings if s[1:].partition("=")[0] in MODIFIERS]
        self.name = name or base.name + "".join(spellings)  # type: ignore[misc]
        titles = "; ".join(MODIFIERS[s[1:].partition("=")[0]].title for s in core_spellings)
        refs = "; ".join(MODIFIERS[s[1:].partition("=")[0]].kernel_ref for s in core_spellings)
        self.title = base.title + (f"; with {titles}" if titles else "")  # type: ignore[misc]
        self.kernel_ref = base.kernel_ref + (f"; {refs}" if refs else "")  # type: ignore[misc]
        if vmm is not None:
            self.title += f"; guest side: {vmm.title}"  # type: ignore[misc]
        for aspect in ASPECTS:
            setattr(self, aspect, getattr(base, aspect))

    def probe(self, ops: Ops, req: ProbeRequest) -> ProbeOutcome:
        return self.base.probe(ops, req)

    def query(self, ops: Ops, req: ProbeRequest, first: ProbeOutcome) -> Flag:
        return self.base.query(ops, req, first)

    def reprobe(self, ops: Ops, req: ProbeRequest, current: ProbeOutcome) -> ProbeOutcome:
        return self.base.reprobe(ops, req, current)

    def mmap_window(self, ops: Ops, bar: Bar, page_bytes: Word) -> Range:
        return self.base.mmap_window(ops, bar, page_bytes)

    def at_mmap(self, ops: Ops, req: ProbeRequest, current: ProbeOutcome) -> ProbeOutcome:
        return self.base.at_mmap(ops, req, current)

    def zap_end_pgoff(self, page_shift: int) -> int:
        return self.base.zap_end_pgoff(page_shift)

    def msix_mmap_ok(self, ops: Ops, req: MsixMmap) -> Flag:
        return self.base.msix_mmap_ok(ops, req)

    def msix_areas(self, ops: Ops, page_bytes: Word, layout: MsixLayout, platform: Platform) -> tuple[Area, ...]:
        return self.base.msix_areas(ops, page_bytes, layout, platform)
