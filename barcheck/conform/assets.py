"""What a conformance boot needs on the host: the pinned kernel, the agent, the initramfs.

Everything is cached below `$BARCHECK_CACHE` (default
`$XDG_CACHE_HOME/barcheck`, else `~/.cache/barcheck`), in `conform/`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from barcheck.conform import cpio
from barcheck.conform.debpkg import DebError, data_files
from barcheck.conform.machines import KernelPin, Machine

DEFAULT_MIRROR = "http://deb.debian.org"
MODULE_DIRS = ("kernel/drivers/vfio/", "kernel/virt/")
"""Where vfio-pci, its IOMMU backends and irqbypass live in the module tree."""


class AssetError(Exception):
    """Something the boot needs cannot be had: the run is SKIPPED or an ERROR, never a verdict."""


@dataclass(frozen=True, slots=True)
class Kernel:
    image: Path
    modules: dict[str, Path]
    """Module name (dashes) -> the uncompressed .ko in the cache."""
    release: str


def cache_root() -> Path:
    base = os.environ.get("BARCHECK_CACHE")
    if base:
        return Path(base) / "conform"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "barcheck" / "conform"


def _mirrors() -> list[str]:
    configured = os.environ.get("BARCHECK_DEBIAN_MIRROR")
    return [configured.rstrip("/")] if configured else [DEFAULT_MIRROR]


def fetch_kernel_deb(pin: KernelPin) -> Path:
    """The pinned package, from the cache or the Debian pool, checked against its SHA-256."""
    target = cache_root() / "debs" / pin.file_name
    if target.exists() and _sha256(target.read_bytes()) == pin.sha256:
        return target
    errors = []
    for mirror in _mirrors():
        url = f"{mirror}/{pin.pool_path}/{pin.file_name}"
        try:
            with urllib.request.urlopen(url, timeout=120) as response:
                blob = response.read()
        except (urllib.error.URLError, OSError) as exc:
            errors.append(f"{url}: {exc}")
            continue
        if _sha256(blob) != pin.sha256:
            errors.append(f"{url}: SHA-256 {_sha256(blob)} is not the pinned {pin.sha256}")
            continue
        _write_atomically(target, blob)
        return target
    raise AssetError(f"pinned kernel {pin.package} {pin.version} not available ({'; '.join(errors)}); "
                     f"put {pin.file_name} into {target.parent} or set BARCHECK_DEBIAN_MIRROR")


def kernel_files(machine: Machine) -> Kernel:
    """The kernel image and the vfio modules, extracted once and cached."""
    pin = machine.kernel
    root = cache_root() / "kernels" / f"{pin.package}_{pin.version}"
    stamp = root / "complete"
    if not stamp.exists():
        deb = fetch_kernel_deb(pin)
        try:
            files = data_files(deb.read_bytes(), lambda path: _wanted(machine, path))
        except (DebError, OSError, EOFError) as exc:
            raise AssetError(f"{deb}: cannot read the package: {exc}") from None
        if root.exists():
            shutil.rmtree(root)
        for path, data in files.items():
            _write_atomically(root / path, data)
        stamp.write_text("ok\n")
    images = sorted((root / "boot").glob(machine.kernel_image_prefix + "*"))
    if not images:
        raise AssetError(f"{pin.package}: no boot/{machine.kernel_image_prefix}* in the package")
    modules = {_module_name(p): p for p in root.rglob("*.ko")}
    return Kernel(images[0], modules, images[0].name.removeprefix(machine.kernel_image_prefix))


def _wanted(machine: Machine, path: str) -> bool:
    if path.startswith("boot/" + machine.kernel_image_prefix):
        return True
    parts = path.split("/modules/", 1)
    if len(parts) != 2 or not (path.endswith(".ko") or path.endswith(".ko.xz")):
        return False
    below_release = parts[1].split("/", 1)[-1]
    return below_release.startswith(MODULE_DIRS)


def _module_name(path: Path) -> str:
    return path.name.removesuffix(".ko").replace("_", "-")


def module_order(kernel: Kernel, roots: tuple[str, ...]) -> list[str]:
    """The modules to load, dependencies first, from each module's modinfo `depends=`."""
    order: list[str] = []

    def visit(name: str, chain: tuple[str, ...]) -> None:
        key = name.replace("_", "-")
        if key in order:
            return
        if key not in kernel.modules:
            raise AssetError(f"kernel {kernel.release}: module {name} ({' <- '.join(chain)}) is not in "
                             f"{', '.join(MODULE_DIRS)}")
        for dep in _depends(kernel.modules[key].read_bytes()):
            visit(dep, chain + (dep,))
        order.append(key)

    for root in roots:
        visit(root, (root,))
    return order


def _depends(ko: bytes) -> list[str]:
    found = re.search(rb"(?:^|\0)depends=([^\0]*)\0", ko)
    if not found or not found.group(1):
        return []
    return [name.decode() for name in found.group(1).split(b",") if name]


_AGENTS: dict[str, bytes] = {}
"""arch -> agent, for the boots of one process."""


def build_agent(machine: Machine) -> bytes:
    """The agent, compiled statically for the machine; cached by source and compiler."""
    if machine.arch not in _AGENTS:
        _AGENTS[machine.arch] = _compile_agent(machine)
    return _AGENTS[machine.arch]


def _compile_agent(machine: Machine) -> bytes:
    source = resources.files("barcheck.conform").joinpath("agent.c").read_bytes()
    compiler = shutil.which(machine.compiler)
    if compiler is None:
        raise AssetError(f"no {machine.compiler} on PATH (run `barcheck conform --setup`)")
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout
    key = _sha256(source + version.encode())[:16]
    target = cache_root() / "agents" / f"agent-{machine.arch}-{key}"
    if target.exists():
        return target.read_bytes()
    with tempfile.TemporaryDirectory(prefix="barcheck-agent-") as tmp:
        src, out = Path(tmp) / "agent.c", Path(tmp) / "agent"
        src.write_bytes(source)
        done = subprocess.run([compiler, "-static", "-O2", "-Wall", "-o", str(out), str(src)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["no output"])[0]
            raise AssetError(f"{machine.compiler} could not build the agent: {first}")
        blob = out.read_bytes()
    _write_atomically(target, blob)
    return blob


def build_initramfs(machine: Machine, kernel: Kernel, plan_text: str) -> bytes:
    order = module_order(kernel, machine.module_roots)
    files = {"init": (build_agent(machine), 0o755), "plan": (plan_text.encode(), 0o644),
             "modules.order": ("".join(f"{m}\n" for m in order).encode(), 0o644)}
    for name in order:
        files[f"lib/modules/{name}.ko"] = (kernel.modules[name].read_bytes(), 0o644)
    return cpio.initramfs(files, ["dev", "proc", "sys", "tmp", "lib", "lib/modules"], {"dev/console": (5, 1)})


def _sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def _write_atomically(path: Path, blob: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(blob)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
