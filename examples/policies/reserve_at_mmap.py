"""Reserve a sub-page BAR's page only when userspace first maps it (an mmap-time rule).

The idea (hypothetical, for the example): vfio_pci_probe_mmaps() marks a
page-aligned sub-page BAR mmappable without requesting anything, and
vfio_pci_core_mmap() requests the "vfio sub-page reserved" dummy on the first
mmap, failing with -EBUSY when the rest of the page is taken.  The
reservation then lives until the device is disabled, as upstream's does
(drivers/vfio/pci/vfio_pci.c vfio_pci_disable(), 05f0c03fbac1).

`at_mmap` is the rule for what mmap() does; `probe` is the rule for what
happens at enable.  The pair checks see the mmap-time rule with every other
resource of the parent that exists by then, the trace checks at the mmap
event of every trace.

  barcheck prove --policy examples/policies/reserve_at_mmap.py --page-size 4K
  barcheck diff --policy linux-4.8 --policy examples/policies/reserve_at_mmap.py --page-size 4K
"""

from model.policies.base import ProbeOutcome
from model.policies.linux import Linux48


class ReserveAtMmap(Linux48):
    """linux-4.8, but the sub-page reservation is requested at the first mmap instead of at enable"""

    name = "reserve-at-mmap"
    kernel_ref = "hypothetical patch: vfio_pci_core_mmap() requests the sub-page dummy on first use"

    def probe(self, ops, req):
        bar, page = req.bar, req.page_bytes
        eligible = self.eligible(ops, bar)
        whole = ops.all_of(eligible, self.whole_pages(ops, bar, page))
        later = ops.all_of(eligible, ops.negate(whole), self.may_reserve(ops, bar, page))
        return ProbeOutcome(ops.any_of(whole, later), ops.false(), self.dummy_range(ops, bar, page))

    def at_mmap(self, ops, req, current):
        bar, page = req.bar, req.page_bytes
        subpage = ops.negate(self.whole_pages(ops, bar, page))
        dummy = self.dummy_range(ops, bar, page)
        wanted = ops.all_of(current.mmappable, subpage, ops.negate(current.dummy_held))
        held = ops.any_of(current.dummy_held, ops.all_of(wanted, self.request_dummy(ops, req, dummy)))
        ok = ops.all_of(current.mmappable, ops.any_of(ops.negate(subpage), held))
        return ProbeOutcome(ok, held, dummy)
