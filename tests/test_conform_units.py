"""The conformance harness's parts that need no QEMU: plans, archives, modules, QMP, the CLI's errors."""

from __future__ import annotations

import gzip
import io
import json
import lzma
import socket
import tarfile
import threading
from pathlib import Path

import pytest

from barcheck.cli.main import main
from barcheck.conform import cpio
from barcheck.conform.assets import Kernel, _depends, module_order
from barcheck.conform.debpkg import DebError, data_files
from barcheck.conform.plan import make_plan
from barcheck.conform.qemu import _Qmp
from barcheck.scenario.file import load_scenario
from model.pci import ScenarioError

ROOT = Path(__file__).resolve().parent.parent
BASE = (ROOT / "conformance" / "x86-reopen-after-hotadd.toml").read_text()


def _spec(tmp_path: Path, text: str):
    path = tmp_path / "s.toml"
    path.write_text(text)
    return load_scenario(path)


def test_plan_text_and_qemu_devices():
    plan = make_plan(load_scenario(ROOT / "conformance" / "x86-reopen-after-hotadd.toml"))
    text = plan.plan_text().splitlines()
    assert text[:4] == ["bridge 0000:00:05.0 05.0", "dev 0000:01:01.0 05.0/01.0", "dev 0000:01:02.0 05.0/02.0",
                        "dev 0000:01:03.0 05.0/03.0"]
    assert "step 3 hotadd 0000:01:02.0" in text and "step 2 mmap 0000:01:01.0 0" in text
    assert plan.qemu_device_args() == [
        "-device", "pci-bridge,id=br0000_00_05_0,chassis_nr=1,bus=pcie.0,addr=05.0",
        "-device", "pci-ohci,id=dev0000_01_01_0,bus=br0000_00_05_0,addr=01.0"]
    assert plan.hotplug_arguments("0000:01:03.0") == {"driver": "sdhci-pci", "id": "dev0000_01_03_0",
                                                      "bus": "br0000_00_05_0", "addr": "03.0"}


@pytest.mark.parametrize("old, new, message", [
    ('[conform]\narch = "x86_64"\n', "", "missing [conform] table"),
    ('arch = "x86_64"', 'arch = "riscv64"', "conform.arch: 'riscv64' is not one of"),
    ('page_sizes = ["4K"]', 'page_sizes = ["64K"]', "x86_64 runs with 4096 byte pages"),
    ('qemu = "pci-ohci"', 'qemu = "e1000"', "device[0].qemu: 'e1000' is not one of"),
    ('qemu = "pci-ohci"\n', "", "device[0].qemu: missing"),
    ('qemu = "pci-ohci"\nbars = [{ index = 0, size = "256" }]',
     'qemu = "pci-ohci"\nbars = [{ index = 0, size = "4K" }]', "BAR0 of pci-ohci is 256 bytes, not 4096"),
    ('qemu = "pci-ohci"\nbars = [{ index = 0, size = "256" }]',
     'qemu = "pci-ohci"\npresent = false\nbars = [{ index = 0, size = "256" }]', "cannot hot-add pci-ohci"),
    ('do = "mmap"', 'do = "munmap"', "event[1]: BAR0 of 0000:01:01.0 is not mapped"),
    ('do = "close"', 'do = "rescan"\nbridge = "0000:00:05.0"\n#', "rescan is not run by `barcheck conform`"),
])
def test_bad_conformance_scenarios_are_one_line_errors(tmp_path, old, new, message):
    assert old in BASE
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("(", r"\(")):
        make_plan(_spec(tmp_path, BASE.replace(old, new, 1)))


def test_hot_add_on_pseries_is_refused(tmp_path):
    text = BASE.replace('arch = "x86_64"', 'arch = "ppc64le"').replace('page_sizes = ["4K"]', 'page_sizes = ["64K"]')
    with pytest.raises(ScenarioError, match="event\\[2\\]: hot-add is not supported on ppc64le"):
        make_plan(_spec(tmp_path, text))


def test_cli_reports_a_bad_conformance_scenario_in_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(BASE.replace('qemu = "pci-ohci"', 'qemu = "e1000"', 1))
    out, err = io.StringIO(), io.StringIO()
    assert main(["conform", str(path)], out, err) == 2
    assert err.getvalue().count("\n") == 1 and "device[0].qemu" in err.getvalue()
    assert out.getvalue() == ""


def test_cli_needs_scenarios_or_setup():
    err = io.StringIO()
    assert main(["conform"], io.StringIO(), err) == 2
    assert "give scenario files, or --setup" in err.getvalue()


def _read_newc(blob: bytes) -> dict[str, tuple[int, int, bytes]]:
    data, entries, offset = gzip.decompress(blob), {}, 0
    while True:
        header = data[offset:offset + 110]
        assert header[:6] == b"070701"
        fields = [int(header[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        mode, size, rdev_major, name_size = fields[1], fields[6], fields[9], fields[11]
        name = data[offset + 110:offset + 110 + name_size - 1].decode()
        offset += 110 + name_size
        offset += -offset % 4
        body = data[offset:offset + size]
        offset += size
        offset += -offset % 4
        if name == cpio.TRAILER:
            return entries
        entries[name] = (mode, rdev_major, body)


def test_initramfs_is_a_valid_newc_archive():
    blob = cpio.initramfs({"init": (b"\x7fELF...", 0o755), "plan": (b"x\n", 0o644)}, ["dev", "lib", "lib/modules"],
                          {"dev/console": (5, 1)})
    entries = _read_newc(blob)
    assert list(entries) == ["dev", "lib", "lib/modules", "dev/console", "init", "plan"]
    assert entries["init"] == (0o100755, 0, b"\x7fELF...")
    assert entries["dev/console"][:2] == (0o020600, 5)
    assert entries["lib"][0] == 0o040755
    assert blob == cpio.initramfs({"plan": (b"x\n", 0o644), "init": (b"\x7fELF...", 0o755)},
                                  ["lib/modules", "lib", "dev"], {"dev/console": (5, 1)})


def _deb(files: dict[str, bytes]) -> bytes:
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w:xz") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo("./" + path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out = b"!<arch>\n"
    for name, body in (("debian-binary", b"2.0\n"), ("data.tar.xz", tar_bytes.getvalue())):
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(body):<10}`\n".encode() + body
        out += b"\n" if len(body) % 2 else b""
    return out


def test_deb_extraction_takes_wanted_files_and_decompresses_modules():
    ko = b"\0name=vfio\0depends=irqbypass\0"
    deb = _deb({"boot/vmlinuz-6.1": b"kernel", "lib/modules/6.1/kernel/drivers/vfio/vfio.ko.xz": lzma.compress(ko),
                "usr/share/doc/x": b"no"})
    files = data_files(deb, lambda p: not p.startswith("usr/"))
    assert files == {"boot/vmlinuz-6.1": b"kernel", "lib/modules/6.1/kernel/drivers/vfio/vfio.ko": ko}
    with pytest.raises(DebError):
        data_files(b"not a deb", lambda p: True)


def test_module_order_puts_dependencies_first(tmp_path):
    infos = {"vfio-pci": b"\0depends=vfio-pci-core,vfio\0", "vfio-pci-core": b"\0depends=vfio,irqbypass\0",
             "vfio": b"\0depends=\0", "irqbypass": b"\0depends=\0", "vfio_iommu_type1": b"\0depends=vfio\0"}
    modules = {}
    for name, body in infos.items():
        path = tmp_path / f"{name}.ko"
        path.write_bytes(b"\x7fELF" + body)
        modules[name.replace("_", "-")] = path
    kernel = Kernel(tmp_path / "vmlinuz", modules, "6.1")
    assert module_order(kernel, ("vfio-pci", "vfio_iommu_type1")) == [
        "vfio", "irqbypass", "vfio-pci-core", "vfio-pci", "vfio-iommu-type1"]
    assert _depends(b"\0depends=a,b\0") == ["a", "b"]


def test_qmp_device_add_reports_qemu_errors(tmp_path):
    path = tmp_path / "qmp.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(1)
    seen = []

    def serve():
        conn, _ = server.accept()
        conn.sendall(b'{"QMP": {"version": {}}}\n')
        reader = conn.makefile("rb")
        for line in reader:
            request = json.loads(line)
            seen.append(request)
            if request["execute"] == "qmp_capabilities":
                conn.sendall(b'{"return": {}}\n')
            elif request["arguments"]["driver"] == "pci-ohci":
                conn.sendall(b'{"event": "X"}\n{"error": {"class": "GenericError", "desc": "not pluggable"}}\n')
            else:
                conn.sendall(b'{"event": "DEVICE_ADDED"}\n{"return": {}}\n')
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    monitor = _Qmp(path)
    assert monitor.device_add({"driver": "sdhci-pci", "id": "a"}) == ""
    assert monitor.device_add({"driver": "pci-ohci", "id": "b"}) == "not pluggable"
    monitor.close()
    thread.join(5)
    server.close()
    assert [r["execute"] for r in seen] == ["qmp_capabilities", "device_add", "device_add"]


def test_a_host_without_qemu_skips_with_the_setup_command(monkeypatch):
    from barcheck.conform import run as conform_run, setup
    real_which = setup.shutil.which
    monkeypatch.setattr(setup.shutil, "which", lambda name: None if name.startswith("qemu") else real_which(name))
    plan = make_plan(load_scenario(ROOT / "conformance" / "x86-reset.toml"))
    from model.policies import get_policy
    [result] = conform_run.run_all([(plan, get_policy("linux-4.8"))], 1, None, lambda r: None)
    assert result.verdict == conform_run.SKIPPED
    assert "qemu-system-x86_64 not installed; run `barcheck conform --setup`" in result.reason


def test_hot_add_on_the_root_bus_is_refused(tmp_path):
    text = (ROOT / "conformance" / "x86-root-port.toml").read_text()
    text = text.replace('address = "0000:02:00.0"\nparent = "0000:00:04.0"', 'address = "0000:00:09.0"\nparent = "pci0000:00"')
    text = text.replace('device = "0000:02:00.0"', 'device = "0000:00:09.0"')
    with pytest.raises(ScenarioError, match=r"event\[1\]: 0000:00:09.0 is on the root bus"):
        make_plan(_spec(tmp_path, text))


def test_root_ports_become_pcie_root_ports():
    plan = make_plan(load_scenario(ROOT / "conformance" / "x86-root-port.toml"))
    assert plan.qemu_device_args()[:2] == ["-device",
                                           "pcie-root-port,id=br0000_00_03_0,chassis=1,slot=1,bus=pcie.0,addr=03.0"]


def test_nested_bridges_are_created_parents_first(tmp_path):
    text = (ROOT / "conformance" / "x86-reset.toml").read_text()
    nested = ('\n[[bridge]]\naddress = "0000:01:03.0"\nparent = "0000:00:05.0"\nwindow = ["any", "any"]\n')
    text = text.replace("\n[[bridge]]", nested + "\n[[bridge]]", 1)
    plan = make_plan(_spec(tmp_path, text))
    bridges = [arg for arg in plan.qemu_device_args() if arg.startswith("pci-bridge")]
    assert [b.split(",")[1] for b in bridges] == ["id=br0000_00_05_0", "id=br0000_01_03_0"]
    assert "bus=br0000_00_05_0,addr=03.0" in bridges[1]
    assert "bridge 0000:01:03.0 05.0/03.0" in plan.plan_text()
