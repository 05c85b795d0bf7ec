"""From a scenario to a guest: the QEMU devices, the agent's plan and the hot-plug commands.

A device is found in the guest by its path of slot.function hops from the
root bus (e.g. `05.0/01.0`), not by its bus number: firmware numbers the
buses, and the report shows the guest's address where it differs.
"""

from __future__ import annotations

from dataclasses import dataclass

from barcheck.conform.devices import QEMU_DEVICES
from barcheck.conform.machines import MACHINES, Machine
from barcheck.scenario.file import EventDecl, ScenarioSpec
from model.events import EventKind
from model.pci import PciAddress, ScenarioError
from model.topology import ANY, DeviceDecl

SUPPORTED_EVENTS = (EventKind.OPEN, EventKind.CLOSE, EventKind.MMAP, EventKind.MUNMAP, EventKind.RESET,
                    EventKind.HOT_ADD)
AGENT_EVENT = {EventKind.OPEN: "open", EventKind.CLOSE: "close", EventKind.MMAP: "mmap",
               EventKind.MUNMAP: "munmap", EventKind.RESET: "reset", EventKind.HOT_ADD: "hotadd"}


@dataclass(frozen=True, slots=True)
class GuestNode:
    name: str
    """The scenario's address of the device or bridge."""
    path: str
    qemu_args: str
    """`driver,id=...,bus=...,addr=...` for -device or device_add."""
    bridge: bool
    present: bool


@dataclass(frozen=True, slots=True)
class Plan:
    spec: ScenarioSpec
    machine: Machine
    nodes: tuple[GuestNode, ...]

    def plan_text(self) -> str:
        lines = [f"{'bridge' if n.bridge else 'dev'} {n.name} {n.path}" for n in self.nodes]
        for number, decl in enumerate(self.spec.events, start=1):
            bar = f" {decl.bar}" if decl.bar is not None else ""
            lines.append(f"step {number} {AGENT_EVENT[decl.kind]} {decl.target}{bar}")
        return "\n".join(lines) + "\n"

    def qemu_device_args(self) -> list[str]:
        args: list[str] = []
        for node in self.nodes:
            if node.present:
                args += ["-device", node.qemu_args]
        return args

    def hotplug_arguments(self, name: str) -> dict[str, str]:
        node = next(n for n in self.nodes if n.name == name)
        driver, *pairs = node.qemu_args.split(",")
        return {"driver": driver, **dict(pair.split("=", 1) for pair in pairs)}


def make_plan(spec: ScenarioSpec) -> Plan:
    """The plan, or a one-line ScenarioError naming the file and field."""
    where = spec.path
    if spec.conform_arch is None:
        raise ScenarioError(f"{where}: conform: missing [conform] table (arch = \"x86_64\" or \"ppc64le\")")
    machine = MACHINES[spec.conform_arch]
    if machine.page_bytes not in spec.page_sizes:
        raise ScenarioError(f"{where}: page_sizes: {spec.conform_arch} runs with {machine.page_bytes} byte pages, "
                            f"which the scenario does not list")
    roots = [w for w in spec.topology.windows if w.parent is None]
    if len(roots) != 1:
        raise ScenarioError(f"{where}: host_bridge: conformance runs have exactly one host bridge, "
                            f"not {len(roots)}")
    nodes = _bridges(spec, machine, roots[0].name) + _devices(spec, machine, roots[0].name)
    _check_events(spec, machine, roots[0].name)
    return Plan(spec, machine, tuple(nodes))


def _hop(address: str) -> str:
    pci = PciAddress.parse(address)
    return f"{pci.device:02x}.{pci.function:x}"


def _bus_id(name: str) -> str:
    return "br" + name.replace(":", "_").replace(".", "_")


def _parent_path(spec: ScenarioSpec, parent: str, root: str) -> str:
    hops = []
    while parent != root:
        window = next(w for w in spec.topology.windows if w.name == parent)
        hops.append(_hop(window.name))
        if window.parent is None:
            raise ScenarioError(f"{spec.path}: window {window.name} is not under the host bridge {root}")
        parent = window.parent
    return "/".join(reversed(hops))


def _bus_of(parent: str, root: str, machine: Machine) -> str:
    return machine.root_bus if parent == root else _bus_id(parent)


def _bridges(spec: ScenarioSpec, machine: Machine, root: str) -> list[GuestNode]:
    nodes = []
    bridges = [(w, w.parent) for w in spec.topology.windows if w.parent is not None]
    bridges.sort(key=lambda pair: _parent_path(spec, pair[1], root).count("/") + (pair[1] != root))
    for i, (w, parent) in enumerate(bridges):
        model = machine.bridge_kinds.get(w.kind)
        if model is None:
            raise ScenarioError(f"{spec.path}: bridge {w.name}: kind {w.kind!r} is not available on "
                                f"{machine.arch} (available: {', '.join(machine.bridge_kinds)})")
        prefix = _parent_path(spec, parent, root)
        path = f"{prefix}/{_hop(w.name)}" if prefix else _hop(w.name)
        chassis = f"chassis_nr={i + 1}" if model == "pci-bridge" else f"chassis={i + 1},slot={i + 1}"
        args = f"{model},id={_bus_id(w.name)},{chassis},bus={_bus_of(parent, root, machine)},addr={_hop(w.name)}"
        nodes.append(GuestNode(w.name, path, args, True, True))
    return nodes


def _devices(spec: ScenarioSpec, machine: Machine, root: str) -> list[GuestNode]:
    nodes = []
    for d in spec.topology.devices:
        field = spec.device_where.get(d.address, d.address)
        model = spec.qemu_models.get(d.address)
        if model is None:
            raise ScenarioError(f"{spec.path}: {field}.qemu: missing (the QEMU device model, one of "
                                f"{', '.join(sorted(QEMU_DEVICES))})")
        known = QEMU_DEVICES.get(model)
        if known is None:
            raise ScenarioError(f"{spec.path}: {field}.qemu: {model!r} is not one of {', '.join(sorted(QEMU_DEVICES))}")
        _check_bars(spec, field, d, known.memory_bars)
        if not d.present and not known.hotpluggable:
            raise ScenarioError(f"{spec.path}: {field}.present: QEMU cannot hot-add {model}")
        prefix = _parent_path(spec, d.parent, root)
        path = f"{prefix}/{_hop(d.address)}" if prefix else _hop(d.address)
        args = f"{model},id={_device_id(d)},bus={_bus_of(d.parent, root, machine)},addr={_hop(d.address)}"
        nodes.append(GuestNode(d.address, path, args, False, d.present))
    return nodes


def _device_id(d: DeviceDecl) -> str:
    return "dev" + d.address.replace(":", "_").replace(".", "_")


def _check_bars(spec: ScenarioSpec, field: str, d: DeviceDecl, sizes: dict[int, int]) -> None:
    declared = {bar.index: bar for bar in d.bars}
    if sorted(declared) != sorted(sizes):
        raise ScenarioError(f"{spec.path}: {field}.bars: {spec.qemu_models[d.address]} has memory BARs "
                            f"{sorted(sizes)}, the scenario declares {sorted(declared)}")
    for index, bar in declared.items():
        if bar.size_bytes != ANY and bar.size_bytes != sizes[index]:
            raise ScenarioError(f"{spec.path}: {field}.bars: BAR{index} of {spec.qemu_models[d.address]} is "
                                f"{sizes[index]} bytes, not {bar.size_bytes}")


def _check_events(spec: ScenarioSpec, machine: Machine, root: str) -> None:
    """Events must make sense to a userspace program; what the kernel then does is observed."""
    present = {d.address for d in spec.topology.devices if d.present}
    opened: set[str] = set()
    mapped: set[tuple[str, int]] = set()
    on_root_bus = {d.address for d in spec.topology.devices if d.parent == root}
    for decl in spec.events:
        problem = _event_problem(decl, machine, present, opened, mapped)
        if not problem and decl.kind is EventKind.HOT_ADD and decl.target in on_root_bus:
            problem = f"{decl.target} is on the root bus, which QEMU cannot hot-plug on {machine.arch}; put it behind a bridge"
        if problem:
            raise ScenarioError(f"{spec.path}: {decl.where}: {problem}")
        _apply(decl, present, opened, mapped)


def _event_problem(decl: EventDecl, machine: Machine, present: set, opened: set, mapped: set) -> str | None:
    kind, target = decl.kind, decl.target
    if kind not in SUPPORTED_EVENTS:
        return (f"{kind.value} is not run by `barcheck conform` (supported: "
                f"{', '.join(k.value for k in SUPPORTED_EVENTS)})")
    if kind is EventKind.HOT_ADD:
        if not machine.hotplug:
            return f"hot-add is not supported on {machine.arch} (pseries needs drmgr in the guest)"
        return f"{target} is already present" if target in present else None
    if target not in present:
        return f"{target} is not present"
    if kind is EventKind.OPEN:
        return f"{target} is already open" if target in opened else None
    if target not in opened:
        return f"{target} is not open"
    if kind is EventKind.CLOSE and any(d == target for d, _ in mapped):
        return f"{target} still has a BAR mapped; munmap it first (the kernel defers the release until munmap)"
    if kind is EventKind.MMAP and (target, decl.bar) in mapped:
        return f"BAR{decl.bar} of {target} is already mapped"
    if kind is EventKind.MUNMAP and (target, decl.bar) not in mapped:
        return f"BAR{decl.bar} of {target} is not mapped"
    return None


def _apply(decl: EventDecl, present: set, opened: set, mapped: set) -> None:
    if decl.kind is EventKind.HOT_ADD:
        present.add(decl.target)
    elif decl.kind is EventKind.OPEN:
        opened.add(decl.target)
    elif decl.kind is EventKind.CLOSE:
        opened.discard(decl.target)
    elif decl.kind is EventKind.MMAP:
        mapped.add((decl.target, decl.bar))
    elif decl.kind is EventKind.MUNMAP:
        mapped.discard((decl.target, decl.bar))

