"""Worked example: a patch that changes one rule method.

The patch (hypothetical): "vfio-pci: allow mmap of sub-page BARs at any offset
in their page".  It drops the test `!(res->start & ~PAGE_MASK)` from
vfio_pci_probe_mmaps() (drivers/vfio/pci/vfio_pci.c, 05f0c03fbac1), so a
sub-page BAR that does not start on a page boundary also gets a dummy
resource for [res->end + 1, res->start + PAGE_SIZE - 1] and is mmappable.

The mmap still starts at the page holding the BAR, so the bytes of the page
before the BAR are neither the BAR's nor reserved: another device's registers
can sit there.

  barcheck diff --policy linux-4.8 --policy examples/policies/any_offset.py --page-size 4K
"""

from model.ops import Flag, Ops, Word
from model.pci import Bar
from model.policies.linux import Linux48


class AnyOffset(Linux48):
    """linux-4.8 without the page-alignment test for sub-page BARs"""

    name = "any-offset"
    kernel_ref = "hypothetical patch: vfio_pci_probe_mmaps() without `if (!(res->start & ~PAGE_MASK))`"

    def may_reserve(self, ops: Ops, bar: Bar, page_bytes: Word) -> Flag:
        """Every sub-page BAR asks for a dummy, wherever it starts in its page."""
        return ops.true()
