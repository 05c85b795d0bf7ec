"""A patch that looks harmless in the pair checks: munmap() gives the sub-page reservation back.

The patch (hypothetical, for the example): "vfio-pci: release a BAR's sub-page
reservation when its last mapping goes away".  Upstream keeps every "vfio
sub-page reserved" dummy until vfio_pci_disable() (last close):
drivers/vfio/pci/vfio_pci.c vfio_pci_disable(), 05f0c03fbac1, walks
dummy_resources_list and releases each; munmap() never touches it.

Only the trace checks read `releases_dummy_at_munmap`, so `barcheck diff` runs
those by default and refutes dummy.held-while-mapped with open, mmap, munmap,
mmap: the second mapping reaches a page nothing reserves any more.

  barcheck diff --policy linux-4.8 --policy examples/policies/munmap_release.py --page-size 4K
"""

from model.policies.linux import Linux48


class MunmapRelease(Linux48):
    """linux-4.8, but munmap() releases the BAR's sub-page reservation"""

    name = "munmap-release"
    kernel_ref = "hypothetical patch: vfio_pci_mmap_close() frees the BAR's entry of vdev->dummy_resources_list"

    releases_dummy_at_munmap = True
