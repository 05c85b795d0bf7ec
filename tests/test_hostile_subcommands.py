"""Every `barcheck` subcommand given a hostile input of each class the outside fuzzer found (issue 25).

Classes: an integer over Python's 4,300-digit limit, a size of 2^64 or more, deep nesting, control
characters (in a file name, a policy, scenario or resource name), a special file (a FIFO, /dev/zero,
a directory) where a file is expected, a missing file, and a file that is not UTF-8.

An ERROR case must end with exit 2 and exactly one `barcheck: error:` line on stderr that names
the file or flag; a SKIP case (a survey) with exit 3 and one `barcheck: skipped` line.  In both,
no control character from the input reaches stdout or stderr, there is never a traceback or exit
70, and no file appears anywhere under the test's directory (its --out directory included).  A few
inputs are valid despite the hostile part (/proc/iomem nested 3,000 deep, an escape sequence in a
resource name, lspci text in Latin-1): a VERDICT case asks for a verdict with escaped output.

Cases run in-process through barcheck.cli.main.main, with the solver, the scenario runner, the
self-test and QEMU replaced by a tripwire, so that an input wrongly accepted fails at once instead
of starting work.  FIFOs and /dev/zero run in a subprocess (`python -m barcheck`, which goes
through barcheck.cli.entry) with a timeout and a memory limit: there a regression hangs or eats memory.
"""

from __future__ import annotations

import io
import json
import os
import re
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

import barcheck.cli.main
import barcheck.cli.prove
import barcheck.conform.run
import barcheck.selftest.run

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = (ROOT / "examples" / "x86-seabios-hotplug.toml").read_text()
CEX = json.loads((ROOT / "tests" / "data" / "saved-cex" / "mmap.subpage-available.pair.linux-4.8.4K.json").read_text())

HUGE = "9" * 5000
"""Past sys.get_int_max_str_digits() (4,300 by default)."""
TWO_64 = str(2**64)
TWO_64_SIZE = "16777216T"
CONTROL = "evil\x1b[2J\x1b[H\r\nNOT ISOLATED"
CONTROL_SHOWN = "evil\\x1b[2J\\x1b[H"
"""How the start of CONTROL reads once escaped (by textsafe or repr(), which differ on \\r and \\n)."""
CONTROL_IN_PATH = "evil\x1b[2J\x1b[H\rNOT ISOLATED"
"""A newline in a --policy value makes it a policy name, not a path (userpolicy.split_spec)."""
UNSAFE_CHAR = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
NOT_UTF8 = "Gerät: données \xe9\xe8\n".encode("latin-1") + b"\xff\xfe\x80 junk\n"
ERROR, SKIP, VERDICT = "error", "skip", "verdict"
TIMEOUT_SECONDS = 60
MEMORY_LIMIT_BYTES = 3 << 30
NARROW = ["--property", "isolation.window", "--page-size", "4K", "--jobs", "1", "--progress", "none"]
"""If a hostile flag got through, the tripwire would stop this one check before it is solved."""
SELFTEST = ["--section", "limits", "--jobs", "1"]


class Tripwire(Exception):
    """A hostile input was accepted and real work started."""


# --- inputs -------------------------------------------------------------------------------------------------------

def write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape"))
    return path


def special(path: Path, kind: str) -> Path:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "devzero":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()
    return path


def scenario_text(variant: str) -> str:
    first_size = 'size = "256"'
    return {
        "huge-string": SCENARIO.replace(first_size, f'size = "{HUGE}"', 1),
        "huge-toml": SCENARIO.replace(first_size, f"size = {HUGE}", 1),
        "huge-hex": SCENARIO.replace('"0xfe000000"', f'"0x{"f" * 5000}"', 1),
        "2^64": SCENARIO.replace(first_size, 'size = "0x10000000000000000"', 1),
        "2^64-toml": SCENARIO.replace(first_size, f"size = {TWO_64}", 1),
        "deep-arrays": SCENARIO + "\nx = " + "[" * 5000 + "]" * 5000 + "\n",
        "deep-tables": SCENARIO + "\nx = " + "{a=" * 500 + "1" + "}" * 500 + "\n",
        "control-name": SCENARIO.replace('name = "x86-seabios-hotplug"',
                                         'name = "evil\\u001b[2J\\u001b[H\\r\\nNOT ISOLATED"'),
        "control-policy": SCENARIO.replace('policy = "linux-4.8"', 'policy = "linux-4.8\\u001b[2J\\r"'),
    }[variant]


def witness_text(variant: str) -> str:
    doc = json.loads(json.dumps(CEX))
    replay = doc["result"]["replay"]
    marker = "\0splice\0"
    splice = ""
    if variant == "huge-int":
        replay["shape"]["width"], splice = marker, HUGE
    elif variant == "huge-hex":
        replay["scenario"]["bar_start"] = "0x" + "f" * 5000
    elif variant == "2^64":
        replay["scenario"]["bar_size"] = "0x10000000000000000"
    elif variant == "deep":
        replay["scenario"], splice = marker, "[" * 50_000 + "]" * 50_000
    elif variant == "deep-loadable":
        replay["scenario"], splice = marker, "[" * 500 + "]" * 500
    elif variant == "control-policy":
        doc["result"]["policy"] = replay["policy"] = f"linux-4.8{CONTROL}"
    else:
        raise ValueError(variant)
    return json.dumps(doc, indent=1).replace(json.dumps(marker), splice)


def report_text(variant: str) -> str:
    base = {"schema": "barcheck.result/1", "meta": {"seed": 0}, "results": []}
    text = json.dumps(base)
    return {
        "huge-int": text.replace('"seed": 0', f'"seed": {HUGE}'),
        "deep": text.replace('"results": []', '"results": ' + "[" * 50_000 + "]" * 50_000),
        "deep-loadable": text.replace('"results": []', '"results": ' + "[" * 500 + "]" * 500),
        "not-json": "this is not JSON\n",
    }[variant]


POLICY_2_64 = '''\
from model.policies.base import PciCore
from model.policies.linux import Linux48


class Huge(Linux48):
    """huge: a resource_alignment= of 2^64 bytes."""
    name = "huge"
    pci_core = PciCore(parameter_bytes=1 << 64)
'''


def policy_text(variant: str) -> str:
    return {
        "huge-int": f"x = {HUGE}\n",
        "2^64": POLICY_2_64,
        "deep": "x = " + "-" * 200_000 + "1\n",
        "deep-parentheses": "x = " + "(" * 5000 + ")" * 5000 + "\n",
        "syntax-error": "x = (\n",
    }[variant]


LSPCI_HEAD = "00:02.0 VGA compatible controller: Device 1234:1111 (rev 02)\n"


def dump_text(variant: str) -> tuple[str, str]:
    """(format, text) of a hostile machine dump."""
    return {
        "lspci-huge": ("lspci", LSPCI_HEAD + "\tRegion 0: Memory at fe000000 (32-bit, non-prefetchable) "
                                             f"[size={HUGE}]\n"),
        "pciconf-huge": ("pciconf", "vgapci0@pci0:0:2:0:\tclass=0x030000 rev=0x02 hdr=0x00 vendor=0x1234 "
                                    "device=0x1111\n"
                                    f"    bar   [10] = type Memory, range 32, base 0xfe000000, size {HUGE}, enabled\n"),
        "iomem-huge": ("iomem", f"00000000-{'f' * 5000} : PCI Bus 0000:00\n"),
        "lspci-2^64": ("lspci", LSPCI_HEAD + "\tRegion 0: Memory at fe000000 (64-bit, prefetchable) "
                                             f"[size={TWO_64_SIZE}]\n"),
        "dmesg-2^64": ("dmesg", "pci 0000:00:02.0: BAR 0 [mem 0x0-0xffffffffffffffff 64bit]\n"),
        "iomem-2^64": ("iomem", "00000000-10000000000000000 : PCI Bus 0000:00\n"),
        "iomem-deep": ("iomem", deep_iomem(3000)),
        "iomem-control-name": ("iomem", "00000000-ffffffff : PCI Bus 0000:00\n  fe000000-fe0007ff : 0000:00:02.0\n"
                                        f"  fe000800-fe000fff : {CONTROL}\n"),
        "iomem-control-line": ("iomem", f"00000000-ffffffff : PCI Bus 0000:00\n  fe000000-zzzz : {CONTROL}\n"),
    }[variant]


def deep_iomem(depth: int) -> str:
    lines = [f"{'  ' * level}{level:08x}-{0xFFFFFFFF - level:08x} : PCI Bus 0000:{level % 256:02x}"
             for level in range(depth)]
    return "\n".join(lines + [f"{'  ' * depth}{depth:08x}-{depth + 0x7FF:08x} : 0000:00:02.0"]) + "\n"


# --- cases --------------------------------------------------------------------------------------------------------

Build = Callable[[Path], list]


@dataclass(frozen=True)
class Case:
    command: str
    cls: str
    what: str
    build: Build
    """Writes the inputs under the test's directory and returns the argv."""
    needle: str = ""
    """Must appear in the error line: the file or flag it is about."""
    expect: str = ERROR
    verdict_codes: tuple[int, ...] = ()
    spawn: bool = False

    @property
    def id(self) -> str:
        return f"{self.command}:{self.cls}:{self.what}"


CASES: list[Case] = []


def case(command: str, cls: str, what: str, build: Build, needle: str = "", **kw) -> None:
    CASES.append(Case(command, cls, what, build, needle, **kw))


def out_dir(tmp: Path) -> str:
    return str(tmp / "out")


# Flags: prove, matrix and diff share the selection options; diff needs two policies to get past its first check.
SELECTION_HEAD = {"prove": ["prove"], "matrix": ["matrix", "--format", "md"],
                  "diff": ["diff", "--policy", "linux-4.8", "--policy", "linux-4.7"]}
INT_FLAGS = ("--seed", "--rlimit", "--depth", "--devices", "--jobs")
for command, head in SELECTION_HEAD.items():
    for flag in INT_FLAGS + ("--max-bar-size", "--page-size"):
        case(command, "huge-int", flag, lambda t, h=head, f=flag: [*h, *NARROW, f, HUGE, "--out", out_dir(t)], flag)
    for flag in ("--seed", "--rlimit", "--depth", "--devices", "--max-bar-size"):
        case(command, "size-2^64", flag, lambda t, h=head, f=flag: [*h, *NARROW, f, TWO_64, "--out", out_dir(t)], flag)
    case(command, "size-2^64", "--page-size",
         lambda t, h=head: [*h, *NARROW, "--page-size", TWO_64_SIZE, "--out", out_dir(t)], "--page-size")
    policies = ["diff", "--policy", "linux-4.8"] if command == "diff" else head
    case(command, "control", "--policy-name",
         lambda t, h=policies: [*h, *NARROW, "--policy", f"linux-4.8{CONTROL}", "--out", out_dir(t)],
         f"linux-4.8{CONTROL_SHOWN}")
    case(command, "control", "unknown-option", lambda t, h=head: [*h, f"--{CONTROL}"], f"--{CONTROL_SHOWN}")
    case(command, "control", "--events", lambda t, h=head: [*h, *NARROW, "--events", CONTROL], "--events")
    case(command, "control", "--out-under-a-file",
         lambda t, h=head: [*h, *NARROW, "--out", str(write(t / "file", "x") / CONTROL)], CONTROL_SHOWN)


# Policy files: prove --policy FILE and diff --policy A --policy FILE.
def policy_argv(command: str, path: Path, tmp: Path) -> list[str]:
    if command == "diff":
        return ["diff", "--policy", "linux-4.8", "--policy", str(path), *NARROW, "--out", out_dir(tmp)]
    return ["prove", "--policy", str(path), *NARROW, "--out", out_dir(tmp)]


def file_cases(command: str, what: str, ext: str, argv, control_file) -> None:
    """The cases every input file shares: a control character in its name, a directory, a FIFO,
    /dev/zero, a missing file and bytes that are not UTF-8."""
    case(command, "control", f"{what}-name" if what != "witness" else "witness-file-name",
         lambda t: argv(t, control_file(t)), CONTROL_SHOWN)
    case(command, "special", f"{what}-dir", lambda t: argv(t, special(t / f"d{ext}", "dir")), f"d{ext}")
    for kind in ("fifo", "devzero"):
        case(command, "special", f"{what}-{kind}", lambda t, k=kind: argv(t, special(t / f"s{ext}", k)), f"s{ext}",
             spawn=True)
    case(command, "missing", what, lambda t: argv(t, t / f"missing{ext}"), f"missing{ext}")
    case(command, "not-utf8", what, lambda t: argv(t, write(t / f"l1{ext}", NOT_UTF8)), f"l1{ext}")


for command in ("prove", "diff"):
    for cls, variant in (("huge-int", "huge-int"), ("size-2^64", "2^64"), ("deep", "deep"),
                         ("deep", "deep-parentheses")):
        case(command, cls, f"policy-file-{variant}",
             lambda t, c=command, v=variant: policy_argv(c, write(t / "policy.py", policy_text(v)), t), "policy.py")
    file_cases(command, "policy-file", ".py", lambda t, path, c=command: policy_argv(c, path, t),
               lambda t: write(t / f"{CONTROL_IN_PATH}.py", policy_text("syntax-error")))


# Saved documents: matrix --from and reports --from.
def from_argv(command: str, path: Path, tmp: Path) -> list[str]:
    if command == "matrix":
        return ["matrix", "--from", str(path), "--out", out_dir(tmp)]
    return ["reports", "--from", str(path), "--out", out_dir(tmp)]


for command in ("matrix", "reports"):
    for cls, variant in (("huge-int", "huge-int"), ("deep", "deep"), ("deep", "deep-loadable")):
        case(command, cls, f"--from-{variant}",
             lambda t, c=command, v=variant: from_argv(c, write(t / "report.json", report_text(v)), t), "report.json")
    case(command, "control", "--from-name",
         lambda t, c=command: from_argv(c, write(t / f"{CONTROL}.json", report_text("not-json")), t),
         CONTROL_SHOWN)
    case(command, "special", "--from-dir", lambda t, c=command: from_argv(c, special(t / "d.json", "dir"), t), "d.json")
    for kind in ("fifo", "devzero"):
        case(command, "special", f"--from-{kind}",
             lambda t, c=command, k=kind: from_argv(c, special(t / "s.json", k), t), "s.json", spawn=True)
    case(command, "missing", "--from", lambda t, c=command: from_argv(c, t / "missing.json", t), "missing.json")
    case(command, "not-utf8", "--from", lambda t, c=command: from_argv(c, write(t / "l1.json", NOT_UTF8), t),
         "l1.json")
case("reports", "control", "--out-under-a-file",
     lambda t: ["reports", "--from", str(write(t / "r.json", report_text("deep"))), "--out",
                str(write(t / "file", "x") / CONTROL)], CONTROL_SHOWN)


# Scenario files: check and conform.
def scenario_argv(command: str, path: Path, tmp: Path) -> list[str]:
    return [command, str(path), "--out", out_dir(tmp)]


SCENARIO_VARIANTS = (("huge-int", "huge-string"), ("huge-int", "huge-toml"), ("huge-int", "huge-hex"),
                     ("size-2^64", "2^64"), ("size-2^64", "2^64-toml"), ("deep", "deep-arrays"),
                     ("deep", "deep-tables"), ("control", "control-name"), ("control", "control-policy"))
for command in ("check", "conform"):
    for cls, variant in SCENARIO_VARIANTS:
        case(command, cls, f"scenario-{variant}",
             lambda t, c=command, v=variant: scenario_argv(c, write(t / "scen.toml", scenario_text(v)), t),
             "scen.toml")
    case(command, "control", "scenario-file-name",
         lambda t, c=command: scenario_argv(c, write(t / f"{CONTROL}.toml", scenario_text("2^64")), t),
         CONTROL_SHOWN)
    case(command, "special", "scenario-dir", lambda t, c=command: scenario_argv(c, special(t / "d.toml", "dir"), t),
         "d.toml")
    for kind in ("fifo", "devzero"):
        case(command, "special", f"scenario-{kind}",
             lambda t, c=command, k=kind: scenario_argv(c, special(t / "s.toml", k), t), "s.toml", spawn=True)
    case(command, "missing", "scenario", lambda t, c=command: scenario_argv(c, t / "missing.toml", t), "missing.toml")
    case(command, "not-utf8", "scenario",
         lambda t, c=command: scenario_argv(c, write(t / "l1.toml", NOT_UTF8 + SCENARIO.encode()), t), "l1.toml")
for flag in ("--seed", "--rlimit"):
    for cls, value in (("huge-int", HUGE), ("size-2^64", TWO_64)):
        case("check", cls, flag, lambda t, f=flag, v=value: ["check", str(write(t / "s.toml", SCENARIO)), f, v], flag)
for flag in ("--jobs", "--timeout"):
    case("conform", "huge-int", flag, lambda t, f=flag: ["conform", str(write(t / "s.toml", SCENARIO)), f, HUGE], flag)


# Saved counterexamples: replay, explain and export-test.
def saved_argv(command: str, path: Path, tmp: Path) -> list[str]:
    return [command, str(path)] + (["--out", out_dir(tmp)] if command == "export-test" else [])


WITNESS_VARIANTS = (("huge-int", "huge-int"), ("huge-int", "huge-hex"), ("size-2^64", "2^64"), ("deep", "deep"),
                    ("deep", "deep-loadable"), ("control", "control-policy"))
for command in ("replay", "explain", "export-test"):
    for cls, variant in WITNESS_VARIANTS:
        case(command, cls, f"witness-{variant}",
             lambda t, c=command, v=variant: saved_argv(c, write(t / "cex.json", witness_text(v)), t), "cex.json")
    file_cases(command, "witness", ".json", lambda t, path, c=command: saved_argv(c, path, t),
               lambda t: write(t / f"{CONTROL}.json", witness_text("2^64")))
    case(command, "special", "--policy-file-fifo",
         lambda t, c=command: [*saved_argv(c, write(t / "cex.json", json.dumps(CEX)), t), "--policy-file",
                               str(special(t / "p.py", "fifo"))], "p.py", spawn=True)


# new-policy writes NAME.py into the current directory (the test's directory).
case("new-policy", "huge-int", "name", lambda t: ["new-policy", HUGE], "new-policy")
case("new-policy", "control", "name", lambda t: ["new-policy", CONTROL], CONTROL_SHOWN)
case("new-policy", "control", "--base", lambda t: ["new-policy", "x", "--base", CONTROL], CONTROL_SHOWN)
def new_policy_over(kind: str, *flags: str) -> Build:
    def build(tmp: Path) -> list[str]:
        special(tmp / "x.py", kind)
        return ["new-policy", "x", *flags]
    return build


case("new-policy", "special", "target-dir", new_policy_over("dir", "--force"), "x.py")
for kind in ("fifo", "devzero"):
    case("new-policy", "special", f"target-{kind}", new_policy_over(kind), "x.py", spawn=True)
case("new-policy", "missing", "name", lambda t: ["new-policy"], "NAME")
case("new-policy", "not-utf8", "name", lambda t: ["new-policy", os.fsdecode(b"\xff\xfe")], "new-policy")


# selftest: flags and --out.
for flag in ("--seed", "--fuzz-inputs", "--jobs"):
    case("selftest", "huge-int", flag, lambda t, f=flag: ["selftest", *SELFTEST, f, HUGE, "--out", out_dir(t)], flag)
case("selftest", "size-2^64", "--seed", lambda t: ["selftest", *SELFTEST, "--seed", TWO_64, "--out", out_dir(t)],
     "--seed")
case("selftest", "control", "--mutant", lambda t: ["selftest", "--mutant", CONTROL, "--out", out_dir(t)],
     CONTROL_SHOWN)
case("selftest", "control", "--out-under-a-file",
     lambda t: ["selftest", *SELFTEST, "--out", str(write(t / "file", "x") / CONTROL)], CONTROL_SHOWN)
case("selftest", "special", "--out-is-a-file", lambda t: ["selftest", *SELFTEST, "--out", str(write(t / "f", "x"))],
     "not a directory")
for kind in ("fifo", "devzero"):
    case("selftest", "special", f"--out-is-{kind}",
         lambda t, k=kind: ["selftest", *SELFTEST, "--out", str(special(t / "o", k))], "not a directory", spawn=True)
case("selftest", "not-utf8", "--mutant", lambda t: ["selftest", "--mutant", os.fsdecode(b"\xff\xfe")], "--mutant")


# list takes nothing: a stray argument.
case("list", "huge-int", "stray-argument", lambda t: ["list", HUGE], "unrecognized arguments")
case("list", "control", "stray-argument", lambda t: ["list", CONTROL], CONTROL_SHOWN)


# host: dumps and flags.
def host_argv(fmt: str, path: Path, tmp: Path) -> list[str]:
    return ["host", f"--{fmt}", str(path), "--page-size", "4K", "--out", out_dir(tmp)]


def host_dump(variant: str) -> Build:
    def build(tmp: Path) -> list[str]:
        fmt, text = dump_text(variant)
        return host_argv(fmt, write(tmp / "dump.txt", text), tmp)
    return build


for cls, variant in (("huge-int", "lspci-huge"), ("huge-int", "pciconf-huge"), ("huge-int", "iomem-huge"),
                     ("size-2^64", "lspci-2^64"), ("size-2^64", "dmesg-2^64"), ("size-2^64", "iomem-2^64")):
    case("host", cls, variant, host_dump(variant), "dump.txt")
for cls, flag, value in (("huge-int", "--max-input-bytes", HUGE), ("huge-int", "--page-size", HUGE),
                         ("size-2^64", "--max-input-bytes", TWO_64_SIZE), ("size-2^64", "--page-size", TWO_64_SIZE)):
    case("host", cls, flag, lambda t, f=flag, v=value: ["host", "--iomem", str(write(t / "i.txt", "")), f, v], flag)
case("host", "deep", "iomem-3000-levels",
     lambda t: ["host", "--iomem", str(write(t / "dump.txt", deep_iomem(3000))), "--page-size", "4K"],
     expect=VERDICT, verdict_codes=(0, 1))
case("host", "control", "iomem-resource-name",
     lambda t: ["host", "--iomem", str(write(t / "dump.txt", dump_text("iomem-control-name")[1])), "--page-size",
                "4K"], expect=VERDICT, verdict_codes=(0, 1))
case("host", "control", "iomem-unparsed-line",
     lambda t: ["host", "--iomem", str(write(t / "dump.txt", dump_text("iomem-control-line")[1])), "--page-size",
                "4K"], expect=VERDICT, verdict_codes=(3,))
case("host", "control", "file-name", lambda t: host_argv("lspci", write(t / f"{CONTROL}.txt", "junk\n"), t),
     CONTROL_SHOWN)
case("host", "special", "dir", lambda t: host_argv("lspci", special(t / "d.txt", "dir"), t), "d.txt")
for kind, fmt in (("fifo", "iomem"), ("devzero", "lspci")):
    case("host", "special", kind, lambda t, k=kind, f=fmt: host_argv(f, special(t / "s.txt", k), t), "s.txt",
         spawn=True)
case("host", "missing", "lspci", lambda t: host_argv("lspci", t / "missing.txt", t), "missing.txt")
case("host", "not-utf8", "iomem", lambda t: host_argv("iomem", write(t / "l1.txt", NOT_UTF8), t), "l1.txt")
case("host", "not-utf8", "lspci-text-in-latin-1",
     lambda t: ["host", "--lspci", str(write(t / "l1.txt", LSPCI_HEAD.encode() + NOT_UTF8))],
     expect=VERDICT, verdict_codes=(3,))


# survey: a hostile file in the directory is skipped and named; flags are usage errors.
def survey_argv(tmp: Path) -> list[str]:
    return ["survey", str(tmp / "dumps"), "--progress", "never", "--page-size", "4K"]


def survey_with(name: str, make: Callable[[Path], Path]) -> Build:
    def build(tmp: Path) -> list[str]:
        (tmp / "dumps").mkdir()
        make(tmp / "dumps" / name)
        return survey_argv(tmp)
    return build


def dump_file(variant: str) -> Callable[[Path], Path]:
    return lambda path: write(path, dump_text(variant)[1])


for cls, variant in (("huge-int", "lspci-huge"), ("huge-int", "iomem-huge"), ("size-2^64", "lspci-2^64"),
                     ("size-2^64", "dmesg-2^64")):
    case("survey", cls, variant, survey_with("dump.txt", dump_file(variant)), "dump.txt", expect=SKIP)
case("survey", "control", "file-name", survey_with(f"{CONTROL}.txt", lambda p: write(p, f"{CONTROL}\n")),
     CONTROL_SHOWN, expect=SKIP)
case("survey", "not-utf8", "dump", survey_with("l1.txt", lambda p: write(p, NOT_UTF8)), "l1.txt", expect=SKIP)
for kind in ("fifo", "devzero"):
    case("survey", "special", kind, survey_with("s.txt", lambda p, k=kind: special(p, k)), "s.txt", expect=SKIP,
         spawn=True)
case("survey", "deep", "iomem-3000-levels", survey_with("iomem.txt", dump_file("iomem-deep")), expect=VERDICT,
     verdict_codes=(0, 1))
case("survey", "control", "iomem-resource-name", survey_with("iomem.txt", dump_file("iomem-control-name")),
     expect=VERDICT, verdict_codes=(0, 1))
case("survey", "missing", "path", lambda t: ["survey", str(t / "missing"), "--out", out_dir(t)], "missing")
for cls, flag, value in (("huge-int", "--max-input-bytes", HUGE), ("huge-int", "--page-size", HUGE),
                         ("size-2^64", "--max-input-bytes", TWO_64_SIZE), ("size-2^64", "--page-size", TWO_64_SIZE)):
    case("survey", cls, flag, lambda t, f=flag, v=value: ["survey", str(t), f, v, "--out", out_dir(t)], flag)


# --- running ------------------------------------------------------------------------------------------------------

def in_process(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = barcheck.cli.main.main(argv, out, err)
    return code, out.getvalue(), err.getvalue()


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))


def spawned(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("BARCHECK_DEBUG", None)
    try:
        done = subprocess.run([sys.executable, "-m", "barcheck", *argv], capture_output=True, timeout=TIMEOUT_SECONDS,
                              env=env, cwd=cwd, preexec_fn=_limit_memory)
    except subprocess.TimeoutExpired:
        pytest.fail(f"barcheck {argv[0]} still running after {TIMEOUT_SECONDS} s")
    decode = lambda data: data.decode("utf-8", errors="backslashreplace")  # noqa: E731
    return done.returncode, decode(done.stdout), decode(done.stderr)


@pytest.fixture
def tripwires(monkeypatch):
    def trip(what: str):
        def tripped(*args, **kwargs):
            raise Tripwire(f"a hostile input reached {what}")
        return tripped
    monkeypatch.setattr(barcheck.cli.prove, "run_jobs", trip("the solver"))
    monkeypatch.setattr(barcheck.cli.main, "check_scenario", trip("the scenario runner"))
    monkeypatch.setattr(barcheck.selftest.run, "run", trip("the self-test"))
    monkeypatch.setattr(barcheck.conform.run, "run_all", trip("QEMU"))


def files_under(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


def assert_clean_stream(text: str, name: str) -> None:
    assert "Traceback" not in text, f"{name}: {text[-2000:]}"
    assert not UNSAFE_CHAR.search(text.replace("\n", "")), f"{name} has a raw control character: {text[:600]!r}"


@pytest.mark.parametrize("hostile", CASES, ids=[c.id for c in CASES])
def test_hostile_input_gets_one_clean_line(hostile: Case, tmp_path, monkeypatch, tripwires):
    monkeypatch.chdir(tmp_path)
    argv = hostile.build(tmp_path)
    before = files_under(tmp_path)
    code, out, err = spawned(argv, tmp_path) if hostile.spawn else in_process(argv)
    assert code != 70, err[-2000:]
    assert_clean_stream(err, "stderr")
    assert_clean_stream(out, "stdout")
    if hostile.expect == VERDICT:
        assert code in hostile.verdict_codes and err == "", (code, err[:600])
        return
    prefix = "barcheck: skipped " if hostile.expect == SKIP else "barcheck: error: "
    assert code == (3 if hostile.expect == SKIP else 2), (code, err[:600])
    assert err.startswith(prefix) and err.endswith("\n") and err.count("\n") == 1, err[:2000]
    assert hostile.needle in err, (hostile.needle, err[:600])
    if hostile.expect == ERROR:
        assert out == "", out[:600]
        assert files_under(tmp_path) == before, "the failed run left files behind"


def test_every_subcommand_and_class_is_covered():
    commands = set(barcheck.cli.main.build_parser()._subparsers._group_actions[0].choices)
    assert {c.command for c in CASES} == commands
    for command in commands:
        classes = {c.cls for c in CASES if c.command == command}
        assert {"huge-int", "control"} <= classes, (command, classes)
