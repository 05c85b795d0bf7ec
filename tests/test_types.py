"""The type checker over the non-test code: `mypy` with the configuration in pyproject.toml.

Without mypy the test is skipped with the reason, except under CI=true, where the test extra
(`pip install -e '.[test]'`) must have installed it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_finds_no_type_errors():
    if importlib.util.find_spec("mypy") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but mypy is missing: it is in the test extra of pyproject.toml")
        pytest.skip("mypy is not installed (pip install -e '.[test]')")
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental"], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_type_check_covers_the_code():
    config = (ROOT / "pyproject.toml").read_text()
    assert 'files = ["model", "properties", "barcheck"]' in config
