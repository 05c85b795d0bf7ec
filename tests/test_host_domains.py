"""PCI domains: pciconf prints bus addresses, one space per domain; CPU-address dumps are one space.

A multi-domain machine (a POWER server: one PHB per domain, each decoding the same bus
addresses) must not have a BAR of one domain judged by a BAR of another that merely has the
same numbers: not for sharing a page, not for the dummy reservation, not for hot-plug, not for
where the resource_alignment= fix places it.
"""

from __future__ import annotations

import io
import json

from barcheck.cli.host import main
from barcheck.host.report import check_host
from barcheck.host.dump import CPU_PHYSICAL, DumpBar, HostDump
from barcheck.host.dump import pciconf
from model.pci import BarKind
from model.policies import get_policy

POLICIES = [get_policy("linux-4.7"), get_policy("linux-4.8")]


def pciconf_dump(*devices: tuple[int, int, int, int]) -> str:
    """(domain, bus, base, size) per device: one 32-bit memory BAR each, as FreeBSD prints it."""
    lines = []
    for number, (domain, bus, base, size) in enumerate(devices):
        lines += [f"none{number}@pci{domain}:{bus}:0:0:\tclass=0x0c0330 rev=0x01 hdr=0x00 vendor=0x1014 device=0x0339",
                  "    vendor     = 'IBM'",
                  f"    bar   [10] = type Memory, range 32, base {base:#x}, size {size}, enabled", ""]
    return "\n".join(lines)


def host_json(tmp_path, text: str, *argv: str) -> dict:
    path = tmp_path / "power.pciconf.txt"
    path.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    code = main(["host", "--pciconf", str(path), "--format", "json", *argv], out, err)
    assert code in (0, 1), err.getvalue()
    return json.loads(out.getvalue())


def host_text(tmp_path, text: str, *argv: str) -> str:
    path = tmp_path / "power.pciconf.txt"
    path.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    assert main(["host", "--pciconf", str(path), *argv], out, err) in (0, 1), err.getvalue()
    return out.getvalue()


def page(doc: dict, device: str) -> dict:
    (bar,) = [bar for bar in doc["bars"] if bar["device"] == device]
    (only,) = bar["pages"]
    return only


# Domain 0's 2K BAR starts a page; domain 1's 2K BAR has the bus addresses of the rest of that page.
TWO_DOMAINS = pciconf_dump((0, 1, 0x80000000, 2048), (1, 1, 0x80000800, 2048))
ONE_DOMAIN = pciconf_dump((0, 1, 0x80000000, 2048), (0, 2, 0x80000800, 2048))


def test_a_bar_of_another_domain_at_the_same_bus_addresses_does_not_trap_a_2k_bar(tmp_path):
    doc = host_json(tmp_path, TWO_DOMAINS, "--page-size", "4K")
    first = page(doc, "0000:01:00.0")
    assert first["mmappable"] == {"linux-4.7": False, "linux-4.8": True}
    assert first["dummy"]["linux-4.8"] == ["0x80000800", "0x80000fff"]
    assert first["shares_page_with"] == [] and first["resource_alignment"] is None
    assert first["isolated"]["linux-4.8"] is True
    text = host_text(tmp_path, TWO_DOMAINS, "--page-size", "4K")
    block = text.split("0000:01:00.0 BAR 0")[1].split("\n\n")[0]
    assert "linux-4.8 mmap (reserves [0x80000800-0x80000fff])" in block and "linux-4.8 trapped" not in block


def test_a_neighbour_in_the_same_domain_still_traps_the_2k_bar(tmp_path):
    doc = host_json(tmp_path, ONE_DOMAIN, "--page-size", "4K")
    first = page(doc, "0000:01:00.0")
    assert first["mmappable"] == {"linux-4.7": False, "linux-4.8": False}
    assert first["dummy"]["linux-4.8"] is None
    assert first["shares_page_with"] == ["0000:02:00.0"]
    text = host_text(tmp_path, ONE_DOMAIN, "--page-size", "4K")
    assert "linux-4.8 trapped" in text.split("0000:01:00.0 BAR 0")[1].split("\n\n")[0]


def test_hot_plug_pages_count_free_space_of_the_bars_own_domain_only(tmp_path):
    """Domain 1 fills the rest of the page in bus addresses; in domain 0 that space is still free."""
    doc = host_json(tmp_path, TWO_DOMAINS, "--page-size", "4K")
    assert page(doc, "0000:01:00.0")["hotplug_pages"] == ["0x80000000"]
    full = host_json(tmp_path, ONE_DOMAIN, "--page-size", "4K")
    assert page(full, "0000:01:00.0")["hotplug_pages"] == []


def test_the_resource_alignment_fix_is_placed_among_its_own_domains_bars(tmp_path):
    """Domain 0's 1K BAR is not page-aligned; the page it would move to holds domain 1's BAR, in bus
    addresses only.  The fix places it there, for one device and in the joint parameter."""
    text = pciconf_dump((0, 1, 0x80000400, 1024), (1, 1, 0x80000000, 4096))
    doc = host_json(tmp_path, text, "--page-size", "4K")
    hint = page(doc, "0000:01:00.0")["resource_alignment"]
    assert hint["parameter"] == "pci=resource_alignment=12@0000:01:00.0"
    assert hint["placed_at"] == "0x80000000"
    joint = doc["summary"][0]["kernel_parameter"]
    assert joint["parameter"] == "pci=resource_alignment=12@0000:01:00.0"
    assert joint["placements"] == [{"bar": "0000:01:00.0 BAR 0", "start": "0x80000000", "size": "0x1000"}]
    same = host_json(tmp_path, pciconf_dump((0, 1, 0x80000400, 1024), (0, 2, 0x80000000, 4096)), "--page-size", "4K")
    assert page(same, "0000:01:00.0")["resource_alignment"]["placed_at"] != "0x80000000"
    assert same["summary"][0]["kernel_parameter"]["placements"][0]["start"] != "0x80000000"


def test_the_domain_is_recorded_on_every_bar():
    dump = pciconf.parse(pciconf_dump((0, 1, 0x1000, 4096), (65530, 0, 0x2000, 4096), (3, 0, 0x1000, 16)), "x")
    assert [(bar.device, bar.domain) for bar in dump.bars] == [("0000:01:00.0", 0), ("fffa:00:00.0", 65530),
                                                              ("0003:00:00.0", 3)]
    assert DumpBar("10000:e0:17.0", 0, BarKind.MEM64, False, 0, 16384).domain == 0x10000
    assert DumpBar("0002:00:01.0", 0, BarKind.MEM64, False, 0, 16384, domain=7).domain == 7


def test_cpu_physical_addresses_are_one_space_for_every_domain():
    """lspci -D, /proc/iomem and sysfs print CPU addresses: two domains' BARs in one page do share it."""
    bars = (DumpBar("0000:01:00.0", 0, BarKind.MEM32, False, 0x80000000, 2048, line=1),
            DumpBar("0001:01:00.0", 0, BarKind.MEM32, False, 0x80000800, 2048, line=2))
    report = check_host(HostDump("cpu.txt", "lspci", CPU_PHYSICAL, bars=bars), [4096], POLICIES, None)
    first = next(view for view in report.bars if view.bar.device == "0000:01:00.0").pages[0]
    assert first.shares_page_with == ("0001:01:00.0",)
    assert first.policies["linux-4.8"].mmappable is False
