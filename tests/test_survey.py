"""barcheck survey: statistics over many dumps, the plot, and the committed survey of the dev set."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from barcheck.cli.host import main

ROOT = Path(__file__).resolve().parents[1]
DEV_SET = ROOT.parent / "shared" / "data" / "pciconf-dev"
QEMU = ROOT / "tests" / "data" / "hostdumps" / "qemu"
COMMITTED = ROOT / "docs" / "survey-pciconf-dev"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


def test_survey_of_the_qemu_fixtures_counts_what_the_guests_have(tmp_path):
    x86 = tmp_path / "x86"
    shutil.copytree(QEMU / "6.1.0-56-amd64", x86)
    code, out, err = run("survey", str(x86), "--format", "json", "--page-size", "4K,64K")
    doc = json.loads(out)
    assert code == 0, err
    machines = {Path(m["path"]).name: m for m in doc["per_machine"]}
    assert {"lspci-vvv.txt", "sysfs-resource.txt", "dmesg.txt", "iomem-root.txt"} <= set(machines)
    assert machines["lspci-vvv.txt"]["memory_bars"] == machines["sysfs-resource.txt"]["memory_bars"]
    assert any("iomem-user.txt" in s and "zero" in s for s in doc["skipped"])
    assert any("qemu-command.txt" in s for s in doc["skipped"])
    four_k, sixty_four_k = doc["rows"]
    assert four_k["page_size"] == 4096 and sixty_four_k["page_size"] == 65536
    assert sixty_four_k["subpage_bars"] > four_k["subpage_bars"] > 0


def test_survey_writes_identical_plots_and_table(tmp_path):
    for name in ("a", "b"):
        code, out, _ = run("survey", str(QEMU), "--out", str(tmp_path / name), "--format", "csv")
        assert code == 0 and out.startswith("wrote ")
    for name in ("survey.png", "survey.pdf", "survey.csv"):
        first, second = (tmp_path / "a" / name).read_bytes(), (tmp_path / "b" / name).read_bytes()
        assert first == second and len(first) > 100
    assert (tmp_path / "a" / "survey.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "a" / "survey.pdf").read_bytes()[:5] == b"%PDF-"


def test_survey_of_a_missing_directory_is_a_usage_error(tmp_path):
    code, out, err = run("survey", str(tmp_path / "absent"))
    assert code == 2 and out == "" and err.count("\n") == 1 and "no such file" in err


def test_progress_bar_only_when_asked_or_on_a_terminal():
    code, _, err = run("survey", str(QEMU), "--progress", "always")
    assert code == 0 and "survey [" in err and err.endswith("\n")
    _, _, quiet = run("survey", str(QEMU))
    assert "survey [" not in quiet


def test_committed_dev_set_survey_is_what_barcheck_computes_today(monkeypatch):
    if not DEV_SET.is_dir():
        pytest.skip(f"development set {DEV_SET} is not present")
    monkeypatch.chdir(ROOT)
    code, out, _ = run("survey", "../shared/data/pciconf-dev", "--format", "json")
    assert code == 0
    assert json.loads(out) == json.loads((COMMITTED / "survey.json").read_text())
    doc = json.loads(out)
    assert doc["machines"] == 20 and doc["not_isolated"] == 0
    readme = (ROOT / "README.md").read_text()
    table = (COMMITTED / "survey.md").read_text().split("\n- ")[0].strip()
    assert table in readme
