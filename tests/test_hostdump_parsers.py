"""The machine-dump parsers (barcheck/host/dump) on real dumps and on small hand-written ones.

Every expected value below was read off the fixture files themselves:
tests/data/hostdumps/qemu/<kernel>/ (real QEMU guests, see its README.md),
tests/data/hostdumps/small/ (hand-written, one feature each) and the FreeBSD
development set ../shared/data/pciconf-dev (bsdhw/PCIconf, CC BY 4.0).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from barcheck.host.dump import FORMATS, DumpBar, DumpError, HostDump, detect, load
from barcheck.host.dump import PARSERS, dmesg, iomem, lspci, sysfs
from barcheck.host.dump.model import CPU_PHYSICAL, PCI_BUS
from model.pci import BarKind

DATA = Path(__file__).resolve().parent / "data" / "hostdumps"
X86 = DATA / "qemu" / "6.1.0-56-amd64"
PPC = DATA / "qemu" / "6.12.107+deb13-powerpc64le-64k"
SMALL = DATA / "small"
DEV_SET = Path(__file__).resolve().parents[2] / "shared" / "data" / "pciconf-dev"
LSPCI_VARIANTS = ("lspci-vvv.txt", "lspci-vvD.txt", "lspci-vvvnn.txt")
K, M, G = 1 << 10, 1 << 20, 1 << 30


def bars_of(dump: HostDump, device: str) -> dict[int | None, DumpBar]:
    found = [bar for bar in dump.bars if bar.device == device]
    indices = [bar.index for bar in found]
    assert len(indices) == len(set(indices)), f"{device} has two BARs with one index: {found}"
    return {bar.index: bar for bar in found}


def the_bar(dump: HostDump, device: str, index: int | None) -> DumpBar:
    bars = bars_of(dump, device)
    assert index in bars, f"{device} BAR {index} missing; has {sorted(bars, key=str)}"
    return bars[index]


def shape(bar: DumpBar) -> tuple:
    """What two dumps of one machine must agree on."""
    return bar.device, bar.index, bar.kind, bar.prefetchable, bar.start, bar.size_bytes


def window_ranges(dump: HostDump) -> set[tuple[str, int, int, bool]]:
    return {(w.name, w.first, w.last, w.bridge) for w in dump.windows}


# --- x86_64 q35 guest, kernel 6.1 -----------------------------------------------------------------------------

@pytest.fixture(scope="module", params=LSPCI_VARIANTS)
def x86_lspci(request) -> HostDump:
    return load("lspci", str(X86 / request.param))


def test_x86_lspci_e1000_bars(x86_lspci):
    """00:02.0 e1000: `Region 0: Memory at fe440000 (32-bit, non-prefetchable) [size=128K]`,
    `Region 1: I/O ports at e100 [size=64]`, `Expansion ROM at fe400000 [disabled] [size=256K]`."""
    bars = bars_of(x86_lspci, "0000:00:02.0")
    assert sorted(bars) == [0, 1, 6]
    assert (bars[0].kind, bars[0].prefetchable, bars[0].start, bars[0].size_bytes) == \
        (BarKind.MEM32, False, 0xFE440000, 128 * K)
    assert bars[0].decoding and not bars[0].virtual
    assert (bars[1].kind, bars[1].start, bars[1].size_bytes, bars[1].decoding) == (BarKind.IO, 0xE100, 64, True)
    rom = bars[6]
    assert (rom.kind, rom.start, rom.size_bytes, rom.label) == (BarKind.ROM, 0xFE400000, 256 * K, "ROM")
    assert rom.decoding is False, "lspci says [disabled]"
    assert not rom.is_memory, "a ROM is not one of the memory BARs the check analyses"


def test_x86_lspci_small_and_64bit_bars(x86_lspci):
    # i6300esb watchdogs: a 16-byte BAR, on the root bus and behind the PCI-PCI bridge 00:08.0
    for device, start in (("0000:00:03.0", 0xFE460000), ("0000:03:01.0", 0xFDE00000)):
        bar = the_bar(x86_lspci, device, 0)
        assert (bar.kind, bar.start, bar.size_bytes, bar.last) == (BarKind.MEM32, start, 16, start + 15)
    # virtio-net 01:00.0 BAR4: `Memory at fea00000 (64-bit, prefetchable) [size=16K]`
    virtio = the_bar(x86_lspci, "0000:01:00.0", 4)
    assert (virtio.kind, virtio.prefetchable, virtio.start, virtio.size_bytes) == \
        (BarKind.MEM64, True, 0xFEA00000, 16 * K)
    # the bridge's own BAR: `Memory at fe464000 (64-bit, non-prefetchable) [size=256]`
    bridge = the_bar(x86_lspci, "0000:00:08.0", 0)
    assert (bridge.kind, bridge.prefetchable, bridge.size_bytes) == (BarKind.MEM64, False, 256)
    # ivshmem 03:04.0 BAR2: 1M, 64-bit prefetchable at fe600000
    ivshmem = the_bar(x86_lspci, "0000:03:04.0", 2)
    assert (ivshmem.kind, ivshmem.prefetchable, ivshmem.start, ivshmem.size_bytes) == \
        (BarKind.MEM64, True, 0xFE600000, 1 * M)


def test_x86_lspci_devices_counts_and_windows(x86_lspci):
    assert x86_lspci.format == "lspci" and x86_lspci.address_space == CPU_PHYSICAL
    assert x86_lspci.warnings == ()
    assert len(x86_lspci.devices) == 18
    assert {"0000:00:00.0", "0000:00:1f.0", "0000:03:05.0"} <= set(x86_lspci.devices)
    assert {bar.device for bar in x86_lspci.bars} <= set(x86_lspci.devices)
    assert len(x86_lspci.memory_bars()) == 19
    assert sum(bar.kind == BarKind.IO for bar in x86_lspci.bars) == 8
    assert sum(bar.kind == BarKind.ROM for bar in x86_lspci.bars) == 3
    # `Memory behind bridge` / `Prefetchable memory behind bridge` of the three bridges
    in_file = {("0000:00:06.0", 0xFE200000, 0xFE3FFFFF, True), ("0000:00:06.0", 0xFEA00000, 0xFEBFFFFF, True),
               ("0000:00:07.0", 0xFE000000, 0xFE1FFFFF, True), ("0000:00:07.0", 0xFE800000, 0xFE9FFFFF, True),
               ("0000:00:08.0", 0xFDE00000, 0xFDFFFFFF, True), ("0000:00:08.0", 0xFE600000, 0xFE7FFFFF, True)}
    holding_bars = in_file - {("0000:00:07.0", 0xFE800000, 0xFE9FFFFF, True)}
    assert holding_bars <= window_ranges(x86_lspci) <= in_file
    assert all(w.domain == 0 for w in x86_lspci.windows)


def test_x86_lspci_variants_agree():
    """-vvv, -vv -D and -vvvnn print the same regions; only the header lines differ."""
    dumps = [load("lspci", str(X86 / name)) for name in LSPCI_VARIANTS]
    full = [{(shape(b), b.decoding, b.virtual) for b in dump.bars} for dump in dumps]
    assert full[0] == full[1] == full[2]
    assert dumps[0].devices == dumps[1].devices == dumps[2].devices
    assert window_ranges(dumps[0]) == window_ranges(dumps[1]) == window_ranges(dumps[2])


def test_x86_sysfs_13_and_17_line_devices():
    dump = load("sysfs", str(X86 / "sysfs-resource.txt"))
    assert dump.warnings == () and dump.others == ()
    assert len(dump.devices) == 18          # 15 endpoints with 13 lines, 3 bridges with 17
    assert len(dump.memory_bars()) == 19
    e1000_rom = the_bar(dump, "0000:00:02.0", 6)
    assert (e1000_rom.kind, e1000_rom.start, e1000_rom.size_bytes) == (BarKind.ROM, 0xFE400000, 256 * K)
    assert e1000_rom.decoding is False, "flags 0x46200 lack IORESOURCE_ROM_ENABLE"
    virtio = the_bar(dump, "0000:01:00.0", 4)        # flags 0x14220c: MEM_64 | PREFETCH | MEM
    assert (virtio.kind, virtio.prefetchable, virtio.start, virtio.last) == \
        (BarKind.MEM64, True, 0xFEA00000, 0xFEA03FFF)
    # a bridge's four window slots (the 17-line files): its I/O window is not a memory window
    assert window_ranges(dump) == {
        ("0000:00:06.0", 0xFE200000, 0xFE3FFFFF, True), ("0000:00:06.0", 0xFEA00000, 0xFEBFFFFF, True),
        ("0000:00:07.0", 0xFE000000, 0xFE1FFFFF, True), ("0000:00:07.0", 0xFE800000, 0xFE9FFFFF, True),
        ("0000:00:08.0", 0xFDE00000, 0xFDFFFFFF, True), ("0000:00:08.0", 0xFE600000, 0xFE7FFFFF, True)}
    # the bridges' own BAR0 is slot 0 of the 17 lines, not a window
    assert the_bar(dump, "0000:00:06.0", 0).start == 0xFE462000


def test_x86_dmesg_bar_and_window_lines():
    """Kernel 6.1.192 prints the v6.7 style: `pci 0000:00:02.0: BAR 0 [mem 0xfe440000-0xfe45ffff]`."""
    dump = load("dmesg", str(X86 / "dmesg.txt"))
    assert dump.warnings == ()
    bar0 = the_bar(dump, "0000:00:02.0", 0)
    assert (bar0.kind, bar0.start, bar0.size_bytes, bar0.line) == (BarKind.MEM32, 0xFE440000, 128 * K, 218)
    rom = the_bar(dump, "0000:00:02.0", 6)      # `ROM [mem 0xfe400000-0xfe43ffff pref]`
    assert (rom.kind, rom.start, rom.size_bytes, rom.prefetchable) == (BarKind.ROM, 0xFE400000, 256 * K, True)
    io = the_bar(dump, "0000:00:02.0", 1)       # `BAR 1 [io  0xe100-0xe13f]` (two spaces after io)
    assert (io.kind, io.start, io.size_bytes) == (BarKind.IO, 0xE100, 64)
    assert the_bar(dump, "0000:00:08.0", 0).kind == BarKind.MEM64       # `[mem ... 64bit]`
    virtio = the_bar(dump, "0000:01:00.0", 4)                           # `[mem ... 64bit pref]`
    assert (virtio.kind, virtio.prefetchable) == (BarKind.MEM64, True)
    roots = {(w.first, w.last) for w in dump.windows if not w.bridge}
    assert roots == {(0xA0000, 0xBFFFF), (0x40000000, 0xAFFFFFFF), (0xC0000000, 0xFEBFFFFF),
                     (0x100000000, 0x8FFFFFFFF)}
    assert all(w.name == "pci_bus 0000:00" for w in dump.windows if not w.bridge)
    bridges = {(w.name, w.first, w.last) for w in dump.windows if w.bridge}
    assert bridges == {("0000:00:06.0", 0xFE200000, 0xFE3FFFFF), ("0000:00:06.0", 0xFEA00000, 0xFEBFFFFF),
                       ("0000:00:07.0", 0xFE000000, 0xFE1FFFFF), ("0000:00:07.0", 0xFE800000, 0xFE9FFFFF),
                       ("0000:00:08.0", 0xFDE00000, 0xFDFFFFFF), ("0000:00:08.0", 0xFE600000, 0xFE7FFFFF)}


def test_x86_lspci_sysfs_and_dmesg_describe_the_same_bars():
    lspci_dump = load("lspci", str(X86 / "lspci-vvv.txt"))
    sysfs_dump = load("sysfs", str(X86 / "sysfs-resource.txt"))
    dmesg_dump = load("dmesg", str(X86 / "dmesg.txt"))
    expected = {(shape(b), b.decoding) for b in lspci_dump.bars}
    assert len(expected) == 30
    assert {(shape(b), b.decoding) for b in sysfs_dump.bars} == expected
    assert {shape(b) for b in dmesg_dump.bars} == {s for s, _ in expected}
    assert set(lspci_dump.devices) == set(sysfs_dump.devices) == set(dmesg_dump.devices)


def test_x86_iomem_root_tree():
    dump = load("iomem", str(X86 / "iomem-root.txt"))
    assert dump.warnings == () and not dump.addresses_hidden
    assert {(w.name, w.first, w.last, w.bridge) for w in dump.windows} == {
        ("PCI Bus 0000:00", 0xA0000, 0xBFFFF, False), ("PCI Bus 0000:00", 0x40000000, 0xAFFFFFFF, False),
        ("PCI Bus 0000:00", 0xC0000000, 0xFEBFFFFF, False), ("PCI Bus 0000:00", 0x100000000, 0x8FFFFFFFF, False),
        ("PCI Bus 0000:03", 0xFDE00000, 0xFDFFFFFF, True), ("PCI Bus 0000:03", 0xFE600000, 0xFE7FFFFF, True),
        ("PCI Bus 0000:02", 0xFE000000, 0xFE1FFFFF, True), ("PCI Bus 0000:02", 0xFE800000, 0xFE9FFFFF, True),
        ("PCI Bus 0000:01", 0xFE200000, 0xFE3FFFFF, True), ("PCI Bus 0000:01", 0xFEA00000, 0xFEBFFFFF, True)}
    # 19 memory BARs and the 3 ROMs, none with an index (/proc/iomem does not say)
    assert len(dump.bars) == 22 and all(bar.index is None for bar in dump.bars)
    e1000 = sorted((bar.start, bar.size_bytes) for bar in dump.bars if bar.device == "0000:00:02.0")
    assert e1000 == [(0xFE400000, 256 * K), (0xFE440000, 128 * K)]
    watchdog = [bar for bar in dump.bars if bar.device == "0000:03:01.0"]
    assert [(b.start, b.size_bytes) for b in watchdog] == [(0xFDE00000, 16)]
    names = {other.name for other in dump.others}
    assert {"IOAPIC 0", "HPET 0", "Local APIC", "dmar0", "System RAM", "Kernel code"} <= names
    # the drivers' claims below a BAR are not resources of their own
    assert not names & {"e1000", "e1000e", "ehci_hcd", "virtio-pci-modern", "i6300ESB timer"}
    assert {"0000:00:02.0", "0000:03:05.0"} <= set(dump.devices)


@pytest.mark.parametrize("machine", [X86, PPC], ids=["x86", "ppc64le"])
def test_iomem_read_without_root_is_recognised(machine):
    dump = load("iomem", str(machine / "iomem-user.txt"))
    assert dump.addresses_hidden is True
    assert dump.bars == () and dump.windows == () and dump.others == ()
    assert "root" in dump.notes[0]


# --- ppc64le pseries guest, kernel 6.12, 64K pages --------------------------------------------------------------

def test_ppc_lspci_disabled_regions_and_bus_address_windows():
    dump = load("lspci", str(PPC / "lspci-vvv.txt"))
    assert dump.warnings == () and len(dump.devices) == 11 and len(dump.memory_bars()) == 13
    # `Region 0: Memory at 200080080000 (32-bit, non-prefetchable) [disabled] [size=16]`
    watchdog = the_bar(dump, "0000:00:03.0", 0)
    assert (watchdog.start, watchdog.size_bytes, watchdog.decoding) == (0x200080080000, 16, False)
    io = the_bar(dump, "0000:00:05.0", 1)        # `I/O ports at 0100 [disabled] [size=256]`
    assert (io.kind, io.start, io.size_bytes, io.decoding) == (BarKind.IO, 0x100, 256, False)
    assert the_bar(dump, "0000:00:02.0", 0).decoding is True
    virtio = the_bar(dump, "0000:00:06.0", 4)
    assert (virtio.kind, virtio.prefetchable, virtio.start, virtio.size_bytes) == \
        (BarKind.MEM64, True, 0x210000000000, 16 * K)
    rom = the_bar(dump, "0000:00:06.0", 6)
    assert (rom.start, rom.size_bytes, rom.decoding) == (0x2000800C0000, 256 * K, False)
    # `Memory behind bridge: 80100000-802fffff` is a PCI bus address on pseries and holds no BAR:
    # it must not become a window; the 64-bit prefetchable one holds 01:04.0 and 01:05.0
    assert window_ranges(dump) == {("0000:00:08.0", 0x210100000000, 0x2101FFFFFFFF, True)}
    assert any("hold no BAR" in note for note in dump.notes)


def test_ppc_sysfs_dmesg_and_iomem():
    lspci_dump = load("lspci", str(PPC / "lspci-vvv.txt"))
    sysfs_dump = load("sysfs", str(PPC / "sysfs-resource.txt"))
    assert sysfs_dump.warnings == ()
    assert {shape(b) for b in sysfs_dump.bars} == {shape(b) for b in lspci_dump.bars}
    # sysfs prints the bridge windows as CPU addresses (lspci printed the bus address 80100000)
    assert window_ranges(sysfs_dump) == {("0000:00:08.0", 0x200080100000, 0x2000802FFFFF, True),
                                         ("0000:00:08.0", 0x210100000000, 0x2101FFFFFFFF, True)}
    dmesg_dump = load("dmesg", str(PPC / "dmesg.txt"))
    assert dmesg_dump.bars == (), "pseries probes from the device tree: no BAR lines in this log"
    assert {(w.first, w.last, w.bridge) for w in dmesg_dump.windows} == {
        (0x200080000000, 0x2000FFFFFFFF, False), (0x210000000000, 0x21FFFFFFFFFF, False),
        (0x200080100000, 0x2000802FFFFF, True), (0x210100000000, 0x2101FFFFFFFF, True)}
    iomem_dump = load("iomem", str(PPC / "iomem-root.txt"))
    assert {(w.name, w.first, w.last, w.bridge) for w in iomem_dump.windows} == {
        ("pci@800000020000000", 0x200080000000, 0x2000FFFFFFFF, False),
        ("pci@800000020000000", 0x210000000000, 0x21FFFFFFFFFF, False),
        ("PCI Bus 0000:01", 0x200080100000, 0x2000802FFFFF, True),
        ("PCI Bus 0000:01", 0x210100000000, 0x2101FFFFFFFF, True)}
    assert len(iomem_dump.bars) == 15     # 13 memory BARs and 2 ROMs
    above_4g = [b for b in iomem_dump.bars if b.device == "0000:00:06.0" and b.start == 0x210000000000]
    assert [(b.size_bytes, b.kind) for b in above_4g] == [(16 * K, BarKind.MEM64)]


# --- detect() -------------------------------------------------------------------------------------------------

DETECTED = [(X86, name, fmt) for name, fmt in (
    ("lspci-vvv.txt", "lspci"), ("lspci-vvD.txt", "lspci"), ("lspci-vvvnn.txt", "lspci"),
    ("iomem-root.txt", "iomem"), ("iomem-user.txt", "iomem"), ("sysfs-resource.txt", "sysfs"),
    ("dmesg.txt", "dmesg"))]
DETECTED += [(PPC, name, fmt) for _, name, fmt in DETECTED]
DETECTED += [(SMALL, name, fmt) for name, fmt in (
    ("lspci-features.txt", "lspci"), ("lspci-domains.txt", "lspci"), ("lspci-virtual-suffix.txt", "lspci"),
    ("dmesg-old.txt", "dmesg"), ("dmesg-journal.txt", "dmesg"), ("pciconf-mixed.txt", "pciconf"),
    ("iomem-nested.txt", "iomem"), ("sysfs-grep.txt", "sysfs"), ("sysfs-head.txt", "sysfs"))]


@pytest.mark.parametrize("directory,name,fmt", DETECTED,
                         ids=[f"{d.name}/{n}" for d, n, _ in DETECTED])
def test_detect_names_the_format(directory, name, fmt):
    path = str(directory / name)
    assert detect(path) == fmt
    assert isinstance(load(fmt, path), HostDump)


def test_detect_a_directory_is_sysfs_and_other_text_is_refused(tmp_path):
    assert detect(str(tmp_path)) == "sysfs"
    path = str(X86 / "qemu-command.txt")
    with pytest.raises(DumpError) as err:
        detect(path)
    assert str(err.value).startswith(f"{path}: ")


def test_detect_lspci_with_its_stderr_line_first(tmp_path):
    path = tmp_path / "lspci.txt"
    path.write_text("lspci: Unable to load libkmod resources: error -2\n" + (X86 / "lspci-vvv.txt").read_text())
    assert len(load("lspci", str(path)).bars) == 30
    assert detect(str(path)) == "lspci"


def test_load_rejects_an_unknown_format():
    with pytest.raises(DumpError, match="unknown dump format 'xml'"):
        load("xml", str(X86 / "dmesg.txt"))
    assert FORMATS == ("lspci", "pciconf", "iomem", "sysfs", "dmesg")


# --- small hand-written lspci -----------------------------------------------------------------------------------

def test_small_lspci_every_region_form():
    dump = load("lspci", str(SMALL / "lspci-features.txt"))
    assert dump.warnings == ()
    # `Region 0: [virtual] Memory at 000001f0 (32-bit, non-prefetchable) [size=8]` (pciutils < 3.8)
    ide = the_bar(dump, "0000:00:01.1", 0)
    assert (ide.virtual, ide.start, ide.size_bytes, ide.kind) == (True, 0x1F0, 8, BarKind.MEM32)
    assert the_bar(dump, "0000:00:01.1", 4).kind == BarKind.IO
    # `Expansion ROM at 000c0000 [virtual] [disabled] [size=128K]`
    vga_rom = the_bar(dump, "0000:00:02.0", 6)
    assert (vga_rom.virtual, vga_rom.decoding, vga_rom.start, vga_rom.size_bytes) == (True, False, 0xC0000, 128 * K)
    assert the_bar(dump, "0000:00:02.0", 0).size_bytes == 16 * M
    # [disabled] on memory, I/O and ROM
    nic = bars_of(dump, "0000:00:03.0")
    assert [(i, b.decoding, b.start) for i, b in sorted(nic.items())] == \
        [(0, False, 0xFEBC0000), (1, False, 0xC000), (6, False, 0xFEB80000)]
    # <unassigned> with [size=2G]
    gpu = bars_of(dump, "0000:00:04.0")
    assert (gpu[0].start, gpu[0].size_bytes, gpu[0].kind, gpu[0].prefetchable) == (None, 2 * G, BarKind.MEM64, True)
    assert (gpu[2].start, gpu[2].size_bytes) == (0x800000000, 2 * G)
    assert (gpu[4].kind, gpu[4].start) == (BarKind.IO, None)
    assert (gpu[6].kind, gpu[6].start, gpu[6].size_bytes) == (BarKind.ROM, None, 64 * K)
    assert gpu[0] not in dump.memory_bars() and gpu[2] in dump.memory_bars()
    # a 64-bit prefetchable bridge window printed with 16 digits
    assert window_ranges(dump) == {("0000:00:05.0", 0xFE800000, 0xFE9FFFFF, True),
                                   ("0000:00:05.0", 0xC00000000, 0xC001FFFFF, True)}
    assert dump.devices == ("0000:00:00.0", "0000:00:01.1", "0000:00:02.0", "0000:00:03.0", "0000:00:04.0",
                            "0000:00:05.0", "0000:01:01.0")


def test_small_lspci_domains():
    """`lspci -D`: domain 0001, and a VMD domain 10000 (five digits)."""
    dump = load("lspci", str(SMALL / "lspci-domains.txt"))
    assert dump.devices == ("0000:00:00.0", "0000:00:17.0", "0001:00:02.0", "10000:e0:17.0")
    assert the_bar(dump, "0001:00:02.0", 0).start == 0xB1000000
    assert the_bar(dump, "10000:e0:17.0", 0).size_bytes == 16 * K
    sata = bars_of(dump, "0000:00:17.0")
    assert [(i, b.size_bytes) for i, b in sorted(sata.items())] == [(0, 8 * K), (1, 256), (2, 8), (5, 2 * K)]


def test_lspci_without_and_with_domain_give_the_same_dump():
    plain = load("lspci", str(X86 / "lspci-vvv.txt"))
    with_domain = load("lspci", str(X86 / "lspci-vvD.txt"))
    assert plain.devices == with_domain.devices
    assert all(device.startswith("0000:") for device in plain.devices)


def test_lspci_virtual_after_the_type_pciutils_3_8():
    dump = load("lspci", str(SMALL / "lspci-virtual-suffix.txt"))
    assert [(b.index, b.virtual) for b in dump.bars] == [(0, True), (2, True), (4, True)]


@pytest.mark.parametrize("region", ["Memory at fe000000 (32-bit, non-prefetchable) [size=0]",
                                    "Memory at fffffffffffff000 (64-bit, prefetchable) [size=8K]"])
def test_lspci_impossible_region_is_a_warning_not_a_bar(region):
    dump = lspci.parse(f"00:02.0 Ethernet controller: X\n\tRegion 0: {region}\n", "bad.txt")
    assert dump.bars == ()
    assert len(dump.warnings) == 1 and dump.warnings[0].startswith("bad.txt:2: 0000:00:02.0: ")


def test_lspci_garbled_region_costs_one_warning_for_its_device():
    text = ("00:02.0 Ethernet controller: X\n\tRegion 0: Memory at fe440000 (32-bit, non-prefetchable) [size=128K]\n"
            "\tRegion 1: Memory at zz440000 (32-bit, non-prefetchable) [size=4K]\n"
            "\tRegion 2: Memory at fe460000 (32-bit, non-prefetchable)\n"
            "\tRegion 3: Memory at fe470000 (32-bit, non-prefetchable) [size=4K]\n"
            "00:03.0 Ethernet controller: Y\n\tRegion 0: Memory at fe480000 (32-bit, non-prefetchable) [size=4K]\n")
    dump = lspci.parse(text, "g.txt")
    assert [(b.device, b.index) for b in dump.bars] == [("0000:00:02.0", 0), ("0000:00:02.0", 3),
                                                         ("0000:00:03.0", 0)]
    assert len(dump.warnings) == 1 and dump.warnings[0].startswith("g.txt:3: 0000:00:02.0: ")


def test_lspci_text_before_any_device_is_an_error():
    with pytest.raises(DumpError) as err:
        lspci.parse("hello\n00:02.0 X: Y\n", "n.txt")
    assert str(err.value).startswith("n.txt:1: ")


# --- small hand-written dmesg ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["dmesg-old.txt", "dmesg-journal.txt"])
def test_dmesg_old_format(name):
    """Kernels before v6.7: `reg 0x10: [mem ...]`, `BAR 6: assigned [...]`, `BAR 0: no space for [...]`."""
    dump = load("dmesg", str(SMALL / name))
    assert dump.warnings == ()
    nic = bars_of(dump, "0000:00:02.0")
    assert (nic[0].kind, nic[0].start, nic[0].size_bytes) == (BarKind.MEM32, 0xFEBC0000, 128 * K)  # reg 0x10
    assert (nic[1].kind, nic[1].start, nic[1].size_bytes) == (BarKind.IO, 0xC000, 64)               # reg 0x14
    # reg 0x30 `[mem 0xfffc0000-0xffffffff pref]` is the ROM; `BAR 6: assigned` later moves it
    assert (nic[6].kind, nic[6].start, nic[6].size_bytes, nic[6].line) == (BarKind.ROM, 0xFEB80000, 256 * K, 24)
    prefetch = the_bar(dump, "0000:00:03.0", 2)                                                     # reg 0x18
    assert (prefetch.kind, prefetch.prefetchable, prefetch.start) == (BarKind.MEM64, True, 0xFE000000)
    assert the_bar(dump, "0000:00:04.0", 0).kind == BarKind.MEM64
    # `BAR 0: no space for [mem size 0x00000010]` then `failed to assign`: left unassigned
    watchdog = the_bar(dump, "0000:00:05.0", 0)
    assert (watchdog.start, watchdog.size_bytes) == (None, 16)
    assert {(w.name, w.first, w.last, w.bridge) for w in dump.windows} == {
        ("pci_bus 0000:00", 0xA0000, 0xBFFFF, False), ("pci_bus 0000:00", 0xC0000000, 0xFEBFFFFF, False),
        ("0000:00:04.0", 0xFE800000, 0xFE9FFFFF, True), ("0000:00:04.0", 0xFE400000, 0xFE5FFFFF, True)}
    assert dump.devices == ("0000:00:00.0", "0000:00:02.0", "0000:00:03.0", "0000:00:04.0", "0000:00:05.0")


def test_dmesg_timestamps_and_journal_prefixes_read_alike():
    plain = load("dmesg", str(SMALL / "dmesg-old.txt"))
    journal = load("dmesg", str(SMALL / "dmesg-journal.txt"))
    assert plain.bars == journal.bars and plain.windows == journal.windows


def test_dmesg_v6_7_assignment_lines():
    text = "\n".join([
        "[    0.1] pci_bus 0000:00: root bus resource [mem 0xfe000000-0xfeffffff window]",
        "[    0.2] pci 0000:00:03.0: BAR 0 [mem 0x00000000-0x00000fff]",
        "[    0.3] pci 0000:00:04.0: BAR 0 [mem 0xfe100000-0xfe100fff]",
        "[    0.4] pci 0000:00:04.0: ROM [mem 0xfe200000-0xfe23ffff pref]",
        "[    0.5] pci 0000:00:03.0: BAR 0 [mem 0xfe001000-0xfe001fff]: assigned",
        "[    0.6] pci 0000:00:04.0: BAR 0 [mem size 0x00001000]: can't assign; no space",
        "[    0.7] pci 0000:00:04.0: ROM [mem size 0x00040000 pref]: failed to assign",
        "[    0.8] pci 0000:00:1c.0: bridge window [mem 0xfe300000-0xfe3fffff]: assigned", ""])
    dump = dmesg.parse(text, "new.txt")
    assert dump.warnings == ()
    assert (the_bar(dump, "0000:00:03.0", 0).start, the_bar(dump, "0000:00:03.0", 0).line) == (0xFE001000, 5)
    assert the_bar(dump, "0000:00:04.0", 0).start is None
    assert the_bar(dump, "0000:00:04.0", 6).start is None
    assert {(w.name, w.first, w.bridge) for w in dump.windows} == {("pci_bus 0000:00", 0xFE000000, False),
                                                                 ("0000:00:1c.0", 0xFE300000, True)}


SRIOV_OLD_LOG = "\n".join([
    "[    0.50] pci 0000:02:00.0: [8086:10c9] type 00 class 0x020000",
    "[    0.51] pci 0000:02:00.0: reg 0x10: [mem 0xfbe20000-0xfbe3ffff]",
    "[    0.52] pci 0000:02:00.0: reg 0x184: [mem 0x00000000-0x00003fff 64bit pref]",
    "[    0.53] pci 0000:02:00.0: VF(n) BAR0 space: [mem 0x00000000-0x0001ffff 64bit pref] (contains BAR0 for 8 VFs)",
    "[    0.90] pci 0000:02:00.0: BAR 7: assigned [mem 0xfbe40000-0xfbe5ffff 64bit pref]", ""])


def test_dmesg_old_sriov_reg_line_is_not_a_warning():
    dump = dmesg.parse(SRIOV_OLD_LOG, "sriov.txt")
    assert [(b.index, b.start) for b in dump.bars] == [(0, 0xFBE20000)]
    assert dump.warnings == ()


def test_dmesg_old_vf_bar_assignment_is_not_a_bridge_window():
    dump = dmesg.parse(SRIOV_OLD_LOG, "sriov.txt")
    assert [w for w in dump.windows if w.name == "0000:02:00.0"] == []


def test_dmesg_without_pci_lines_is_an_error(tmp_path):
    path = tmp_path / "boot.log"
    path.write_text("[    0.000000] Linux version 6.1.0\n[    0.1] ACPI: Early table checksum verification disabled\n")
    with pytest.raises(DumpError) as err:
        load("dmesg", str(path))
    assert str(err.value).startswith(f"{path}: ")


# --- small hand-written pciconf ------------------------------------------------------------------------------------

def test_pciconf_old_and_new_headers_disabled_64bit_and_domains():
    dump = load("pciconf", str(SMALL / "pciconf-mixed.txt"))
    assert dump.address_space == PCI_BUS and dump.warnings == ()
    # both header styles: `card=0x83e61043 chip=0x27cc8086` and `vendor=0x8086 device=0x06a3 ...`
    assert dump.devices == ("0000:00:00.0", "0000:00:1d.7", "0000:00:1f.4", "0000:02:00.0", "fffa:00:02.0")
    ehci = the_bar(dump, "0000:00:1d.7", 0)     # bar [10] ... base 0xfbcfb800, size 1024, enabled
    assert (ehci.kind, ehci.start, ehci.size_bytes, ehci.decoding) == (BarKind.MEM32, 0xFBCFB800, 1 * K, True)
    smbus = bars_of(dump, "0000:00:1f.4")       # `base 0, size 256, disabled`: not assigned
    assert (smbus[0].kind, smbus[0].start, smbus[0].size_bytes, smbus[0].decoding) == (BarKind.MEM64, None, 256, False)
    assert (smbus[4].kind, smbus[4].start, smbus[4].size_bytes) == (BarKind.IO, 0xEFA0, 32)   # bar [20]
    nvme = bars_of(dump, "0000:02:00.0")
    assert (nvme[0].kind, nvme[0].start, nvme[0].size_bytes) == (BarKind.MEM64, 0x4000000000, 16 * K)
    assert (nvme[2].kind, nvme[2].prefetchable) == (BarKind.MEM64, True)       # bar [18], `Prefetchable Memory`
    assert (nvme[6].kind, nvme[6].start) == (BarKind.ROM, 0xFB000000)          # bar [30]
    assert the_bar(dump, "fffa:00:02.0", 0).start == 0xFBCFB000                 # pci65530 = domain 0xfffa
    assert [b.device for b in dump.memory_bars()] == ["0000:00:1d.7", "0000:02:00.0", "0000:02:00.0",
                                                      "fffa:00:02.0"]


def test_pciconf_bad_address_and_bad_bar_lines(tmp_path):
    bad_address = tmp_path / "a.txt"
    bad_address.write_text("x0@pci0:0:32:0:\tclass=0x000000\n")
    with pytest.raises(DumpError) as err:
        load("pciconf", str(bad_address))
    assert str(err.value).startswith(f"{bad_address}:1: ")
    bad_bar = tmp_path / "b.txt"
    bad_bar.write_text("x0@pci0:0:3:0:\tclass=0x000000\n"
                       "    bar   [10] = type Memory, range 32, base 0xfe000000, size 0, enabled\n"
                       "    bar   [14] = type Memory, range 32, base 0xfe001000, size 4096, enabled\n"
                       "    bar   [44] = type Memory, range 32, base 0xfe002000, size 4096, enabled\n")
    dump = load("pciconf", str(bad_bar))
    assert [(b.index, b.start) for b in dump.bars] == [(1, 0xFE001000)]
    assert len(dump.warnings) == 1 and dump.warnings[0].startswith(f"{bad_bar}:2: 0000:00:03.0: ")


# --- small hand-written /proc/iomem ----------------------------------------------------------------------------------

def test_iomem_nesting_and_device_tree_host_bridge():
    dump = load("iomem", str(SMALL / "iomem-nested.txt"))
    assert dump.warnings == ()
    assert {(w.name, w.first, w.last, w.bridge, w.domain) for w in dump.windows} == {
        ("PCI Bus 0000:00", 0xA0000, 0xBFFFF, False, 0), ("PCI Bus 0000:00", 0xF0000000, 0xFEBFFFFF, False, 0),
        ("PCI Bus 0000:01", 0xFE000000, 0xFE1FFFFF, True, 0),
        ("pci@800000020000000", 0x800000020000000, 0x80000002FFFFFFF, False, 1)}
    assert sorted((b.device, b.start, b.size_bytes) for b in dump.bars) == [
        ("0000:00:02.0", 0xF0000000, 16 * M), ("0000:00:1d.7", 0xFEB00000, 1 * K),
        ("0000:00:1f.2", 0xFEB00400, 1 * K), ("0000:01:00.0", 0xFE000000, 4 * K),
        ("0000:01:00.1", 0xFE001000, 1 * K), ("0001:00:01.0", 0x800000020000000, 64 * K),
        ("0001:00:02.0", 0x800000020010000, 64 * K)]
    assert all(b.index is None for b in dump.bars)
    assert the_bar(dump, "0001:00:01.0", None).kind == BarKind.MEM64
    others = {(o.name, o.first) for o in dump.others}
    assert ("Kernel code", 0x1000000) in others and ("PNP0103:00", 0xFED00000) in others
    assert not {name for name, _ in others} & {"xhci-hcd", "ehci_hcd", "ahci", "nvme"}


def test_iomem_unparsable_lines_are_warned_and_skipped(tmp_path):
    path = tmp_path / "iomem"
    path.write_text("00000000-00000fff : Reserved\nthis is not iomem\n00002000-00001000 : Backwards\n")
    dump = load("iomem", str(path))
    assert [o.name for o in dump.others] == ["Reserved"]
    assert [w.split(": ")[0] for w in dump.warnings] == [f"{path}:2", f"{path}:3"]


# --- sysfs: directory, grep -H, head, a single resource file -----------------------------------------------------

def _sysfs_directory(root: Path) -> Path:
    """A copy of /sys/bus/pci/devices made from sysfs-head.txt: <address>/resource files."""
    devices = root / "devices"
    text = (SMALL / "sysfs-head.txt").read_text()
    for block in text.split("==> ")[1:]:
        header, _, body = block.partition(" <==\n")
        address = header.split("/")[-2]
        (devices / address).mkdir(parents=True)
        (devices / address / "resource").write_text(body.strip("\n") + "\n")
    (devices / "not-a-device").mkdir()
    return devices


def test_sysfs_directory_grep_and_head_forms_agree(tmp_path):
    directory = load("sysfs", str(_sysfs_directory(tmp_path)))
    grep = load("sysfs", str(SMALL / "sysfs-grep.txt"))
    head = load("sysfs", str(SMALL / "sysfs-head.txt"))
    for dump in (directory, grep, head):
        assert dump.warnings == ()
        assert dump.devices == ("0000:00:02.0", "0000:00:04.0", "0000:01:00.0")
        assert {(shape(b), b.decoding) for b in dump.bars} == {(shape(b), b.decoding) for b in grep.bars}
        assert window_ranges(dump) == {("0000:00:04.0", 0xFE800000, 0xFE9FFFFF, True),
                                       ("0000:00:04.0", 0xFE400000, 0xFE5FFFFF, True)}
    endpoint = bars_of(grep, "0000:01:00.0")
    assert (endpoint[0].kind, endpoint[0].size_bytes) == (BarKind.MEM64, 16 * K)
    assert (endpoint[3].start, endpoint[3].size_bytes) == (None, 4 * K)        # IORESOURCE_UNSET
    assert (endpoint[6].decoding, endpoint[6].size_bytes) == (True, 512 * K)   # IORESOURCE_ROM_ENABLE set
    assert the_bar(grep, "0000:00:02.0", 6).decoding is False
    # the 13-line device's slot 7 is its first SR-IOV VF BAR, kept as a resource that is not a BAR
    assert [(o.name, o.first, o.last) for o in grep.others] == [("0000:01:00.0 VF BAR 0", 0xFE810000, 0xFE82FFFF)]


def test_sysfs_single_resource_file(tmp_path):
    devices = _sysfs_directory(tmp_path)
    single = load("sysfs", str(devices / "0000:00:02.0" / "resource"))
    assert single.devices == ("0000:00:02.0",)
    assert sorted(b.index for b in single.bars) == [0, 1, 6]
    loose = tmp_path / "resource.txt"
    shutil.copy(devices / "0000:00:02.0" / "resource", loose)
    with pytest.raises(DumpError) as err:
        load("sysfs", str(loose))
    assert str(err.value).startswith(f"{loose}:1: ")


def test_sysfs_empty_directory_is_an_error(tmp_path):
    with pytest.raises(DumpError) as err:
        load("sysfs", str(tmp_path))
    assert str(err.value).startswith(f"{tmp_path}: ")


def test_sysfs_wrong_line_count_costs_its_device_only():
    text = (SMALL / "sysfs-grep.txt").read_text().split("\n")
    cut = [line for line in text if not (line.startswith("/sys/bus/pci/devices/0000:00:04.0/")
                                         and line.endswith("0x0000000000000100"))]
    dump = sysfs.parse("\n".join(cut), "cut.txt")
    assert {b.device for b in dump.bars} == {"0000:00:02.0", "0000:01:00.0"}
    assert len(dump.warnings) == 1 and "0000:00:04.0" in dump.warnings[0] and "10 resource lines" in dump.warnings[0]


def _garbled_sysfs_slot3() -> str:
    lines = (SMALL / "sysfs-grep.txt").read_text().split("\n")
    assert lines[3].startswith("/sys/bus/pci/devices/0000:00:02.0/resource:")      # slot 3 of 00:02.0, line 4
    lines[3] = "/sys/bus/pci/devices/0000:00:02.0/resource:0x0000000000000000 0x00000000000000zz 0x0000000000000000"
    return "\n".join(lines)


def test_sysfs_one_garbled_line_keeps_the_devices_other_slots():
    dump = sysfs.parse(_garbled_sysfs_slot3(), "g.txt")
    assert sorted(b.index for b in dump.bars if b.device == "0000:00:02.0") == [0, 1, 6]


def test_sysfs_garbled_line_warning_names_its_line():
    dump = sysfs.parse(_garbled_sysfs_slot3(), "g.txt")
    assert len(dump.warnings) == 1 and dump.warnings[0].startswith("g.txt:4: 0000:00:02.0: ")


def _head(lines_per_file: int) -> str:
    """`head -n N /sys/bus/pci/devices/*/resource` of the real x86 guest."""
    blocks: dict[str, list[str]] = {}
    for line in (X86 / "sysfs-resource.txt").read_text().splitlines():
        path, _, value = line.partition(":0x")
        blocks.setdefault(path, []).append("0x" + value)
    return "\n\n".join(f"==> {path} <==\n" + "\n".join(values[:lines_per_file]) for path, values in blocks.items())


def test_sysfs_head_with_enough_lines_reads_like_grep():
    head = sysfs.parse(_head(20), "head.txt")
    grep = load("sysfs", str(X86 / "sysfs-resource.txt"))
    assert head.warnings == ()
    assert {shape(b) for b in head.bars} == {shape(b) for b in grep.bars}
    assert window_ranges(head) == window_ranges(grep)


def test_sysfs_plain_head_keeps_bar0_to_rom():
    head = sysfs.parse(_head(10), "head.txt")
    grep = load("sysfs", str(X86 / "sysfs-resource.txt"))
    assert {shape(b) for b in head.bars} == {shape(b) for b in grep.bars}


def test_sysfs_head_truncated_in_a_header_keeps_the_previous_device():
    text = (SMALL / "sysfs-head.txt").read_text()
    cut = text[:text.index("==> /sys/bus/pci/devices/0000:00:04.0") + len("==> /sys/bus")]
    dump = sysfs.parse(cut, "cut.txt")
    assert sorted(b.index for b in dump.bars if b.device == "0000:00:02.0") == [0, 1, 6]


def test_sysfs_grep_truncated_in_a_path_keeps_the_complete_devices():
    text = (SMALL / "sysfs-grep.txt").read_text()
    cut = text[:text.index("/sys/bus/pci/devices/0000:00:04.0") + len("/sys/bus/pci/dev")]
    dump = sysfs.parse(cut, "cut.txt")
    assert sorted(b.index for b in dump.bars if b.device == "0000:00:02.0") == [0, 1, 6]


# --- input files that are not text ---------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", [f for f in FORMATS])
def test_a_nul_byte_is_refused_with_its_line(tmp_path, fmt):
    path = tmp_path / "dump.bin"
    path.write_bytes(b"00:02.0 X: Y\n\tRegion 0\x00: junk\n")
    with pytest.raises(DumpError) as err:
        load(fmt, str(path))
    assert str(err.value) == f"{path}:2: contains a NUL byte: not a text dump"


def test_a_missing_file_is_a_dump_error(tmp_path):
    path = tmp_path / "nothing.txt"
    with pytest.raises(DumpError) as err:
        load("lspci", str(path))
    assert str(err.value).startswith(f"{path}: cannot read")


# --- the FreeBSD development set -----------------------------------------------------------------------------------

def _dev_files() -> list[str]:
    if not DEV_SET.is_dir():
        return []
    return sorted(path.name for path in DEV_SET.glob("*.pciconf.txt"))


def _manifest() -> dict[str, str]:
    rows = {}
    for line in (DEV_SET / "MANIFEST.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split("\t")
        if fields[0] == "file":
            header = fields
            continue
        rows[fields[0]] = dict(zip(header, fields))["interesting"]
    return rows


@pytest.fixture
def dev_set() -> Path:
    if not DEV_SET.is_dir():
        pytest.skip(f"the pciconf development set {DEV_SET} is absent")
    return DEV_SET


def test_dev_set_is_complete(dev_set):
    assert len(_dev_files()) == 20
    assert set(_manifest()) == set(_dev_files())


@pytest.mark.parametrize("name", _dev_files() or ["(absent)"])
def test_dev_set_file_parses_and_matches_the_manifest(dev_set, name):
    path = str(dev_set / name)
    assert detect(path) == "pciconf"
    dump = load("pciconf", path)
    assert dump.warnings == ()
    assert dump.address_space == PCI_BUS
    memory = dump.memory_bars()
    assert len(memory) > 0
    match = re.search(r"sub4K BARs=(\d+)", _manifest()[name])
    assert match, _manifest()[name]
    assert sum(bar.size_bytes < 4096 for bar in memory) == int(match.group(1))


def test_dev_set_two_domains_and_an_unassigned_bar(dev_set):
    """16_Server_Precision_7820: `2 PCI domains`; 00:1f.4 `bar [10] = ... base 0, size 256, disabled`."""
    dump = load("pciconf", str(dev_set / "16_Server_Precision_7820_Tower_C8DDB7DAE6.pciconf.txt"))
    assert {device[:4] for device in dump.devices} == {"0000", "fffa"}
    smbus = the_bar(dump, "0000:00:1f.4", 0)
    assert (smbus.start, smbus.size_bytes, smbus.decoding, smbus.line) == (None, 256, False, 268)
    assert smbus not in dump.memory_bars()


# --- hostile numbers and names ---------------------------------------------------------------------------------

LSPCI_BAR = ("00:02.0 Ethernet controller: X\n"
             "\tRegion {index}: Memory at {address} (64-bit, prefetchable) [size={size}]\n")
SYSFS_EMPTY = "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"


@pytest.mark.parametrize("fmt,text,where", [
    ("lspci", LSPCI_BAR.format(index="9" * 5000, address="fe000000", size="4K"), "h.txt:2: Region index"),
    ("lspci", LSPCI_BAR.format(index="0", address="f" * 5000, size="4K"), "h.txt:2: BAR address"),
    ("lspci", LSPCI_BAR.format(index="0", address="fe000000", size="9" * 5000), "h.txt:2: size"),
    ("lspci", LSPCI_BAR.format(index="0", address="<unassigned>", size="16777216T"), "h.txt:2: size"),
    ("dmesg", "pci 0000:00:02.0: BAR " + "7" * 5000 + " [mem 0xfe000000-0xfe000fff]\n", "h.txt:1: BAR index"),
    ("dmesg", "pci 0000:00:02.0: BAR 0 [mem size 0x10000000000000000]\n", "h.txt:1: size"),
    ("dmesg", "pci 0000:00:02.0: BAR 0 [mem 0x0-0xffffffffffffffff 64bit]\n", "h.txt:1: 0000:00:02.0 BAR 0"),
    ("iomem", "0-ffffffffffffffff : PCI Bus 0000:00\n  0-ffffffffffffffff : 0000:00:02.0\n", "h.txt:2: 0000:00:02.0"),
    ("iomem", "0-" + "f" * 5000 + " : PCI Bus 0000:00\n", "h.txt:1: end"),
    ("sysfs", "/d/0000:00:02.0/resource:0x0000000000000000 0xffffffffffffffff 0x0000000000040200\n"
              + ("/d/0000:00:02.0/resource:" + SYSFS_EMPTY) * 6, "h.txt:1: 0000:00:02.0 resource 0"),
])
def test_a_number_beyond_64_bits_or_a_bar_of_2_64_bytes_is_a_one_line_dump_error(fmt, text, where):
    with pytest.raises(DumpError) as err:
        PARSERS[fmt](text, "h.txt")
    message = str(err.value)
    assert message.startswith(where), message
    assert "\n" not in message and len(message) < 300 and "Exceeds the limit" not in message


def test_the_largest_bar_that_fits_is_read():
    dump = lspci.parse(LSPCI_BAR.format(index="0", address="8000000000000000", size="8388608T"), "h.txt")
    assert [(b.start, b.size_bytes) for b in dump.bars] == [(1 << 63, 1 << 63)]


def test_a_region_line_with_other_digits_is_a_warning_not_a_bar():
    dump = lspci.parse(LSPCI_BAR.format(index="\u0663", address="fe000000", size="4K"), "h.txt")
    assert dump.bars == () and len(dump.warnings) == 1 and "unreadable Region line" in dump.warnings[0]


def test_iomem_names_and_warnings_have_control_characters_escaped():
    text = ("00000000-ffffffff : PCI Bus 0000:00\n  fe000000-fe0007ff : 0000:00:02.0\n"
            "  fe000800-fe000fff : \x1b[2J\x9bNOT ISOLATED\u202e\r\n\x1b[Kjunk line\n")
    dump = iomem.parse(text, "h\x1b.txt")
    assert [o.name for o in dump.others] == ["\\x1b[2J\\x9bNOT ISOLATED\\u202e"]
    assert dump.warnings and all("\x1b" not in w for w in dump.warnings)
    assert dump.warnings[0].startswith("h\\x1b.txt:4: ")


def test_load_names_a_path_with_control_characters_escaped(tmp_path):
    path = tmp_path / "lspci\x1b[2J.txt"
    path.write_text("not a dump\n")
    with pytest.raises(DumpError) as err:
        load("lspci", str(path))
    assert str(err.value).startswith(f"{tmp_path}/lspci\\x1b[2J.txt:1: ")
