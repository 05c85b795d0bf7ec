"""`barcheck survey`: statistics over many machines' dumps.

Each dump is read as one machine and checked as `barcheck host` checks it (the same tree,
probe and isolation check, without the resource_alignment suggestion).  A file that is not a
dump, cannot be read, is not a regular file, is over the size limit, or makes barcheck fail,
is skipped with one line saying why; the survey goes on with the next file.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TextIO

from barcheck.host.report import HostReport, check_host
from barcheck.host.dump import DumpError, detect_text, display_path, load, load_text, read_text
from barcheck.inputs.safe_read import DEFAULT_MAX_INPUT_BYTES
from barcheck.inputs.textsafe import excerpt
from model.policies import Policy

SMALL_BAR_BYTES = 4096
PROGRESS_MIN_DUMPS = 20
MAX_BUG_MESSAGE_CHARS = 200


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


def dump_files(paths: list[str]) -> tuple[list[str], list[str]]:
    """Every file under `paths` (directories searched in sorted order), and the entries not followed, with why."""
    files: list[str] = []
    skipped: list[str] = []
    for path in paths:
        if os.path.isdir(path) and not _is_sysfs_tree(path):
            _walk(path, files, skipped)
        elif os.path.exists(path):
            files.append(path)
        else:
            raise DumpError(display_path(path), None, "no such file or directory")
    return files, skipped


def _walk(top: str, files: list[str], skipped: list[str]) -> None:
    """os.walk() without its recursion (a hostile tree may nest deeper than Python's stack) and
    without following symbolic links to directories (a link may point back up the tree)."""
    pending = [top]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as err:
            skipped.append(f"{display_path(directory)}: cannot list the directory: {err.strerror} (skipped)")
            continue
        subdirectories = []
        for entry in entries:
            if _is_directory(entry, follow_symlinks=False):
                subdirectories.append(entry.path)
            elif entry.name.startswith("."):
                continue
            elif _is_directory(entry, follow_symlinks=True):
                skipped.append(f"{display_path(entry.path)}: a symbolic link to a directory, not followed (skipped)")
            else:
                files.append(entry.path)
        pending += reversed(subdirectories)


def _is_directory(entry: os.DirEntry, follow_symlinks: bool) -> bool:
    try:
        return entry.is_dir(follow_symlinks=follow_symlinks)
    except OSError:
        return False


def _is_sysfs_tree(path: str) -> bool:
    try:
        names = os.listdir(path)
    except OSError:
        return False
    return any(os.path.isfile(os.path.join(path, name, "resource")) for name in names)


def run_survey(paths: list[str], dump_format: str, page_sizes: list[int], policies: list[Policy],
               stderr: TextIO, progress: str = "auto", max_bytes: int = DEFAULT_MAX_INPUT_BYTES) -> Survey:
    """Check every dump; a file that cannot be read, or that barcheck fails on, is skipped and named."""
    files, skipped = dump_files(paths)
    survey = Survey(tuple(page_sizes), tuple(policy.name for policy in policies), skipped=skipped)
    bar = _Progress(stderr, len(files), progress)
    for path in files:
        try:
            survey.machines.append(_survey_one(path, dump_format, page_sizes, policies, max_bytes))
        except DumpError as err:
            survey.skipped.append(f"{err} (skipped)")
        except Exception as err:  # noqa: BLE001  (one file must not end the survey; the reason names the bug)
            survey.skipped.append(_bug_reason(path, err))
        bar.step()
    bar.done()
    return survey


def _survey_one(path: str, dump_format: str, page_sizes: list[int], policies: list[Policy],
                max_bytes: int) -> Machine:
    if os.path.isdir(path):
        dump = load("sysfs" if dump_format == "auto" else dump_format, path, max_bytes)
    else:
        text = read_text(path, max_bytes)
        fmt = detect_text(text, display_path(path)) if dump_format == "auto" else dump_format
        dump = load_text(fmt, text, path)
    if dump.addresses_hidden:
        raise DumpError(dump.path, None, "every address is zero (/proc/iomem read without root)")
    return _machine(check_host(dump, page_sizes, policies, None))


def _bug_reason(path: str, err: BaseException) -> str:
    message = excerpt(str(err), MAX_BUG_MESSAGE_CHARS)
    return (f"{display_path(path)}: barcheck failed on it ({type(err).__name__}: {message}); "
            f"this is a barcheck bug, please report it (skipped)")


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
