"""`barcheck host`: exit codes, one-line errors, --out, the barcheck.host/1 JSON and what it says."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest

import barcheck.cli.main
import barcheck.cli.host
from barcheck.host.dump import load

DATA = Path(__file__).resolve().parent / "data" / "hostdumps"
X86 = DATA / "qemu" / "6.1.0-56-amd64"
PPC = DATA / "qemu" / "6.12.107+deb13-powerpc64le-64k"
SMALL = DATA / "small"
DEV_SET = Path(__file__).resolve().parents[2] / "shared" / "data" / "pciconf-dev"
AT5 = DEV_SET / "04_Desktop_AT5NM10T-I_7C26A8B81E.pciconf.txt"
HEX = re.compile(r"^0x[0-9a-f]+$")


@pytest.fixture
def at5() -> Path:
    if not AT5.is_file():
        pytest.skip(f"the pciconf development set {DEV_SET} is absent")
    return AT5


def run(*argv: str, main=barcheck.cli.host.main) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["host", *argv], out, err)
    return code, out.getvalue(), err.getvalue()


def run_json(*argv: str) -> tuple[int, dict]:
    code, out, err = run(*argv, "--format", "json")
    assert err == "", err
    return code, json.loads(out)


def assert_usage_error(code: int, out: str, err: str, *needles: str) -> str:
    assert code == 2, (code, err)
    assert out == ""
    assert err.startswith("barcheck: error: ") and err.endswith("\n")
    assert err.count("\n") == 1, f"not one line: {err!r}"
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def record(doc: dict, device: str, index: int | None) -> dict:
    found = [bar for bar in doc["bars"] if bar["device"] == device and bar["bar"] == index]
    assert len(found) == 1, (device, index, [(b["device"], b["bar"]) for b in doc["bars"]])
    return found[0]


def page(bar: dict, size: int) -> dict:
    found = [p for p in bar["pages"] if p["page_size"] == size]
    assert len(found) == 1
    return found[0]


# --- bad input: exit 2, one line, no traceback ---------------------------------------------------------------------

@pytest.mark.parametrize("main", [barcheck.cli.host.main, barcheck.cli.main.main], ids=["cli_host", "cli"])
def test_missing_file(tmp_path, main):
    missing = tmp_path / "no-such-lspci.txt"
    assert_usage_error(*run("--lspci", str(missing), main=main), str(missing), "cannot read")


def test_a_directory_as_lspci(tmp_path):
    assert_usage_error(*run("--lspci", str(tmp_path)), str(tmp_path), "directory")


def test_a_binary_file(tmp_path):
    binary = tmp_path / "lspci.bin"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00\n\x00\x00")
    assert_usage_error(*run("--lspci", str(binary)), f"{binary}:1:", "NUL")


@pytest.mark.parametrize("main", [barcheck.cli.host.main, barcheck.cli.main.main], ids=["cli_host", "cli"])
def test_unknown_policy(main):
    assert_usage_error(*run("--lspci", str(X86 / "lspci-vvv.txt"), "--policy", "linux-9.99", main=main),
                       "--policy", "linux-9.99")


@pytest.mark.parametrize("policy", ["linux-4.8+resource_alignment=4K", "vfio-platform"])
def test_policies_that_do_not_fit_a_fixed_layout(policy):
    assert_usage_error(*run("--lspci", str(X86 / "lspci-vvv.txt"), "--policy", policy), policy)


@pytest.mark.parametrize("sizes", ["3K", "0", "4K,banana"])
def test_bad_page_size(sizes):
    assert_usage_error(*run("--lspci", str(X86 / "lspci-vvv.txt"), "--page-size", sizes), "--page-size")


@pytest.mark.parametrize("machine", [X86, PPC], ids=["x86", "ppc64le"])
def test_iomem_read_without_root(machine):
    path = machine / "iomem-user.txt"
    err = assert_usage_error(*run("--iomem", str(path)), str(path))
    assert "root" in err


@pytest.mark.parametrize("main", [barcheck.cli.host.main, barcheck.cli.main.main], ids=["cli_host", "cli"])
def test_no_dump_at_all(main):
    assert_usage_error(*run("--format", "json", main=main), "--lspci")


def test_bad_format_choice():
    assert_usage_error(*run("--lspci", str(X86 / "lspci-vvv.txt"), "--format", "xml"), "xml")


def test_unreadable_dump_content(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("these are my notes\nnot an lspci dump\n")
    assert_usage_error(*run("--lspci", str(path)), f"{path}:1:")


def test_pciconf_with_iomem_is_a_usage_error(at5):
    assert_usage_error(*run("--pciconf", str(at5), "--iomem", str(X86 / "iomem-root.txt")), str(at5), "pciconf")


@pytest.mark.parametrize("other", ["--iomem", "--lspci"])
def test_pciconf_with_a_cpu_address_dump_is_a_usage_error(tmp_path, other):
    source = X86 / ("iomem-root.txt" if other == "--iomem" else "lspci-vvv.txt")
    out_dir = tmp_path / "out"
    assert_usage_error(*run("--pciconf", str(SMALL / "pciconf-mixed.txt"), other, str(source), "--out", str(out_dir)),
                       "pciconf-mixed.txt", "bus addresses")
    assert not out_dir.exists()


def test_unknown_hint_policy_names_the_option():
    err = assert_usage_error(*run("--lspci", str(X86 / "lspci-vvv.txt"), "--hint-policy", "linux-9.99"))
    assert err.startswith("barcheck: error: --hint-policy")


def test_internal_error_is_exit_70_without_traceback(monkeypatch):
    import barcheck.host.report

    def broken(*args, **kwargs):
        raise RuntimeError("simulated")

    monkeypatch.setattr(barcheck.host.report, "check_host", broken)
    monkeypatch.delenv("BARCHECK_DEBUG", raising=False)
    code, out, err = run("--lspci", str(X86 / "lspci-vvv.txt"))
    assert code == 70 and out == ""
    assert err == "barcheck: internal error: RuntimeError: simulated\n"


# --- exit codes 0 and 1 ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ("--lspci", str(X86 / "lspci-vvv.txt")), ("--sysfs", str(X86 / "sysfs-resource.txt")),
    ("--dmesg", str(X86 / "dmesg.txt")), ("--iomem", str(X86 / "iomem-root.txt")),
    ("--lspci", str(PPC / "lspci-vvD.txt"), "--iomem", str(PPC / "iomem-root.txt")),
    ("--lspci", str(SMALL / "lspci-features.txt")), ("--pciconf", str(SMALL / "pciconf-mixed.txt"))],
    ids=["x86-lspci", "x86-sysfs", "x86-dmesg", "x86-iomem", "ppc-lspci+iomem", "small-lspci", "small-pciconf"])
@pytest.mark.parametrize("fmt", ["text", "md", "json"])
def test_real_dumps_hold(argv, fmt):
    code, out, err = run(*argv, "--format", fmt)
    assert (code, err) == (0, "")
    assert out.strip()
    if fmt == "text":
        assert "isolation: holds" in out


def test_a_mapping_that_reaches_a_neighbour_is_exit_1(tmp_path):
    """An 8K BAR that is not page-aligned: mmappable (>= a page), and its page-rounded mapping covers 00:03.0."""
    path = tmp_path / "lspci.txt"
    path.write_text("00:02.0 Ethernet controller: A\n"
                    "\tRegion 0: Memory at fe000800 (32-bit, non-prefetchable) [size=8K]\n"
                    "00:03.0 Ethernet controller: B\n"
                    "\tRegion 0: Memory at fe000000 (32-bit, non-prefetchable) [size=2K]\n")
    code, doc = run_json("--lspci", str(path), "--page-size", "4K")
    assert code == 1
    leaky = page(record(doc, "0000:00:02.0", 0), 4096)
    assert leaky["mmappable"] == {"linux-4.7": True, "linux-4.8": True}
    assert leaky["isolated"] == {"linux-4.7": False, "linux-4.8": False}
    assert any("0000:00:03.0" in leak for leak in leaky["leaks"]["linux-4.8"])
    assert doc["summary"][0]["not_isolated"] == {"linux-4.7": 1, "linux-4.8": 1}
    assert run("--lspci", str(path), "--page-size", "4K")[0] == 1


# --- --out ---------------------------------------------------------------------------------------------------------

def test_out_writes_host_json(tmp_path):
    out_dir = tmp_path / "report" / "nested"
    code, out, err = run("--lspci", str(X86 / "lspci-vvv.txt"), "--format", "json", "--out", str(out_dir))
    assert (code, err) == (0, "")
    assert out == f"wrote {out_dir / 'host.json'}\n"
    assert sorted(os.listdir(out_dir)) == ["host.json"]
    assert json.loads((out_dir / "host.json").read_text())["schema"] == "barcheck.host/1"
    _, stdout_doc = run_json("--lspci", str(X86 / "lspci-vvv.txt"))
    assert json.loads((out_dir / "host.json").read_text()) == stdout_doc


def test_out_left_untouched_on_bad_input(tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "host.json").write_text("previous report\n")
    assert_usage_error(*run("--lspci", str(tmp_path / "missing.txt"), "--format", "json", "--out", str(out_dir)))
    assert sorted(os.listdir(out_dir)) == ["host.json"]
    assert (out_dir / "host.json").read_text() == "previous report\n"
    fresh = tmp_path / "fresh"
    assert_usage_error(*run("--iomem", str(X86 / "iomem-user.txt"), "--format", "json", "--out", str(fresh)))
    assert not fresh.exists() or os.listdir(fresh) == []


def test_out_is_atomic_when_the_write_fails(tmp_path, monkeypatch):
    import barcheck.cli.util

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "host.json").write_text("previous report\n")

    real_replace = os.replace
    calls = []

    def failing_replace(src, dst):
        """The first rename (the report into place) fails; putting things back still works."""
        calls.append((src, dst))
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(barcheck.cli.util.os, "replace", failing_replace)
    code, out, err = run("--lspci", str(X86 / "lspci-vvv.txt"), "--format", "json", "--out", str(out_dir))
    assert code != 0 and err.startswith("barcheck: ") and err.count("\n") == 1
    assert calls, "the write did not go through os.replace: the failure was not simulated"
    assert sorted(os.listdir(out_dir)) == ["host.json"], "the temporary file was left behind"
    assert (out_dir / "host.json").read_text() == "previous report\n"


def test_out_that_is_a_file(tmp_path):
    target = tmp_path / "occupied"
    target.write_text("x")
    assert_usage_error(*run("--lspci", str(X86 / "lspci-vvv.txt"), "--out", str(target)), "not a directory")
    assert target.read_text() == "x"


# --- the JSON document -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv,fmt_name,memory_bars", [
    (("--lspci", str(X86 / "lspci-vvv.txt")), "lspci", 19),
    (("--sysfs", str(PPC / "sysfs-resource.txt")), "sysfs", 13),
    (("--iomem", str(X86 / "iomem-root.txt")), "iomem", 22),
    (("--dmesg", str(SMALL / "dmesg-old.txt")), "dmesg", 4)],
    ids=["x86-lspci", "ppc-sysfs", "x86-iomem", "small-dmesg"])
def test_json_document_shape(argv, fmt_name, memory_bars):
    code, doc = run_json(*argv, "--page-size", "4K,16K,64K", "--policy", "linux-4.8", "--policy", "linux-4.7")
    assert code == 0
    assert doc["schema"] == "barcheck.host/1"
    assert doc["input"]["format"] == fmt_name and doc["input"]["path"] == argv[1]
    assert doc["page_sizes"] == [4096, 16384, 65536]
    assert sorted(doc["policies"]) == ["linux-4.7", "linux-4.8"]
    dump = load(fmt_name, argv[1])
    assert len(doc["bars"]) == len(dump.memory_bars()) == memory_bars
    assert {(b["device"], int(b["start"], 16), int(b["size"], 16)) for b in doc["bars"]} == \
        {(b.device, b.start, b.size_bytes) for b in dump.memory_bars()}
    for bar in doc["bars"]:
        assert re.fullmatch(r"[0-9a-f]{4,}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]", bar["device"])
        assert bar["bar"] is None if fmt_name == "iomem" else bar["bar"] in range(6)
        assert HEX.match(bar["start"]) and HEX.match(bar["size"])
        assert bar["kind"] in ("mem32", "mem64")
        assert [p["page_size"] for p in bar["pages"]] == [4096, 16384, 65536]
        size = int(bar["size"], 16)
        start = int(bar["start"], 16)
        for p in bar["pages"]:
            assert p["subpage"] == (size < p["page_size"])
            assert p["aligned"] == (start % p["page_size"] == 0)
            assert p["shares_page_with"] == sorted(set(p["shares_page_with"]))
            assert bar["device"] not in p["shares_page_with"]
            assert set(p["mmappable"]) == set(p["isolated"]) == {"linux-4.7", "linux-4.8"}
            assert all(isinstance(v, bool) for v in p["mmappable"].values())
    assert [s["page_size"] for s in doc["summary"]] == [4096, 16384, 65536]
    assert all(s["memory_bars"] == memory_bars for s in doc["summary"])


def test_json_is_byte_identical_across_runs():
    argv = ("--lspci", str(X86 / "lspci-vvv.txt"), "--iomem", str(X86 / "iomem-root.txt"), "--format", "json")
    first, second = run(*argv), run(*argv)
    assert first == second and first[0] == 0
    text_runs = [run("--sysfs", str(PPC / "sysfs-resource.txt"))[1] for _ in range(2)]
    assert text_runs[0] == text_runs[1]


def test_hint_policy_none_gives_no_suggestion():
    code, doc = run_json("--pciconf", str(SMALL / "pciconf-mixed.txt"), "--hint-policy", "none")
    assert code == 0 and doc["hint_policy"] is None
    assert all(p["resource_alignment"] is None for b in doc["bars"] for p in b["pages"])
    assert all(s["kernel_parameter"] is None for s in doc["summary"])


# --- what the check says ---------------------------------------------------------------------------------------

def test_at5_ehci_shares_its_4k_page_with_the_ahci_controller(at5):
    """04_Desktop_AT5NM10T-I: 00:1d.7 BAR0 1 KiB at 0xfbcfb800, 00:1f.2 BAR5 1 KiB at 0xfbcfbc00."""
    code, doc = run_json("--pciconf", str(at5), "--page-size", "4K,64K")
    assert code == 0
    assert doc["input"]["address_space"] == "pci-bus"
    ehci = record(doc, "0000:00:1d.7", 0)
    assert (ehci["start"], ehci["size"], ehci["kind"]) == ("0xfbcfb800", "0x400", "mem32")
    at_4k = page(ehci, 4096)
    assert at_4k["subpage"] is True and at_4k["aligned"] is False
    assert at_4k["shares_page_with"] == ["0000:00:1f.2"]
    assert at_4k["mmappable"]["linux-4.8"] is False
    assert at_4k["mmappable"]["linux-4.7"] is False
    assert at_4k["resource_alignment"]["parameter"] == "pci=resource_alignment=12@0000:00:1d.7"
    assert at_4k["resource_alignment"]["order"] == 12
    at_64k = page(ehci, 65536)
    assert at_64k["resource_alignment"]["order"] == 16
    assert at_64k["resource_alignment"]["parameter"] == "pci=resource_alignment=16@0000:00:1d.7"
    ahci = record(doc, "0000:00:1f.2", 5)
    assert (ahci["start"], ahci["size"]) == ("0xfbcfbc00", "0x400")
    assert page(ahci, 4096)["shares_page_with"] == ["0000:00:1d.7"]
    summary_4k = doc["summary"][0]
    assert (summary_4k["page_size"], summary_4k["memory_bars"], summary_4k["subpage"],
            summary_4k["subpage_shared"]) == (4096, 12, 2, 2)
    assert "12@0000:00:1d.7" in summary_4k["kernel_parameter"]["parameter"]
    assert "12@0000:00:1f.2" in summary_4k["kernel_parameter"]["parameter"]


def test_pciconf_domains_do_not_share_pages():
    """fffa:00:02.0 at bus address 0xfbcfb000 is in another PCI domain than 0000:00:1d.7 at 0xfbcfb800."""
    code, doc = run_json("--pciconf", str(SMALL / "pciconf-mixed.txt"), "--page-size", "4K")
    assert code == 0
    assert page(record(doc, "0000:00:1d.7", 0), 4096)["shares_page_with"] == []
    assert page(record(doc, "fffa:00:02.0", 0), 4096)["shares_page_with"] == []
    assert "host.bus-addresses" in {a["name"] for a in doc["assumptions"]}


def test_lspci_with_iomem_gives_every_bar_its_window():
    lspci_only = run_json("--lspci", str(X86 / "lspci-vvv.txt"))[1]
    code, doc = run_json("--lspci", str(X86 / "lspci-vvv.txt"), "--iomem", str(X86 / "iomem-root.txt"))
    assert code == 0
    assert doc["input"]["format"] == "lspci+iomem"
    # the BAR indices come from lspci; iomem's entries for the same ranges (the three ROMs too) are not doubled
    assert len(doc["bars"]) == 19 and all(isinstance(b["bar"], int) for b in doc["bars"])
    assert all(b["parent"] is not None and b["parent"].startswith("window ") for b in doc["bars"])
    assert record(doc, "0000:00:02.0", 0)["parent"] == "window PCI Bus 0000:00"
    assert record(doc, "0000:03:01.0", 0)["parent"] in ("window 0000:00:08.0", "window PCI Bus 0000:03")
    assert record(doc, "0000:01:00.0", 4)["parent"] in ("window 0000:00:06.0", "window PCI Bus 0000:01")
    names = {a["name"] for a in doc["assumptions"]}
    assert "host.parent-unknown" not in names and "host.no-platform-resources" not in names
    # lspci alone shows no host-bridge window: a root-bus BAR's parent is unknown
    assert record(lspci_only, "0000:00:02.0", 0)["parent"] is None
    assert record(lspci_only, "0000:03:01.0", 0)["parent"] == "window 0000:00:08.0"
    assert "host.parent-unknown" in {a["name"] for a in lspci_only["assumptions"]}


def test_ppc_64k_pages_each_small_bar_has_its_own_page():
    """SLOF places every BAR of the pseries guest on its own 64K page: linux-4.8 maps them with a dummy."""
    code, doc = run_json("--lspci", str(PPC / "lspci-vvv.txt"), "--iomem", str(PPC / "iomem-root.txt"),
                         "--page-size", "64K")
    assert code == 0 and len(doc["bars"]) == 13
    watchdog = page(record(doc, "0000:00:03.0", 0), 65536)
    assert (watchdog["subpage"], watchdog["aligned"], watchdog["shares_page_with"]) == (True, True, [])
    assert watchdog["mmappable"] == {"linux-4.7": False, "linux-4.8": True}
    assert watchdog["dummy"]["linux-4.8"] == ["0x200080080010", "0x20008008ffff"]
    summary = doc["summary"][0]
    assert (summary["subpage"], summary["subpage_shared"]) == (11, 0)
    assert summary["mmappable"] == {"linux-4.7": 2, "linux-4.8": 13}
    assert record(doc, "0000:01:04.0", 2)["parent"] in ("window 0000:00:08.0", "window PCI Bus 0000:01")


def test_x86_4k_small_bars_on_separate_pages_but_64k_pages_are_shared():
    code, doc = run_json("--sysfs", str(X86 / "sysfs-resource.txt"), "--page-size", "4K,64K")
    assert code == 0
    watchdog = record(doc, "0000:00:03.0", 0)      # 16 bytes at 0xfe460000
    assert page(watchdog, 4096)["shares_page_with"] == []
    assert page(watchdog, 65536)["shares_page_with"] == ["0000:00:05.0", "0000:00:06.0", "0000:00:07.0",
                                                         "0000:00:08.0", "0000:00:1f.2"]
    assert page(watchdog, 4096)["mmappable"] == {"linux-4.7": False, "linux-4.8": True}
    assert page(watchdog, 65536)["mmappable"]["linux-4.8"] is False
