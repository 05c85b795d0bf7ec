"""`barcheck selftest`: the trust harness (mutants, solver/enumeration agreement, coverage, fuzzing)."""

from __future__ import annotations

import argparse
from typing import TextIO


def add_command(commands, positive) -> None:
    sub = commands.add_parser("selftest", help="kill the kernel-bug mutants, cross-check the solver against "
                                               "enumeration, and fuzz the input parsers")


def selftest_command(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    raise NotImplementedError
