"""What the guest kernel did, from the agent's `BC ...` console lines (see agent.c)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

IORESOURCE_MEM = 0x200
IORESOURCE_PREFETCH = 0x2000
IORESOURCE_MEM_64 = 0x100000
BAR_INDICES = range(6)
"""sysfs `resource` lines 0-5 are the BARs; 6 is the ROM, later ones are IOV BARs and bridge windows."""


class ObservationError(Exception):
    """The console does not hold a complete run."""


@dataclass(frozen=True, slots=True)
class Resource:
    index: int
    first: int
    last: int
    flags: int

    @property
    def is_memory(self) -> bool:
        return bool(self.flags & IORESOURCE_MEM)

    @property
    def size_bytes(self) -> int:
        return self.last - self.first + 1


@dataclass
class Node:
    """A device or bridge as sysfs shows it."""

    name: str
    bdf: str
    resources: dict[int, Resource] = field(default_factory=dict)

    def memory_bars(self) -> dict[int, Resource]:
        return {i: r for i, r in self.resources.items() if i in BAR_INDICES and r.is_memory}

    def memory_window(self) -> Resource | None:
        """A bridge's non-prefetchable memory window."""
        found = [r for i, r in self.resources.items()
                 if i > 6 and r.is_memory and not r.flags & IORESOURCE_PREFETCH]
        return found[0] if found else None


@dataclass(frozen=True, slots=True)
class IomemEntry:
    depth: int
    first: int
    last: int
    name: str


@dataclass
class StepObservation:
    number: int
    event: str
    target: str
    ok: bool = False
    error: str = ""
    mmap_flags: dict[int, bool] = field(default_factory=dict)
    """BAR index -> the MMAP flag of VFIO_DEVICE_GET_REGION_INFO (open steps)."""
    appeared: Node | None = None
    """The hot-added device as sysfs shows it (hot-add steps)."""
    reserved: list[tuple[int, int]] = field(default_factory=list)
    complete: bool = False


@dataclass
class Observation:
    kernel: str = ""
    arch: str = ""
    page_bytes: int = 0
    modules: dict[str, int] = field(default_factory=dict)
    devices: dict[str, Node] = field(default_factory=dict)
    bridges: dict[str, Node] = field(default_factory=dict)
    iomem: list[IomemEntry] = field(default_factory=list)
    steps: dict[int, StepObservation] = field(default_factory=dict)
    fatal: str = ""
    done: bool = False
    host_notes: list[str] = field(default_factory=list)


_HELLO = re.compile(r"kernel=(\S+) arch=(\S+) page_size=(\d+)")
_IOMEM = re.compile(r"^( *)([0-9a-f]+)-([0-9a-f]+) : (.*)$")
_AGENT = re.compile(r"(?:^|[^A-Za-z0-9_])BC (.*)$")
"""An agent line; a kernel message without its newline may sit in front of it on the console."""


def parse(lines: list[str]) -> Observation:
    obs = Observation()
    state = _ParseState(obs)
    for line in lines:
        if line.startswith("HOST "):
            obs.host_notes.append(line[5:])
        else:
            found = _AGENT.search(line)
            if found:
                state.feed(found.group(1))
    return obs


class _ParseState:
    def __init__(self, obs: Observation) -> None:
        self.obs = obs
        self.node: Node | None = None
        self.step: StepObservation | None = None

    def feed(self, text: str) -> None:
        word, _, rest = text.partition(" ")
        handler = getattr(self, "_" + word.replace("-", "_"), None)
        if handler is not None:
            handler(rest)

    def _hello(self, rest: str) -> None:
        m = _HELLO.search(rest)
        if m:
            self.obs.kernel, self.obs.arch, self.obs.page_bytes = m.group(1), m.group(2), int(m.group(3))

    def _module(self, rest: str) -> None:
        name, _, rc = rest.partition(" rc=")
        self.obs.modules[name] = int(rc or "0")

    def _dev(self, rest: str) -> None:
        node = self._node(rest, self.obs.devices)
        if self.step is not None and self.step.event == "hotadd" and node.name == self.step.target:
            self.step.appeared = node

    def _bridge(self, rest: str) -> None:
        self._node(rest, self.obs.bridges)

    def _node(self, rest: str, into: dict[str, Node]) -> Node:
        parts = rest.split()
        fields = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        node = Node(parts[0], fields.get("bdf", ""))
        self.node = node
        if self.step is None:
            into[node.name] = node
        return node

    def _res(self, rest: str) -> None:
        name, index, first, last, flags = rest.split()
        if self.node is not None and self.node.name == name:
            self.node.resources[int(index)] = Resource(int(index), int(first, 16), int(last, 16), int(flags, 16))

    def _iomem(self, rest: str) -> None:
        m = _IOMEM.match(rest)
        if m:
            self.obs.iomem.append(IomemEntry(len(m.group(1)) // 2, int(m.group(2), 16), int(m.group(3), 16),
                                             m.group(4)))

    def _step(self, rest: str) -> None:
        parts = rest.split()
        number = int(parts[0])
        if parts[1] == "begin":
            self.step = StepObservation(number, parts[2], parts[3])
            self.obs.steps[number] = self.step
        elif parts[1] == "end" and self.step is not None:
            self.step.complete = True

    def _region(self, rest: str) -> None:
        parts = rest.split()
        if self.step is not None and parts[0] == self.step.target:
            self.step.mmap_flags[int(parts[1])] = parts[-1] == "mmap=1"

    def _outcome(self, rest: str) -> None:
        _, verdict, *error = rest.split()
        if self.step is not None:
            self.step.ok = verdict == "ok"
            self.step.error = " ".join(error)

    def _reserved(self, rest: str) -> None:
        first, last = rest.split()
        if self.step is not None:
            self.step.reserved.append((int(first, 16), int(last, 16)))

    def _fatal(self, rest: str) -> None:
        self.obs.fatal = rest

    def _done(self, rest: str) -> None:
        self.obs.done = True


def iomem_children(entries: list[IomemEntry], first: int, last: int) -> list[IomemEntry]:
    """The direct children of the outermost entry [first, last]."""
    for i, entry in enumerate(entries):
        if entry.first == first and entry.last == last:
            children = []
            for below in entries[i + 1:]:
                if below.depth <= entry.depth:
                    break
                if below.depth == entry.depth + 1:
                    children.append(below)
            return children
    raise ObservationError(f"/proc/iomem has no entry {first:#x}-{last:#x}")
