"""`barcheck host` in time near-linear in the BARs, with the same answers as the plain computation.

The analysis indexes each parent's children once and asks the model's probe with only the
children near the BAR.  A reference written the straightforward way (every sibling scanned,
every probe given every sibling, every alignment order worked out) must agree with it on random
small machines: both address spaces, several PCI domains, nested and overlapping windows,
platform resources, BARs at the top of the 64-bit space.
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from barcheck.host import probe as probe_module
from barcheck.host.intervals import IntervalIndex, MaxTree
from barcheck.host.probe import OPS, probe_among, to_model_bar
from barcheck.host.report import check_host
from barcheck.host.space import Carving, first_slots, free_gaps, parent_range
from barcheck.host.tree import BAR, OTHER, TOP_BYTES, Node, Tree, build
from barcheck.host.dump import CPU_PHYSICAL, PCI_BUS, DumpBar, DumpOther, DumpWindow, HostDump
from model.pci import BarKind
from model.policies import get_policy
from model.ranges import Range
from model.realign import realign
from model.resource_tree import Child, request_resource
from model.units import size_name

PAGES = [4096, 16384]
POLICIES = [get_policy("linux-4.7"), get_policy("linux-4.8")]
HINT = "linux-4.8"
HIGH = (1 << 64) - (1 << 18)
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- the reference: every question answered by scanning the whole machine ----------------------------------------

def ref_siblings(tree: Tree, node: Node) -> list[Node]:
    return [n for n in tree.nodes if n.key != node.key and n.group == node.group
            and tree.parent[n.key] == tree.parent[node.key]]


def ref_probe(policy, tree: Tree, node: Node, page: int, bar):
    siblings = [(s.first, s.last) for s in ref_siblings(tree, node)]
    return probe_among(policy, page, bar, parent_range(tree, node), siblings)


def ref_in_group(tree: Tree, node: Node, first: int, last: int) -> list[Node]:
    skip = tree.ancestors(node.key) | {node.key}
    return [n for n in tree.nodes if n.group == node.group and n.key not in skip and n.overlaps(first, last)]


def ref_policy_view(policy, tree: Tree, node: Node, page: int) -> tuple:
    bar = to_model_bar(node)
    outcome = ref_probe(policy, tree, node, page, bar)
    dummy = (outcome.dummy.first, outcome.dummy.last) if outcome.dummy_held else None
    if not outcome.mmappable:
        return (False, dummy, None, ())
    window = policy.mmap_window(OPS, bar, page)
    found = {f"{n.label} [{n.first:#x}-{n.last:#x}]" for n in ref_in_group(tree, node, window.first, window.last)}
    cursor = window.first
    for first, last in sorted([(node.first, node.last)] + ([dummy] if dummy else [])):
        if first > cursor:
            found.add(f"unreserved [{cursor:#x}-{first - 1:#x}]")
        cursor = max(cursor, last + 1)
    if cursor <= window.last:
        found.add(f"unreserved [{cursor:#x}-{window.last:#x}]")
    return (True, dummy, (window.first, window.last), tuple(sorted(found)))


def ref_hotplug(tree: Tree, node: Node, page: int, head_first: int, tail_last: int) -> tuple[int, ...]:
    first, last = parent_range(tree, node)
    pages = []
    for page_first in sorted({head_first, tail_last - page + 1}):
        lo, hi = max(page_first, first), min(page_first + page - 1, last)
        gaps = free_gaps(lo, hi, ref_siblings(tree, node) + [node]) if lo <= hi else []
        if any(first_slots(gap, 16, 16, 1) for gap in gaps):
            pages.append(page_first)
    return tuple(pages)


def ref_nearest_slots(tree: Tree, node: Node, size: int, align: int) -> list[int]:
    first, last = parent_range(tree, node)
    gaps = free_gaps(first, last, ref_siblings(tree, node))
    slots = [slot for gap in gaps for slot in first_slots(gap, size, align)]
    home = node.first - node.first % align
    for gap in gaps:
        if gap[0] <= home <= gap[1]:
            slots += first_slots((home, gap[1]), size, align)
    return sorted(set(slots), key=lambda slot: (abs(slot - node.first), slot))[:4]


def ref_try_order(tree: Tree, node: Node, page: int, order: int) -> tuple:
    align = 1 << order
    policy = get_policy(f"{HINT}+resource_alignment={size_name(align)}")
    grown = realign(OPS, policy.pci_core, to_model_bar(node), True, page).resource.size_bytes
    slots = ref_nearest_slots(tree, node, grown, align)
    if not slots:
        first, last = parent_range(tree, node)
        return (None, None, None, f"order {order} does not fit: no free {size_name(grown)} slot at "
                                  f"{size_name(align)} alignment in the parent [{first:#x}-{last:#x}]; the bridge "
                                  f"window would have to grow (pci=realloc)")
    for slot in slots:
        placed = to_model_bar(node, slot, grown)
        outcome = ref_probe(policy, tree, node, page, placed)
        if not outcome.mmappable:
            return (None, None, None, f"order {order} is not enough: the BAR becomes {size_name(grown)}, "
                                      f"and placed at {slot:#x} it is not mmappable")
        window = policy.mmap_window(OPS, placed, page)
        if not outcome.dummy_held and (window.first < slot or window.last > slot + grown - 1):
            return (None, None, None, f"order {order} is not enough: placed at {slot:#x} the mapping reaches past "
                                      f"the BAR")
    if grown < page:
        return (None, None, None, f"order {order} leaves a sub-page BAR whose mmappability depends on where it lands")
    return (f"pci=resource_alignment={order}@{node.name}", order, slots[0],
            f"the BAR grows to {size_name(grown)}; placed at {slots[0]:#x}, the nearest free aligned "
            f"slot, it is mmappable and its mapping is the BAR alone")


def ref_hint(tree: Tree, node: Node, page: int) -> tuple:
    rejected: list[str] = []
    for order in range(node.bar.size_bytes.bit_length(), page.bit_length()):
        parameter, found_order, placed_at, reason = ref_try_order(tree, node, page, order)
        if parameter is not None:
            return (parameter, found_order, placed_at, reason + (f"; {rejected[-1]}" if rejected else ""))
        rejected.append(reason)
    return (None, None, None, rejected[-1] if rejected else "no alignment order to try")


def ref_page_view(tree: Tree, node: Node, page: int) -> tuple:
    head_first = node.first - node.first % page
    tail_last = -(-(node.last + 1) // page) * page - 1
    near = [n for n in ref_in_group(tree, node, head_first, tail_last) if n.role in (BAR, OTHER)]
    devices = tuple(sorted({n.name for n in near if n.role == BAR and n.name != node.name}))
    others = tuple(sorted({n.name for n in near if n.role == OTHER}))
    views = {policy.name: ref_policy_view(policy, tree, node, page) for policy in POLICIES}
    hint = None if views[HINT][0] else ref_hint(tree, node, page)
    return (devices, others, ref_hotplug(tree, node, page, head_first, tail_last), views, hint)


def ref_joint(tree: Tree, hinted: list[Node], page: int) -> tuple:
    devices = sorted({node.name for node in hinted})
    policy = get_policy(f"{HINT}+resource_alignment={size_name(page)}")
    moved = [n for n in tree.nodes if n.role == BAR and n.name in devices and n.bar.is_memory
             and (n.bar.index is None or n.bar.index < 6) and n.bar.size_bytes < page]
    keys = {n.key for n in moved}
    placed: dict[int, tuple[int, int]] = {}

    def others(node: Node) -> list[tuple[int, int]]:
        same = [n for n in ref_siblings(tree, node) if n.key not in keys]
        return [(n.first, n.last) for n in same] + [placed[k] for k in placed if k != node.key
                                                   and tree.nodes[k].group == node.group
                                                   and tree.parent[k] == tree.parent[node.key]]

    for node in sorted(moved, key=lambda n: (n.first, n.key)):
        first, last = parent_range(tree, node)
        gaps = free_gaps(first, last, [Node(-1, BAR, "", lo, hi, 0) for lo, hi in others(node)])
        home = node.first - node.first % page
        slots = [s for gap in gaps for s in first_slots(gap, page, page)]
        slots += [s for gap in gaps if gap[0] <= home <= gap[1] for s in first_slots((home, gap[1]), page, page)]
        if not slots:
            return (None, ())
        best = min(slots, key=lambda s: (abs(s - node.first), s))
        placed[node.key] = (best, best + page - 1)
    for node in moved:
        start, last = placed[node.key]
        parent = parent_range(tree, node)
        outcome = probe_among(policy, page, to_model_bar(node, start, page), parent, others(node))
        fits = request_resource(OPS, Range(*parent), tuple(Child(Range(*c), True) for c in others(node)),
                                Range(start, last))
        if not (outcome.mmappable and fits):
            return (None, ())
    entries = ";".join(f"{page.bit_length() - 1}@{device}" for device in devices)
    return (f"pci=resource_alignment={entries}",
            tuple(sorted((node.label, placed[node.key][0], page) for node in moved)))


# --- random small machines -------------------------------------------------------------------------------------

SIZES = st.sampled_from([16, 256, 1024, 2048, 4096, 8192, 16384, 65536])


@st.composite
def machines(draw) -> HostDump:
    bus = draw(st.booleans())
    base = draw(st.sampled_from([0x80000000, HIGH]))
    domains = draw(st.sampled_from([[0], [0, 1], [0, 1, 5]]))
    windows = []
    for line in range(draw(st.integers(0, 3))):
        first = base + draw(st.integers(0, 31)) * 0x2000
        last = min(first + draw(st.integers(1, 24)) * 0x1000 - 1, TOP_BYTES)
        domain = draw(st.sampled_from(domains))
        name = f"PCI Bus {domain:04x}:{line:02x}"
        windows.append(DumpWindow(name, first, last, draw(st.booleans()), domain, line + 1))
    others = []
    if not bus:
        for line in range(draw(st.integers(0, 2))):
            first = base + draw(st.integers(0, 255)) * 0x400
            others.append(DumpOther(f"platform{line}", first, first + draw(SIZES) - 1, 100 + line))
    bars = []
    for line in range(draw(st.integers(1, 9))):
        size = draw(SIZES)
        step = draw(st.sampled_from([size, 0x400, 16]))
        start = min(base + draw(st.integers(0, 0x40000 // step)) * step, TOP_BYTES + 1 - size)
        start -= start % min(step, size)
        device = f"{draw(st.sampled_from(domains)):04x}:{draw(st.integers(0, 2)):02x}:{draw(st.integers(0, 3)):02x}.0"
        index = draw(st.integers(0, 6))
        kind = BarKind.ROM if index == 6 else draw(st.sampled_from([BarKind.MEM32, BarKind.MEM64]))
        if not bus and kind != BarKind.ROM and draw(st.booleans()):
            index = None
        bars.append(DumpBar(device, index, kind,
                            draw(st.booleans()), start, size, line=200 + line))
    return HostDump("random.txt", "pciconf" if bus else "lspci+iomem", PCI_BUS if bus else CPU_PHYSICAL,
                    bars=tuple(bars), windows=tuple(windows), others=tuple(others))


@SETTINGS
@given(dump=machines())
def test_the_indexed_analysis_agrees_with_the_plain_one(dump):
    report = check_host(dump, PAGES, POLICIES, HINT)
    tree = build(dump)
    for view in report.bars:
        node = tree.nodes[view.node.key]
        assert node == view.node
        for page in view.pages:
            devices, others, hotplug, views, hint = ref_page_view(tree, node, page.page_bytes)
            got_page = (page.shares_page_with, page.shares_page_with_other, page.hotplug_pages)
            assert got_page == (devices, others, hotplug), node.label
            got = {name: (v.mmappable, v.dummy, v.window, v.leaks) for name, v in page.policies.items()}
            assert got == views, node.label
            got_hint = None if page.hint is None else (page.hint.parameter, page.hint.order, page.hint.placed_at,
                                                       page.hint.reason)
            assert got_hint == hint, node.label
    for index, page_bytes in enumerate(PAGES):
        hinted = [view.node for view in report.bars if view.pages[index].hint and view.pages[index].hint.parameter]
        joint = report.joint[index]
        if not hinted:
            assert joint is None
            continue
        assert (joint.parameter, joint.placements) == ref_joint(tree, hinted, page_bytes)


# --- the index itself ----------------------------------------------------------------------------------------------

@settings(SETTINGS, max_examples=300)
@given(spans=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 60)), max_size=40),
       query=st.tuples(st.integers(0, 260), st.integers(0, 60)), threshold=st.integers(0, 80))
def test_interval_index_and_max_tree_answer_as_a_scan(spans, query, threshold):
    nodes = [Node(key, BAR, "", first, first + width, 0) for key, (first, width) in enumerate(spans)]
    index = IntervalIndex(nodes)
    first, last = query[0], query[0] + query[1]
    expected = sorted(n.key for n in nodes if n.overlaps(first, last))
    assert sorted(n.key for n in index.overlapping(first, last)) == expected
    widths = [width for _, width in spans]
    tree = MaxTree(widths)
    assert tree.at_least(len(widths), threshold) == [i for i, w in enumerate(widths) if w >= threshold]
    at = query[0] % (len(widths) + 1)
    after = (i for i in range(at, len(widths)) if widths[i] >= threshold)
    assert tree.next_at_least(at, threshold) == next(after, None)
    assert tree.previous_at_least(at - 1, threshold) == next(
        (i for i in range(min(at - 1, len(widths) - 1), -1, -1) if widths[i] >= threshold), None)


@settings(SETTINGS, max_examples=300)
@given(cuts=st.lists(st.integers(0, 400), min_size=2, max_size=30, unique=True), home=st.integers(0, 420),
       order=st.integers(0, 6), taken=st.lists(st.integers(0, 400), max_size=6))
@example(cuts=[8, 24, 32, 48], home=24, order=3, taken=[])  # 16 and 32 are as near: the lower one
def test_carving_finds_the_nearest_slot_as_a_scan_does(cuts, home, order, taken):
    """Gaps of every width, narrow ones between home and a wide one included, some carved away."""
    cuts.sort()
    gaps = [(cuts[i], cuts[i + 1] - 1) for i in range(0, len(cuts) - 1, 2)]
    size = align = 1 << order
    carving = Carving(gaps)
    for start in taken:
        slot = carving.nearest_slot(start, size, align)
        if slot is not None:
            carving.take(slot, slot + size - 1)
    slots = [s for gap in carving.gaps for s in first_slots(gap, size, align)]
    aligned_home = home - home % align
    slots += [s for gap in carving.gaps if gap[0] <= aligned_home <= gap[1]
              for s in first_slots((aligned_home, gap[1]), size, align)]
    expected = min(slots, key=lambda s: (abs(s - home), s)) if slots else None
    assert carving.nearest_slot(home, size, align) == expected


# --- scaling ---------------------------------------------------------------------------------------------------

def packed(count: int, size_bytes: int = 1024, base: int = 0xC0000000) -> HostDump:
    """`count` devices with one small BAR each, packed back to back: every page is shared."""
    bars = tuple(DumpBar(f"0000:{i // 32:02x}:{i % 32:02x}.0", 0, BarKind.MEM32, False, base + i * size_bytes,
                         size_bytes, line=i + 1) for i in range(count))
    return HostDump("packed.txt", "pciconf", PCI_BUS, bars=bars)


def test_packed_bars_probe_with_a_handful_of_children_and_never_all_of_them(monkeypatch):
    """The cost per BAR must not grow with the machine: no probe is given the whole sibling list."""
    widest: list[int] = []
    original = probe_module.probe_among

    def counting(policy, page_bytes, bar, parent, children, memo=None):
        children = tuple(children)
        widest.append(len(children))
        return original(policy, page_bytes, bar, parent, children, memo)

    monkeypatch.setattr(probe_module, "probe_among", counting)
    report = check_host(packed(600), [4096, 65536], POLICIES, HINT)
    assert len(report.bars) == 600 and widest
    assert max(widest) <= 65536 // 1024
    assert not any(view.pages[0].policies["linux-4.8"].mmappable for view in report.bars)
    assert all(view.pages[0].hint.parameter for view in report.bars)
