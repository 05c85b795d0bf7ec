"""The two machines `barcheck conform` boots, with their pinned kernels.

Both kernels are Debian's stock builds, fetched from the Debian pool and
checked against a pinned SHA-256; nothing is installed on the host.
- x86_64: linux-image-6.1.0-56-amd64 (6.1.192-2, bookworm-security), 4 KiB
  pages, under `qemu-system-x86_64 -M q35` with an emulated intel-iommu and
  SeaBIOS.
- ppc64le: linux-image-6.12.107+deb13-powerpc64le-64k (6.12.107-1, trixie),
  CONFIG_PPC_64K_PAGES=y, under `qemu-system-ppc64 -M pseries` (SLOF) with the
  sPAPR TCE IOMMU.  Bookworm's 6.1 ppc64el kernel cannot bind vfio-pci on
  pseries (probe fails with -EINVAL), and trixie's plain powerpc64le flavour
  has 4 KiB pages (the oracle recipe's FINDINGS.md that this harness
  started from, "Obstacles").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KernelPin:
    package: str
    version: str
    deb_arch: str
    pool_path: str
    """Below the mirror root, e.g. debian-security/pool/updates/main/l/..."""
    sha256: str
    size_bytes: int

    @property
    def file_name(self) -> str:
        return f"{self.package}_{self.version}_{self.deb_arch}.deb"


@dataclass(frozen=True, slots=True)
class Machine:
    arch: str
    page_bytes: int
    qemu_binary: str
    machine_args: tuple[str, ...]
    kernel_args: str
    root_bus: str
    """QEMU's id of the root PCI bus."""
    bridge_kinds: dict[str, str]
    """Scenario bridge kind -> QEMU device model."""
    hotplug: bool
    kernel: KernelPin
    kernel_image_prefix: str
    """The image under boot/ in the package: vmlinuz- (x86) or vmlinux- (ppc64)."""
    module_roots: tuple[str, ...]
    """vfio-pci and the IOMMU backend; their dependencies are found from modinfo."""
    compiler: str
    apt_packages: tuple[str, ...]
    boot_timeout_s: int


X86_64 = Machine(
    arch="x86_64",
    page_bytes=4096,
    qemu_binary="qemu-system-x86_64",
    machine_args=("-M", "q35", "-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", "1024",
                  "-device", "intel-iommu"),
    kernel_args="console=ttyS0 intel_iommu=on loglevel=3 panic=-1 rdinit=/init",
    root_bus="pcie.0",
    bridge_kinds={"pci-bridge": "pci-bridge", "root-port": "pcie-root-port"},
    hotplug=True,
    kernel=KernelPin("linux-image-6.1.0-56-amd64", "6.1.192-2", "amd64",
                     "debian-security/pool/updates/main/l/linux-signed-amd64",
                     "a86e2049672f52354c4536a089203b6c82639420424d31c91cf31a181fd4d8f1", 70550672),
    kernel_image_prefix="vmlinuz-",
    module_roots=("vfio-pci", "vfio_iommu_type1"),
    compiler="gcc",
    apt_packages=("qemu-system-x86", "gcc", "libc6-dev", "linux-libc-dev"),
    boot_timeout_s=240,
)

PPC64LE = Machine(
    arch="ppc64le",
    page_bytes=65536,
    qemu_binary="qemu-system-ppc64",
    machine_args=("-M", "pseries,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off",
                  "-accel", "tcg", "-smp", "1", "-m", "2048", "-vga", "none"),
    kernel_args="console=hvc0 loglevel=3 panic=-1 rdinit=/init",
    root_bus="pci.0",
    bridge_kinds={"pci-bridge": "pci-bridge"},
    hotplug=False,
    kernel=KernelPin("linux-image-6.12.107+deb13-powerpc64le-64k", "6.12.107-1", "ppc64el",
                     "debian/pool/main/l/linux",
                     "dcd4749a863f7ffab43a9c3b73bdd3a724fea770a781805ba8f1abd76383a6b6", 78839144),
    kernel_image_prefix="vmlinux-",
    module_roots=("vfio-pci", "vfio_iommu_spapr_tce"),
    compiler="powerpc64le-linux-gnu-gcc",
    apt_packages=("qemu-system-ppc", "gcc-powerpc64le-linux-gnu", "libc6-dev-ppc64el-cross",
                  "linux-libc-dev-ppc64el-cross"),
    boot_timeout_s=300,
)

MACHINES = {m.arch: m for m in (X86_64, PPC64LE)}
