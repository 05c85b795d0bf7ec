"""The ready-to-use integrations in examples/: each is run once, as its users would run it.

- the GitHub Actions workflow: its `run:` steps, in order, in a scratch repository, with
  GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files and `${{ steps.ID.outputs.KEY }}` substituted as the
  runner does (the `uses:` steps, checkout, setup-python and upload-sarif, need GitHub itself);
- the git pre-commit hook, installed in a scratch repository, on real commits;
- the b4 per-patch check command, fed a patch email on stdin as `b4 prep --check` does.

Most barcheck runs are restricted to one quick property (BARCHECK_ARGS) to keep CI short.  The
munmap-release runs use the default selection, which is what the integrations ship with, on two
device slots, a smaller solver budget and one shared --cache, so only the first run solves.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
QUICK_ARGS = "--property isolation.window --page-size 4K --jobs 1"
PATCH = """From: Dev <dev@example.org>
Subject: [PATCH] vfio-pci: allow mmap of sub-page BARs at any offset

Signed-off-by: Dev <dev@example.org>
---
 {path} | 2 +-

diff --git a/{path} b/{path}
--- a/{path}
+++ b/{path}
@@ -1,1 +1,1 @@
-\t\tif (!(res->start & ~PAGE_MASK)) {{
+\t\t{{
"""


def _environment(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BARCHECK")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update({"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
                "GIT_COMMITTER_EMAIL": "t@e", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"})
    env.update(settings)
    return env


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """A scratch kernel-like repository holding the two example policies."""
    if shutil.which("git") is None or shutil.which("barcheck", path=_environment()["PATH"]) is None:
        pytest.skip("needs git and the installed barcheck command")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=_environment())
    (tmp_path / "tools" / "barcheck").mkdir(parents=True)
    for name in ("any_offset.py", "release_dummy_on_reset.py", "munmap_release.py"):
        shutil.copy(EXAMPLES / "policies" / name, tmp_path / "tools" / "barcheck" / name)
    (tmp_path / "tools" / "barcheck" / "refactor.py").write_text(
        "from model.policies.linux import Linux48\n\n\nclass Refactor(Linux48):\n    name = \"refactor\"\n\n"
        "    def may_reserve(self, ops, bar, page_bytes):\n        return super().may_reserve(ops, bar, page_bytes)\n")
    return tmp_path


@pytest.fixture(scope="module")
def munmap_args(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Default selection (no --property, no --mode), cheaper structure and budget, one cache for the module."""
    cache = tmp_path_factory.mktemp("integration-cache") / "cache"
    return f"--page-size 4K --devices 2 --rlimit 40000000 --jobs 2 --cache {cache}"


def _git(tree: Path, *argv: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *argv], cwd=tree, env=env, capture_output=True, text=True)


# --- GitHub Actions -----------------------------------------------------------------------------

def run_workflow(path: Path, workdir: Path, env_overrides: dict[str, str]) -> tuple[list, dict, str]:
    """Run the workflow's run: steps the way the runner does (bash -e -o pipefail, stop at a failure)."""
    job = yaml.safe_load(path.read_text())["jobs"]["barcheck"]
    outputs_file, summary_file = workdir / ".gh-output", workdir / ".gh-summary"
    summary_file.write_text("")
    env = _environment(**{**job["env"], **env_overrides, "GITHUB_OUTPUT": str(outputs_file),
                          "GITHUB_STEP_SUMMARY": str(summary_file)})
    outputs: dict[str, dict[str, str]] = {}
    ran = []
    for step in job["steps"]:
        if "uses" in step or step.get("name") == "Install barcheck":
            ran.append((step.get("name", step.get("uses")), "skipped"))
            continue
        script = re.sub(r"\$\{\{\s*steps\.([\w-]+)\.outputs\.([\w-]+)\s*\}\}",
                        lambda m: outputs.get(m.group(1), {}).get(m.group(2), ""), step["run"])
        outputs_file.write_text("")
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=workdir,
                              env=env, capture_output=True, text=True)
        values = dict(line.split("=", 1) for line in outputs_file.read_text().splitlines() if "=" in line)
        outputs[step.get("id", step["name"])] = values
        ran.append((step["name"], proc.returncode))
        if proc.returncode:
            break
    return ran, outputs, summary_file.read_text()


def test_github_actions_workflow_uploads_sarif_and_gates_on_a_regression(tree: Path) -> None:
    ran, outputs, summary = run_workflow(EXAMPLES / "ci" / "barcheck-github-actions.yml", tree,
                                         {"BARCHECK_POLICY": "tools/barcheck/any_offset.py",
                                          "BARCHECK_ARGS": QUICK_ARGS})
    assert ran == [("actions/checkout@v4", "skipped"), ("actions/setup-python@v5", "skipped"),
                   ("Install barcheck", "skipped"), ("Prove the policy (SARIF)", 0),
                   ("Compare with the base kernel", 0), ("Upload SARIF", "skipped"), ("Gate on regressions", 1)]
    assert outputs["prove"] == {"exit_code": "1"} and outputs["diff"] == {"exit_code": "1"}
    sarif = json.loads((tree / "barcheck-out" / "report.sarif").read_text())
    (result,) = sarif["runs"][0]["results"]
    assert result["ruleId"] == "isolation.window" and result["level"] == "error"
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "tools/barcheck/any_offset.py"
    assert location["region"]["startLine"] == 21
    assert "| `isolation.window` | pair | 4K | proved | counterexample | **regression** |" in summary


# --- git pre-commit hook ------------------------------------------------------------------------

def _install_hook(tree: Path) -> None:
    hooks = tree / ".git" / "hooks"
    for name in ("pre-commit", "barcheck-config.sh"):
        shutil.copy(EXAMPLES / "hooks" / name, hooks / name)


def test_pre_commit_hook_stops_a_regressing_commit_and_lets_others_through(tree: Path) -> None:
    _install_hook(tree)
    env = _environment(BARCHECK_ARGS=QUICK_ARGS)
    (tree / "README").write_text("docs\n")
    _git(tree, "add", "README", env=env)
    done = _git(tree, "commit", "-qm", "docs only", env=env)
    assert done.returncode == 0 and "barcheck" not in done.stderr, done.stderr

    (tree / "drivers" / "vfio" / "pci").mkdir(parents=True)
    (tree / "drivers" / "vfio" / "pci" / "vfio_pci_core.c").write_text("/* any offset */\n")
    _git(tree, "add", "-A", env=env)
    stopped = _git(tree, "commit", "-qm", "vfio-pci: any offset", env={**env,
                   "BARCHECK_POLICY": "tools/barcheck/any_offset.py"})
    assert stopped.returncode == 1, stopped.stderr
    assert "isolation.window  pair  4K    proved  counterexample  regression" in stopped.stderr
    assert "is refuted for tools/barcheck/any_offset.py (staged) (commit stopped)" in stopped.stderr
    assert _git(tree, "log", "--oneline", env=env).stdout.count("\n") == 1

    untested = _git(tree, "commit", "-qm", "vfio-pci: release on reset", env={**env,
                    "BARCHECK_POLICY": "tools/barcheck/release_dummy_on_reset.py",
                    "BARCHECK_ARGS": "--property probe.idempotent --page-size 4K --jobs 1"})
    assert untested.returncode == 1, untested.stderr
    assert "`releases_dummy_at_reset` is overridden but" in untested.stderr
    assert "barcheck failed with exit 2 (commit stopped)" in untested.stderr

    passed = _git(tree, "commit", "-qm", "vfio-pci: refactor", env={**env,
                  "BARCHECK_POLICY": "tools/barcheck/refactor.py", "BARCHECK_ARGS": QUICK_ARGS})
    assert passed.returncode == 0, passed.stderr
    assert "1 checks compared: 1 same (exit 0)" in passed.stderr


def test_pre_commit_hook_without_a_policy_says_so(tree: Path) -> None:
    _install_hook(tree)
    env = _environment()
    (tree / "drivers" / "pci").mkdir(parents=True)
    (tree / "drivers" / "pci" / "setup-res.c").write_text("/* x */\n")
    _git(tree, "add", "-A", env=env)
    stopped = _git(tree, "commit", "-qm", "pci", env=env)
    assert stopped.returncode == 1 and "no policy is set" in stopped.stderr
    assert _git(tree, "log", "--oneline", env=env).stdout == ""


# --- b4 per-patch check -------------------------------------------------------------------------

def _b4_check(tree: Path, patch: str, **settings: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXAMPLES / "b4" / "barcheck-perpatch-check")], input=patch, cwd=tree,
                          env=_environment(**settings), capture_output=True, text=True)


def test_b4_check_prints_an_error_line_for_a_regression(tree: Path) -> None:
    done = _b4_check(tree, PATCH.format(path="drivers/vfio/pci/vfio_pci_core.c"),
                     BARCHECK_POLICY="tools/barcheck/any_offset.py", BARCHECK_ARGS=QUICK_ARGS)
    assert done.returncode == 1, done.stderr
    (line,) = done.stdout.splitlines()
    assert line.startswith("ERROR: barcheck: isolation.window (pair, 4K): proved under linux-4.8, "
                           "counterexample under any-offset: Under any-offset at 4K pages")
    assert done.stderr == ""


def test_b4_check_is_silent_for_other_patches_and_reports_a_broken_setup(tree: Path) -> None:
    quiet = _b4_check(tree, PATCH.format(path="Documentation/driver-api/vfio.rst"),
                      BARCHECK_POLICY="tools/barcheck/any_offset.py")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    broken = _b4_check(tree, PATCH.format(path="drivers/pci/setup-res.c"), BARCHECK_POLICY="missing.py")
    assert broken.returncode == 2
    assert broken.stdout == "ERROR: barcheck: --policy: missing.py: cannot read: No such file or directory\n"


# --- the munmap-release patch through all three, with the default selection ----------------------

MUNMAP = "tools/barcheck/munmap_release.py"


def test_github_actions_workflow_fails_the_munmap_release_patch(tree: Path, munmap_args: str) -> None:
    ran, outputs, summary = run_workflow(EXAMPLES / "ci" / "barcheck-github-actions.yml", tree,
                                         {"BARCHECK_POLICY": MUNMAP, "BARCHECK_ARGS": munmap_args})
    assert ran[-1] == ("Gate on regressions", 1), ran
    assert outputs["diff"] == {"exit_code": "1"}
    assert "| `dummy.held-while-mapped` | trace | 4K | proved | counterexample | **regression** |" in summary


def test_pre_commit_hook_stops_the_munmap_release_patch(tree: Path, munmap_args: str) -> None:
    _install_hook(tree)
    env = _environment(BARCHECK_ARGS=munmap_args, BARCHECK_POLICY=MUNMAP)
    (tree / "drivers" / "vfio" / "pci").mkdir(parents=True)
    (tree / "drivers" / "vfio" / "pci" / "vfio_pci_core.c").write_text("/* release at munmap */\n")
    _git(tree, "add", "-A", env=env)
    stopped = _git(tree, "commit", "-qm", "vfio-pci: release at munmap", env=env)
    assert stopped.returncode == 1, stopped.stderr
    assert re.search(r"dummy\.held-while-mapped +trace +4K +proved +counterexample +regression", stopped.stderr)
    assert _git(tree, "log", "--oneline", env=env).stdout == ""


def test_b4_check_fails_the_munmap_release_patch(tree: Path, munmap_args: str) -> None:
    done = _b4_check(tree, PATCH.format(path="drivers/vfio/pci/vfio_pci_core.c"), BARCHECK_POLICY=MUNMAP,
                     BARCHECK_ARGS=munmap_args)
    assert done.returncode == 1, done.stderr
    assert any(line.startswith("ERROR: barcheck: dummy.held-while-mapped (trace, 4K): proved under linux-4.8, "
                               "counterexample under munmap-release") for line in done.stdout.splitlines())
