"""The conformance suite on the real kernels: every scenario in conformance/ booted under QEMU.

BARCHECK_CONFORM selects what happens when QEMU or a compiler is missing:
- `auto` (default): install them with apt-get when running as root, else skip;
- `require`: install them as above, and fail instead of skipping;
- `off`: skip the suite.
A kernel that cannot be downloaded also skips (or fails under `require`).
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest

from barcheck.conform.plan import make_plan
from barcheck.conform.render import render_text
from barcheck.conform.run import AGREE, SKIPPED, run_all
from barcheck.conform.setup import install, missing_tools
from barcheck.scenario.file import load_scenario
from model.policies import get_policy

pytestmark = pytest.mark.conform

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "conformance").glob("*.toml"))
MODE = os.environ.get("BARCHECK_CONFORM", "auto")


def _install_if_missing(machines) -> str:
    lacking = [m for m in machines if missing_tools(m)]
    if not lacking:
        return ""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return ""
    log = io.StringIO()
    install(lacking, log)
    return log.getvalue()


@pytest.fixture(scope="module")
def kernel_runs():
    if MODE == "off":
        pytest.skip("BARCHECK_CONFORM=off")
    plans = [make_plan(load_scenario(path)) for path in SCENARIOS]
    machines = list({p.machine.arch: p.machine for p in plans}.values())
    setup_log = _install_if_missing(machines)
    results = run_all([(p, get_policy(p.spec.policy)) for p in plans], jobs=2, timeout_s=None,
                      progress=lambda r: None)
    return {r.plan.spec.path: r for r in results}, setup_log


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_the_kernel_agrees_with_the_model(kernel_runs, scenario):
    runs, setup_log = kernel_runs
    result = runs[str(scenario)]
    if result.verdict == SKIPPED:
        message = f"conformance skipped: {result.reason}" + (f" [{setup_log.strip()}]" if setup_log else "")
        if MODE == "require":
            pytest.fail(message)
        pytest.skip(message)
    assert result.verdict == AGREE, render_text([result], {})
