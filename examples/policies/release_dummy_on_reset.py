"""Worked example: model a patch in a few lines, then ask barcheck what it breaks.

The patch (hypothetical, for the example): "vfio-pci: release the sub-page
reservations on VFIO_DEVICE_RESET".  It frees every "vfio sub-page reserved"
dummy resource in the reset path, so a device that is reset gives the rest of
its BARs' pages back to the PCI core, while userspace still has the BARs
mapped.

Upstream keeps the dummies until vfio_pci_disable() (last close):
drivers/vfio/pci/vfio_pci.c vfio_pci_disable(), 05f0c03fbac1, walks
dummy_resources_list and releases each; the reset ioctl never touches it.

  barcheck prove --policy examples/policies/release_dummy_on_reset.py \
      --mode trace --property dummy.held-while-mapped --page-size 4K
  barcheck diff --policy linux-4.8 --policy examples/policies/release_dummy_on_reset.py \
      --mode trace --page-size 4K
"""

from model.policies.linux import Linux48


class ReleaseDummyOnReset(Linux48):
    """linux-4.8, but VFIO_DEVICE_RESET releases the sub-page reservations"""

    name = "release-dummy-on-reset"
    kernel_ref = "hypothetical patch: vfio_pci_core_ioctl(VFIO_DEVICE_RESET) frees vdev->dummy_resources_list"

    releases_dummy_at_reset = True
