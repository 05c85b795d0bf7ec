"""`barcheck survey`: statistics over many machines' dumps.

Each dump is read as one machine and checked as `barcheck host` checks it (the same tree,
probe and isolation check, without the resource_alignment suggestion).  A file that is not a
dump, or cannot be read, is skipped with one line saying why.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TextIO

from barcheck.hostcheck.report import HostReport, check_host
from barcheck.hostdump import DumpError, detect, load
from model.policies import Policy

SMALL_BAR_BYTES = 4096
PROGRESS_MIN_DUMPS = 20


@dataclass(frozen=True, slots=True)
class Machine:
    path: str
    format: str
    memory_bars: int
    small_bars: int
    """Memory BARs smaller than 4 KiB."""
    subpage: tuple[int, ...]
    """Per page size: memory BARs smaller than the page."""
    shared: tuple[int, ...]
    """Per page size: sub-page BARs that share a page with another device's BAR."""
    small_shared: tuple[int, ...]
    """Per page size: BARs under 4 KiB that share a page with another device's BAR."""
    mmappable: tuple[dict[str, int], ...]
    """Per page size and policy: sub-page BARs the policy lets userspace mmap."""
    leaks: int


@dataclass
class Survey:
    page_sizes: tuple[int, ...]
    policies: tuple[str, ...]
    machines: list[Machine] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def leaks(self) -> int:
        return sum(machine.leaks for machine in self.machines)


def dump_files(paths: list[str]) -> list[str]:
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path) and not _is_sysfs_tree(path):
            for root, dirs, names in os.walk(path):
                dirs.sort()
                files += [os.path.join(root, name) for name in sorted(names) if not name.startswith(".")]
        elif os.path.exists(path):
            files.append(path)
        else:
            raise DumpError(path, None, "no such file or directory")
    return files


def _is_sysfs_tree(path: str) -> bool:
    return any(os.path.isfile(os.path.join(path, name, "resource")) for name in os.listdir(path))


def run_survey(paths: list[str], dump_format: str, page_sizes: list[int], policies: list[Policy],
               stderr: TextIO, progress: str = "auto") -> Survey:
    files = dump_files(paths)
    survey = Survey(tuple(page_sizes), tuple(policy.name for policy in policies))
    bar = _Progress(stderr, len(files), progress)
    for path in files:
        try:
            fmt = detect(path) if dump_format == "auto" else dump_format
            dump = load(fmt, path)
            if dump.addresses_hidden:
                raise DumpError(path, None, "every address is zero (/proc/iomem read without root)")
            survey.machines.append(_machine(check_host(dump, page_sizes, policies, None)))
        except DumpError as err:
            survey.skipped.append(f"{err} (skipped)")
        bar.step()
    bar.done()
    return survey


def _machine(report: HostReport) -> Machine:
    pages = range(len(report.page_sizes))
    views = report.bars
    return Machine(
        path=report.dump.path,
        format=report.dump.format,
        memory_bars=len(views),
        small_bars=sum(view.bar.size_bytes < SMALL_BAR_BYTES for view in views),
        subpage=tuple(sum(view.pages[i].subpage for view in views) for i in pages),
        shared=tuple(sum(view.pages[i].subpage and bool(view.pages[i].shares_page_with) for view in views)
                     for i in pages),
        small_shared=tuple(sum(view.bar.size_bytes < SMALL_BAR_BYTES and bool(view.pages[i].shares_page_with)
                               for view in views) for i in pages),
        mmappable=tuple({name: sum(view.pages[i].subpage and view.pages[i].policies[name].mmappable
                                   for view in views) for name in report.policies} for i in pages),
        leaks=len(report.leaking()),
    )


class _Progress:
    def __init__(self, stream: TextIO, total: int, mode: str) -> None:
        tty = hasattr(stream, "isatty") and stream.isatty()
        self.on = mode == "always" or (mode == "auto" and tty and total >= PROGRESS_MIN_DUMPS)
        self.stream, self.total, self.count, self.last = stream, total, 0, 0.0

    def step(self) -> None:
        self.count += 1
        now = time.monotonic()
        if self.on and (now - self.last > 0.2 or self.count == self.total):
            self.last = now
            width = 30
            filled = width * self.count // max(self.total, 1)
            self.stream.write(f"\rsurvey [{'#' * filled}{'.' * (width - filled)}] {self.count}/{self.total} dumps")
            self.stream.flush()

    def done(self) -> None:
        if self.on:
            self.stream.write("\n")
            self.stream.flush()
