"""A host check: the analysis of every memory BAR of one machine, and what it rests on."""

from __future__ import annotations

from dataclasses import dataclass

from barcheck.host.analyse import BarView, analyse_bar
from barcheck.host.hint import JointCheck, joint_check
from barcheck.host.tree import BAR, Tree, build
from barcheck.host.dump.model import PCI_BUS, HostDump
from model.policies import Policy


@dataclass(frozen=True)
class HostReport:
    dump: HostDump
    page_sizes: tuple[int, ...]
    policies: tuple[str, ...]
    hint_policy: str | None
    bars: tuple[BarView, ...]
    assumptions: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...]
    joint: tuple[JointCheck | None, ...]
    """Per page size: one kernel parameter naming every device a hint covers, checked with all of them moved."""

    def leaking(self) -> list[tuple[BarView, int, str]]:
        """(BAR, page size, policy) where a mmappable BAR's window reaches beyond what it owns."""
        return [(view, page.page_bytes, name) for view in self.bars for page in view.pages
                for name, policy_view in sorted(page.policies.items()) if not policy_view.isolated]


def check_host(dump: HostDump, page_sizes: list[int], policies: list[Policy], hint_policy: str | None) -> HostReport:
    tree = build(dump)
    nodes = sorted((node for node in tree.nodes if node.role == BAR and node.dump_bar.is_memory),
                   key=lambda n: (n.name, -1 if n.dump_bar.index is None else n.dump_bar.index, n.first))
    views = tuple(analyse_bar(tree, node, page_sizes, policies, hint_policy) for node in nodes)
    joint = tuple(_joint(tree, views, index, page, hint_policy) for index, page in enumerate(page_sizes))
    return HostReport(dump, tuple(page_sizes), tuple(p.name for p in policies), hint_policy, views,
                      _assumptions(dump, tree, views), tuple(dump.warnings) + tuple(tree.warnings), joint)


def _joint(tree: Tree, views: tuple[BarView, ...], index: int, page: int, hint_policy: str | None) -> JointCheck | None:
    hinted = [view.node for view in views if (hint := view.pages[index].hint) is not None and hint.parameter]
    if hint_policy is None or not hinted:
        return None
    return joint_check(tree, hinted, page, hint_policy)


def _assumptions(dump: HostDump, tree: Tree, views: tuple[BarView, ...]) -> tuple[tuple[str, str], ...]:
    found = [("host.layout-as-dumped",
              "BARs sit where the dump shows them; this checks that layout, not the one another boot, "
              "kernel or firmware would give")]
    orphans = sum(1 for view in views if view.parent is None)
    if orphans:
        found.append(("host.parent-unknown",
                      f"{orphans} memory BAR(s) have no window above them in the dump: their parent is taken as the "
                      f"whole address space, so a dummy reservation is assumed to fit (a host-bridge window that "
                      f"ends inside the page would make request_resource() fail)"))
    if "iomem" not in dump.format or dump.addresses_hidden:
        found.append(("host.no-platform-resources",
                      "the dump lists no platform (non-PCI) resources: the pages are assumed free of them"))
    if any(view.bar.index is None for view in views):
        found.append(("host.bar-index-unknown",
                      "some BAR indices are unknown (/proc/iomem): such BARs are taken as BAR0-5, not the ROM"))
    if dump.address_space == PCI_BUS:
        found.append(("host.bus-addresses",
                      "addresses are PCI bus addresses (pciconf): pages are compared within one PCI domain, "
                      "assuming bus and CPU addresses differ by a page-aligned offset"))
    return tuple(found)
