"""The two properties whose checks are built into their engines: the pgoff round trip and the MSI-X measure."""

from __future__ import annotations

ROUND_TRIP_ID = "pgoff.round-trip"
ROUND_TRIP_TITLE = "Decoding an encoded region offset gives back the region and the offset"
ROUND_TRIP_STATEMENT = (
    "For every region index 0-5, every power-of-two BAR size and every page offset inside "
    "PAGE_ALIGN(size): VFIO_PCI_OFFSET_TO_INDEX and the vm_pgoff split of vfio_pci_core_mmap() "
    "recover the index and the offset from VFIO_PCI_INDEX_TO_OFFSET(index) + offset.")
ROUND_TRIP_SCOPE = "every region index 0-5, power-of-two BAR size of at least 16 bytes and page offset inside the BAR"

MEASURE_ID = "msix.mappable-fraction"
MEASURE_TITLE = "Bytes of an MSI-X BAR userspace can mmap, per page size (a measure, not a verdict)"
MEASURE_STATEMENT = (
    "For an MSI-X BAR of each size, page-aligned with its page free so the probe maps it, the bytes inside the mmap "
    "areas vfio-pci advertises (the sparse areas around the page-rounded table before v4.16, the whole BAR with "
    "VFIO_REGION_INFO_CAP_MSIX_MAPPABLE from v4.16): the least and the greatest over every legal table placement.")
