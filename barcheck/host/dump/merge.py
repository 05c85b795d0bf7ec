"""Several dumps of one machine read together (`--lspci A --iomem B`).

/proc/iomem contributes the resource tree (windows and non-PCI resources); the other formats
contribute BAR indices, types and prefetchability.  An iomem BAR entry is kept only when no
other dump describes a BAR of that device over the same range.
"""

from __future__ import annotations

from barcheck.host.dump.model import PCI_BUS, DumpBar, DumpError, HostDump


def merge(dumps: list[HostDump]) -> HostDump:
    if len(dumps) == 1:
        return dumps[0]
    spaces = {dump.address_space for dump in dumps}
    if PCI_BUS in spaces and len(spaces) > 1:
        bus = next(dump for dump in dumps if dump.address_space == PCI_BUS)
        raise DumpError(bus.path, None, "pciconf prints PCI bus addresses and cannot be read together with "
                                        "dumps of CPU physical addresses")
    indexed = [bar for dump in dumps if dump.format != "iomem" for bar in dump.bars]
    bars, warnings = _unique_bars(indexed)
    covered = {(bar.device, bar.start, bar.size_bytes) for bar in bars if bar.start is not None}
    bars += [bar for dump in dumps if dump.format == "iomem" for bar in dump.bars
             if (bar.device, bar.start, bar.size_bytes) not in covered]
    windows = {(w.first, w.last): w for dump in reversed(dumps) for w in dump.windows}
    others = {(o.first, o.last, o.name): o for dump in dumps for o in dump.others}
    return HostDump(
        path=" + ".join(dump.path for dump in dumps),
        format="+".join(dump.format for dump in dumps),
        address_space=dumps[0].address_space,
        bars=tuple(bars),
        windows=tuple(sorted(windows.values(), key=lambda w: (w.first, -w.last))),
        others=tuple(others[key] for key in sorted(others)),
        devices=tuple(sorted({d for dump in dumps for d in dump.devices})),
        warnings=tuple(w for dump in dumps for w in dump.warnings) + tuple(warnings),
        notes=_notes(dumps),
        addresses_hidden=all(dump.addresses_hidden for dump in dumps),
    )


def _unique_bars(bars: list[DumpBar]) -> tuple[list[DumpBar], list[str]]:
    chosen: dict[tuple[str, int | None], DumpBar] = {}
    warnings = []
    for bar in bars:
        key = (bar.device, bar.index)
        old = chosen.get(key)
        if old is None or (old.start is None and bar.start is not None):
            chosen[key] = bar
        elif bar.start is not None and (old.start, old.size_bytes) != (bar.start, bar.size_bytes):
            warnings.append(f"{bar.device} {bar.label}: the dumps disagree ({old.start:#x} size {old.size_bytes:#x} "
                            f"against {bar.start:#x} size {bar.size_bytes:#x}); the first is used")
    return [chosen[key] for key in sorted(chosen, key=lambda k: (k[0], -1 if k[1] is None else k[1]))], warnings


def _notes(dumps: list[HostDump]) -> tuple[str, ...]:
    has_iomem = any(dump.format == "iomem" and not dump.addresses_hidden for dump in dumps)
    has_indices = any(dump.format != "iomem" for dump in dumps)
    notes = []
    for dump in dumps:
        for note in dump.notes:
            if has_iomem and "--iomem" in note:
                continue
            if has_indices and dump.format == "iomem" and "BAR indices" in note:
                continue
            notes.append(f"{dump.format}: {note}")
    return tuple(dict.fromkeys(notes))
