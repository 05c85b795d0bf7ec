"""A small mutation fuzzer over every input parser and the scenario loader.

Seeds are real inputs shipped with the package (seeds/).  Each fuzz input is a
seed with a few random edits: lines deleted, duplicated, swapped or cut short,
digits and hex letters changed, junk or invalid UTF-8 inserted.  Dump seeds also
get hostile edits: numbers far beyond 64 bits, control characters, overlong lines
and deep indentation.  A parser may accept an input or refuse it with its own
one-line error (DumpError, ScenarioError); any other exception is a crash,
reported with its input.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from barcheck.host.report import check_host
from barcheck.host.dump import PARSERS, DumpError
from barcheck.scenario.file import loads_scenario
from model.pci import ScenarioError
from model.policies import get_policy

SEEDS = Path(__file__).resolve().parent / "seeds"
TARGETS = {"lspci": "lspci-features.txt", "pciconf": "pciconf-mixed.txt", "iomem": "iomem-nested.txt",
           "sysfs": "sysfs-head.txt", "dmesg": "dmesg-old.txt", "scenario": "scenario.toml"}
JUNK = "0123456789abcdefx-:.[]() \t=@/\"'#{},\n"
FAKE_PATH = "fuzz/input.txt"


@dataclass(frozen=True, slots=True)
class Crash:
    target: str
    error: str
    input_text: str


@dataclass(frozen=True, slots=True)
class FuzzResult:
    target: str
    inputs: int
    accepted: int
    refused: int
    crashes: tuple[Crash, ...]


def mutate(rng: random.Random, text: str, hostile: bool = False) -> str:
    edits = EDITS + HOSTILE_EDITS if hostile else EDITS
    for _ in range(rng.randint(1, 4)):
        text = rng.choice(edits)(rng, text)
    return text


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _delete_line(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    del lines[rng.randrange(len(lines))]
    return "\n".join(lines)


def _duplicate_line(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    lines.insert(i, lines[i])
    return "\n".join(lines)


def _swap_lines(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def _truncate(rng: random.Random, text: str) -> str:
    return text[:rng.randrange(len(text) + 1)]


def _change_digit(rng: random.Random, text: str) -> str:
    spots = [i for i, c in enumerate(text) if c in "0123456789abcdefABCDEF"]
    if not spots:
        return text
    i = rng.choice(spots)
    return text[:i] + rng.choice("0123456789abcdefFx") + text[i + 1:]


def _insert_junk(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text) + 1)
    junk = "".join(rng.choice(JUNK) for _ in range(rng.randint(1, 12)))
    return text[:i] + junk + text[i:]


def _insert_bad_bytes(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text) + 1)
    raw = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return text[:i] + raw.decode("utf-8", errors="replace") + text[i:]


HUGE_NUMBERS = ("9" * 5000, "f" * 5000, "18446744073709551616", "10000000000000000", "16777216T", "0" * 300 + "1")
CONTROL = ("\x1b[2J\x1b[H", "\r", "\x00", "\x7f", "\x9b", "\u2028", "\u202e", "\x08\x08\x08")


def _huge_number(rng: random.Random, text: str) -> str:
    runs = [(m.start(), m.end()) for m in re.finditer(r"[0-9a-fA-F]+", text)]
    if not runs:
        return text
    start, end = rng.choice(runs)
    return text[:start] + rng.choice(HUGE_NUMBERS) + text[end:]


def _insert_control(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text) + 1)
    return text[:i] + rng.choice(CONTROL) + text[i:]


def _overlong_line(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text) + 1)
    return text[:i] + rng.choice("f9 x") * 20_000 + text[i:]


def _deep_indent(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    first = rng.randrange(len(lines))
    step = rng.choice((1, 8, 64))
    lines[first:] = ["  " * step * (n + 1) + line for n, line in enumerate(lines[first:])]
    return "\n".join(lines)


EDITS: tuple[Callable[[random.Random, str], str], ...] = (
    _delete_line, _duplicate_line, _swap_lines, _truncate, _change_digit, _insert_junk, _insert_bad_bytes)
HOSTILE_EDITS: tuple[Callable[[random.Random, str], str], ...] = (
    _huge_number, _insert_control, _overlong_line, _deep_indent)
HOSTILE_TARGETS = ("lspci", "pciconf", "iomem", "sysfs", "dmesg")
"""Targets whose parsers refuse every hostile edit cleanly; the scenario loader gets the plain edits only."""

POLICIES = (get_policy("linux-4.8"),)


def _dump_target(fmt: str) -> Callable[[str], bool]:
    def run(text: str) -> bool:
        try:
            dump = PARSERS[fmt](text, FAKE_PATH)
        except DumpError as err:
            if FAKE_PATH not in str(err):
                raise AssertionError(f"the error does not name the file: {err}") from None
            return False
        if dump.bars:
            check_host(dump, [4096], list(POLICIES), hint_policy=None)
        return True
    return run


def _scenario_target(text: str) -> bool:
    try:
        loads_scenario(text, FAKE_PATH)
    except ScenarioError as err:
        if FAKE_PATH not in str(err):
            raise AssertionError(f"the error does not name the file: {err}") from None
        return False
    return True


def fuzz(target: str, inputs: int, seed: int = 0) -> FuzzResult:
    run = _scenario_target if target == "scenario" else _dump_target(target)
    text = (SEEDS / TARGETS[target]).read_text(encoding="utf-8")
    rng = random.Random(f"{seed}:{target}")
    accepted, crashes = 0, []
    for _ in range(inputs):
        sample = mutate(rng, text, hostile=target in HOSTILE_TARGETS)
        try:
            accepted += run(sample)
        except Exception as err:  # noqa: BLE001  (any other exception is the finding)
            crashes.append(Crash(target, f"{type(err).__name__}: {err}", sample))
    refused = inputs - accepted - len(crashes)
    return FuzzResult(target, inputs, accepted, refused, tuple(crashes))
