"""How the PCI core sizes and aligns a BAR's resource: the alignment configurations.

A configuration is what `pci=resource_alignment=`, `pcibios_default_alignment()`,
quirk_extend_bar_to_page and Enhanced Allocation do to the resources vfio-pci
later sees.  It composes with any kernel-version policy as a modifier
(`linux-4.8+resource_alignment`).

Sources (6952350/linux-6.18.y drivers/pci/pci.c @929249a1026b):
- pci_specified_resource_alignment(): `align = pcibios_default_alignment()`;
  an empty parameter returns that default at once; a non-empty parameter under
  PCI_PROBE_ONLY returns 0 ("Ignoring requested alignments"); a matching entry
  sets `*resize = true` and `align = 1 << order` (PAGE_SHIFT when the order is
  omitted).
- pci_reassigndev_resource_alignment(), called from pci_device_add()
  (drivers/pci/probe.c @e5739aaec4e7), so hot-added devices too: returns for
  VFs (`dev->is_virtfn`), for align 0 and for host bridges
  (PCI_CLASS_BRIDGE_HOST, "Can't reassign resources to host bridge").
- pci_request_resource_alignment(): skips non-MEM, IORESOURCE_PCI_FIXED and
  `size >= align`; resize: `start = 0, end = align - 1`; otherwise
  IORESOURCE_STARTALIGN with `start = align` and the size unchanged (and
  IORESOURCE_SIZEALIGN cleared).
- pci_assign_resource() (gregkh/linux drivers/pci/setup-res.c @185d51ec3a54)
  clears IORESOURCE_STARTALIGN once the BAR is assigned; __release_child_resources()
  (kernel/resource.c @2156bd420daf) resets `start = 0, end = size - 1` "to
  restore size, and keep flags".  A STARTALIGN BAR therefore comes out of a
  bridge-window release with neither SIZEALIGN nor STARTALIGN, and
  resource_alignment() returns 0 ("bogus alignment"): it is not reassigned.
- pnv_pci_default_alignment() returns PAGE_SIZE (gregkh/linux
  arch/powerpc/platforms/powernv/pci-ioda.c @7bb05500a3ad); the weak default is 0.
- quirk_extend_bar_to_page() (gregkh/linux drivers/pci/quirks.c @018a35688017):
  IBM 0x034a (Crocodile ipr SAS), every sub-page MEM BAR becomes [0, PAGE_SIZE-1].
- "PCI: Align small BARs" v3 8/8 and "PCI: Restore resource alignment" v3 3/8
  (Stewart Hildebrand, lore 20240807151723.613742-1-stewart.hildebrand@amd.com,
  not in 6.18): default max(SZ_4K, PAGE_SIZE), and the alignment restored when
  bridge resources are released.
- Enhanced Allocation: pci_ea_read() (6.18 pci.c) marks entries
  IORESOURCE_PCI_FIXED with DWORD-granular start and end, and no power-of-two
  or alignment check.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from model.ops import Flag, Ops, Word
from model.ranges import fits
from model.units import KIB, SizeError, is_power_of_two, parse_size, size_name

PAGE = "page"
MAX_4K_PAGE = "max-4k-page"


@dataclass(frozen=True, slots=True)
class PciCore:
    """The PCI core's alignment configuration.

    `parameter_bytes`: None when `pci=resource_alignment=` does not name the
    device under test; 0 for an entry without an order (PAGE_SIZE); otherwise
    the alignment in bytes.  `default` is what pcibios_default_alignment()
    returns: None (0), PAGE or MAX_4K_PAGE.
    """

    parameter_bytes: int | None = None
    default: str | None = None
    extends_to_page: bool = False
    restores_alignment: bool = False
    enhanced_allocation: bool = False

    @property
    def realigns(self) -> bool:
        return self.parameter_bytes is not None or self.default is not None or self.extends_to_page

    def default_align(self, ops: Ops, page_bytes: Word) -> Word:
        """pcibios_default_alignment()."""
        if self.default == PAGE:
            return page_bytes
        if self.default == MAX_4K_PAGE:
            if not fits(ops, 4 * KIB):
                return page_bytes  # reduced-width cross-checks: SZ_4K is beyond every address
            four_k = ops.const(4 * KIB)
            return ops.ite(ops.ult(page_bytes, four_k), four_k, page_bytes)
        return ops.const(0)

    def parameter_align(self, ops: Ops, page_bytes: Word) -> Word:
        if self.parameter_bytes is None:
            return ops.const(0)
        return page_bytes if self.parameter_bytes == 0 else ops.const(self.parameter_bytes)

    def request(self, ops: Ops, page_bytes: Word, named: bool) -> "Request":
        """A matching parameter entry resizes (`*resize = true`); the default only aligns the start."""
        if named and self.parameter_bytes is not None:
            return Request(self.parameter_align(ops, page_bytes), ops.true())
        return Request(self.default_align(ops, page_bytes), ops.false())


@dataclass(frozen=True, slots=True)
class Request:
    """What pci_specified_resource_alignment() answers for one device."""

    align: Word
    """0 when nothing is requested."""
    resize: Flag


def specified_alignment(ops: Ops, core: PciCore, page_bytes: Word, named: bool) -> Request:
    """pci_specified_resource_alignment() for a device the parameter names (`named`) or not.

    PCI_PROBE_ONLY is outside the model: with it set the parameter is ignored,
    and whether a default-realigned BAR is ever assigned is not established.
    """
    return core.request(ops, page_bytes, named)


@dataclass(frozen=True, slots=True)
class Modifier:
    name: str
    title: str
    kernel_ref: str
    takes_size: bool = False

    def apply(self, core: PciCore, size_bytes: int | None) -> PciCore:
        if self.name == "resource_alignment":
            return replace(core, parameter_bytes=size_bytes or 0)
        if self.name == "default_alignment":
            return replace(core, default=PAGE)
        if self.name == "align_small_bars":
            return replace(core, default=MAX_4K_PAGE, restores_alignment=True)
        if self.name == "extend_bar_to_page":
            return replace(core, extends_to_page=True)
        if self.name == "enhanced_allocation":
            return replace(core, enhanced_allocation=True)
        raise AssertionError(self.name)


MODIFIERS: dict[str, Modifier] = {m.name: m for m in (
    Modifier("resource_alignment",
             "pci=resource_alignment= names the device: its sub-page MEM BARs grow to the alignment "
             "(PAGE_SIZE, or =SIZE for an explicit order)",
             "drivers/pci/pci.c pci_specified_resource_alignment(), pci_request_resource_alignment() "
             "(6952350/linux-6.18.y@929249a1026b), resize path", takes_size=True),
    Modifier("default_alignment",
             "pcibios_default_alignment() returns PAGE_SIZE (PowerNV): every device's sub-page MEM BARs "
             "start on a page, sizes unchanged (IORESOURCE_STARTALIGN)",
             "arch/powerpc/platforms/powernv/pci-ioda.c pnv_pci_default_alignment() "
             "(gregkh/linux@7bb05500a3ad); drivers/pci/pci.c pci_request_resource_alignment()"),
    Modifier("align_small_bars",
             "proposal \"PCI: Align small BARs\" (2024): default max(4K, PAGE_SIZE) for every device, "
             "with the alignment restored when bridge resources are released",
             "[PATCH v3 8/8] PCI: Align small BARs and [PATCH v3 3/8] PCI: Restore resource alignment "
             "(Stewart Hildebrand, lore 20240807151723.613742-1-stewart.hildebrand@amd.com; not merged in 6.18)"),
    Modifier("extend_bar_to_page",
             "quirk_extend_bar_to_page applies to the device: its sub-page MEM BARs grow to PAGE_SIZE",
             "drivers/pci/quirks.c quirk_extend_bar_to_page() (gregkh/linux@018a35688017), "
             "IBM 0x034a header fixup"),
    Modifier("enhanced_allocation",
             "the platform has Enhanced Allocation / IORESOURCE_PCI_FIXED BARs: DWORD-granular, "
             "neither power-of-two nor naturally aligned, never realigned",
             "drivers/pci/pci.c pci_ea_read(), pci_ea_flags() (6952350/linux-6.18.y@929249a1026b)"),
)}

EXCLUSIVE_DEFAULTS = ("default_alignment", "align_small_bars")
"""Both set pcibios_default_alignment(), so they cannot be combined."""


class ModifierError(ValueError):
    """A policy name whose modifiers cannot be understood; the message says why."""


def parse_modifiers(base: str, parts: list[str], also_known: tuple[str, ...] = ()) -> tuple[PciCore, tuple[str, ...]]:
    """The configuration and the canonical modifier spellings, in registry order.

    `also_known` names further modifiers the caller handles (the VMMs), for the error message.
    """
    seen: dict[str, str] = {}
    core = PciCore()
    for part in parts:
        name, _, argument = part.partition("=")
        modifier = MODIFIERS.get(name)
        if modifier is None:
            known = ", ".join(f"+{m}" for m in (*MODIFIERS, *also_known))
            raise ModifierError(f"{base}: unknown modifier '+{name}' (known: {known})")
        if name in seen:
            raise ModifierError(f"{base}: modifier '+{name}' given twice")
        size = _modifier_size(base, modifier, argument) if "=" in part else None
        core = modifier.apply(core, size)
        seen[name] = f"+{name}" + (f"={size_name(size)}" if size else "")
    if all(name in seen for name in EXCLUSIVE_DEFAULTS):
        raise ModifierError(f"{base}: '+default_alignment' and '+align_small_bars' both set "
                            f"pcibios_default_alignment(); give one")
    return core, tuple(seen[name] for name in MODIFIERS if name in seen)


def _modifier_size(base: str, modifier: Modifier, argument: str) -> int:
    if not modifier.takes_size:
        raise ModifierError(f"{base}: modifier '+{modifier.name}' takes no value")
    try:
        size = parse_size(argument)
    except SizeError as err:
        raise ModifierError(f"{base}: '+{modifier.name}={argument}': {err}") from None
    if not is_power_of_two(size):
        raise ModifierError(f"{base}: '+{modifier.name}={argument}': the alignment must be a power of "
                            f"two (the kernel takes an order: 1 << order bytes)")
    return size
