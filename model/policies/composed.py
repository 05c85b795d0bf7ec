"""A kernel-version policy run under a PCI-core alignment configuration."""

from __future__ import annotations

from model.ops import Flag, Ops, Word
from model.pci import Bar
from model.policies.alignment import MODIFIERS, PciCore
from model.policies.base import Policy, ProbeOutcome, ProbeRequest
from model.ranges import Range


class Configured(Policy):
    """The vfio-pci rules of `base`; the resources they see come from `pci_core`."""

    def __init__(self, base: Policy, pci_core: PciCore, spellings: tuple[str, ...]) -> None:
        self.base = base
        self.pci_core = pci_core
        self.name = base.name + "".join(spellings)  # type: ignore[misc]
        titles = "; ".join(MODIFIERS[s[1:].partition("=")[0]].title for s in spellings)
        self.title = f"{base.title}; with {titles}"  # type: ignore[misc]
        refs = "; ".join(MODIFIERS[s[1:].partition("=")[0]].kernel_ref for s in spellings)
        self.kernel_ref = f"{base.kernel_ref}; {refs}"  # type: ignore[misc]
        self.releases_dummy_at_close = base.releases_dummy_at_close  # type: ignore[misc]
        self.releases_dummy_at_reset = base.releases_dummy_at_reset  # type: ignore[misc]

    def probe(self, ops: Ops, req: ProbeRequest) -> ProbeOutcome:
        return self.base.probe(ops, req)

    def query(self, ops: Ops, req: ProbeRequest, first: ProbeOutcome) -> Flag:
        return self.base.query(ops, req, first)

    def reprobe(self, ops: Ops, req: ProbeRequest, current: ProbeOutcome) -> ProbeOutcome:
        return self.base.reprobe(ops, req, current)

    def mmap_window(self, ops: Ops, bar: Bar, page_bytes: Word) -> Range:
        return self.base.mmap_window(ops, bar, page_bytes)
