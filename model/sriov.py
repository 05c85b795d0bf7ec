"""SR-IOV VF BARs: where Linux puts them, and which layouts it refuses.

Source: gregkh/linux drivers/pci/iov.c @1e8a80290f96.
- sriov_init(): `if (resource_size(res) & (PAGE_SIZE - 1)) { rc = -EIO; goto
  failed; }` for every VF BAR, then `res->end = res->start +
  resource_size(res) * total - 1`: the PF's IOV resource holds TotalVFs
  copies of the VF BAR.
- pci_iov_add_virtfn(): `virtfn->resource[i].start = res->start + size * id`,
  `end = start + size - 1`, then request_resource(res, ...): VF BARs are
  contiguous children of the IOV resource at a stride of the VF BAR size.
- The IOV resource's alignment is the VF BAR size (pci_sriov_resource_alignment()).
So VF BARs are page multiples on page boundaries, and VFs never share a page.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.pci import ScenarioError
from model.units import is_power_of_two, size_name


class NotRealisable(ScenarioError):
    """A layout Linux cannot produce; the message names the kernel check that forbids it."""


@dataclass(frozen=True, slots=True)
class VfBar:
    vf: int
    """The VF number (0-based id of pci_iov_add_virtfn())."""
    start_bytes: int
    size_bytes: int

    @property
    def last(self) -> int:
        return self.start_bytes + self.size_bytes - 1


def check_vf_bar_size(vf_bar_bytes: int, page_bytes: int, where: str = "VF BAR") -> None:
    """Raise NotRealisable unless sriov_init() accepts a VF BAR of this size at this page size."""
    if not is_power_of_two(vf_bar_bytes):
        raise NotRealisable(f"{where}: size {vf_bar_bytes:#x} is not a power of two (BAR sizing)")
    if vf_bar_bytes % page_bytes:
        raise NotRealisable(
            f"{where}: size {size_name(vf_bar_bytes)} is not a multiple of the {size_name(page_bytes)} page: "
            f"sriov_init() (drivers/pci/iov.c) fails with -EIO, so these VFs are never created")


def vf_bars(iov_start: int, vf_bar_bytes: int, total_vfs: int, page_bytes: int,
            where: str = "VF BAR") -> list[VfBar]:
    """Every VF's copy of one VF BAR, as pci_iov_add_virtfn() places them."""
    check_vf_bar_size(vf_bar_bytes, page_bytes, where)
    if total_vfs < 1:
        raise NotRealisable(f"{where}: TotalVFs is {total_vfs}; SR-IOV needs at least one VF")
    if iov_start % vf_bar_bytes:
        raise NotRealisable(f"{where}: the IOV resource at {iov_start:#x} is not aligned to the VF BAR size "
                            f"{size_name(vf_bar_bytes)} (pci_sriov_resource_alignment())")
    return [VfBar(n, iov_start + vf_bar_bytes * n, vf_bar_bytes) for n in range(total_vfs)]
