"""The same input gives byte-identical output under any PYTHONHASHSEED; Ctrl-C leaves no half-written file."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from barcheck.cli import main as cli, prove, util as cliutil
from barcheck.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = [
    ["prove", "--policy", "v3-per-bar", "--property", "probe.idempotent", "--page-size", "4K,64K",
     "--format", "json", "--no-timings"],
    ["check", str(ROOT / "examples" / "x86-seabios-hotplug.toml"), "--format", "md"],
    ["host", "--lspci", str(ROOT / "tests/data/hostdumps/qemu/6.1.0-56-amd64/lspci-vvv.txt"), "--format", "json"],
    ["selftest", "--section", "fuzz", "--section", "limits", "--fuzz-inputs", "200", "--no-timings",
     "--format", "json", "--jobs", "1"],
]


def run(argv: list[str], hash_seed: str) -> tuple[int, bytes]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run([sys.executable, "-m", "barcheck", *argv], capture_output=True, env=env, cwd=ROOT,
                          timeout=600)
    return done.returncode, done.stdout


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: a[0])
def test_output_is_byte_identical_under_different_hash_seeds(argv) -> None:
    first = run(argv, "1")
    assert first[1], "no output"
    for seed in ("2", "4242"):
        assert run(argv, seed) == first


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch) -> None:
    """Ctrl-C while the report is written: neither the report nor the temporary file is left."""
    real_replace = os.replace

    def interrupted(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cliutil.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cliutil.write_atomically(tmp_path, "report.json", "{}\n" * 1000)
    monkeypatch.setattr(cliutil.os, "replace", real_replace)
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_in_a_command_exits_130_with_one_line(tmp_path, monkeypatch) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(prove, "run_jobs", interrupted)
    out, err = io.StringIO(), io.StringIO()
    code = main(["prove", "--policy", "linux-4.8", "--page-size", "4K", "--out", str(tmp_path / "out")], out, err)
    assert code == 130 and err.getvalue() == "barcheck: interrupted\n"
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_a_failed_rename_is_a_usage_error(tmp_path) -> None:
    target = tmp_path / "report.json"
    target.mkdir()
    (target / "keep").write_text("x")
    with pytest.raises(cliutil.UsageError, match="report.json"):
        cliutil.write_atomically(tmp_path, "report.json", "{}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_ctrl_c_in_the_host_command_exits_130(monkeypatch) -> None:
    from barcheck.cli import host as cli_host

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli_host, "run_host_command", interrupted)
    err = io.StringIO()
    assert cli_host.main(["host", "--lspci", "x"], io.StringIO(), err) == 130
    assert err.getvalue() == "barcheck: interrupted\n"
