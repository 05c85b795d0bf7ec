"""The kernel (or VMM) code each property is about, named in counterexample explanations."""

from __future__ import annotations

PROBE_AND_MMAP = "vfio_pci_probe_mmaps() and vfio_pci_core_mmap() (drivers/vfio/pci/vfio_pci_core.c)"

KERNEL_CODE: dict[str, str] = {
    "isolation.window": PROBE_AND_MMAP,
    "mmap.window-within-bar-or-dummy": PROBE_AND_MMAP,
    "mmap.subpage-available": "vfio_pci_probe_mmaps() and the PCI core's BAR alignment "
                              "(pci_reassigndev_resource_alignment(), drivers/pci/pci.c)",
    "probe.idempotent": "vfio_pci_probe_mmaps(), which reserves the dummy with request_resource() on every open",
    "alignment.preserved-across-realloc": "pci_reassigndev_resource_alignment() (drivers/pci/pci.c) and the "
                                          "bridge-window release and reassignment in drivers/pci/setup-bus.c",
    "guest.no-foreign-host-page": "QEMU's vfio_sub_page_bar_update_mapping() (hw/vfio/pci.c) over "
                                  "vfio_pci_core_mmap()",
    "guest.bar-routing": "QEMU's vfio_sub_page_bar_update_mapping() (hw/vfio/pci.c) and memory-region priorities",
    "msix.table-protected": "vfio_pci_core_mmap()'s MSI-X table check and msix_mmappable_cap() "
                            "(drivers/vfio/pci/vfio_pci_core.c)",
    "msix.non-table-mappable": "vfio_pci_mmap()'s MSI-X table check and msix_sparse_mmap_cap() "
                               "(drivers/vfio/pci/vfio_pci.c)",
    "msix.mappable-fraction": "msix_sparse_mmap_cap() and msix_mmappable_cap() (drivers/vfio/pci/vfio_pci_core.c)",
    "pgoff.round-trip": "VFIO_PCI_INDEX_TO_OFFSET() and VFIO_PCI_OFFSET_TO_INDEX() (include/linux/vfio_pci_core.h)",
    "pgoff.region-of-vma": "the vm_pgoff that vfio_pci_core_mmap() stores and the zap and fault paths decode",
    "revoke.complete": "vfio_pci_zap_and_down_write_memory_lock() and unmap_mapping_range() "
                       "(drivers/vfio/pci/vfio_pci_core.c)",
    "dummy.held-while-mapped": "vfio_pci_probe_mmaps() and the dummy_resources_list that vfio_pci_disable() "
                               "releases",
    "dummy.no-leak": "vfio_pci_disable(), which releases dummy_resources_list",
    "hotplug.no-placement-in-mapped-page": "pci_assign_resource() and allocate_resource() at hot-add "
                                           "(drivers/pci/setup-res.c, kernel/resource.c)",
}
