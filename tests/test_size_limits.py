"""Size limits on the non-test code: no module over 400 lines, no function over 50."""

from __future__ import annotations

import ast
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
FOLDERS = ("model", "properties", "barcheck", "bench", "scripts")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50


def _sources() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (PROJECT / folder).rglob("*.py"))


def oversized(path: Path, text: str) -> list[str]:
    """Every limit `text` (the source of `path`) breaks, one line each."""
    found = []
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        found.append(f"{path}: {lines} lines (at most {MAX_MODULE_LINES})")
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{path}:{node.lineno}: {node.name} is {length} lines (at most {MAX_FUNCTION_LINES})")
    return found


def test_the_scan_sees_the_code() -> None:
    assert len(_sources()) > 100


def test_the_limits_catch_a_long_module_and_a_long_function() -> None:
    long_function = "def f():\n" + "    x = 1\n" * 60
    assert oversized(Path("f.py"), long_function)[0].endswith("f is 61 lines (at most 50)")
    long_module = "x = 1\n" * 401
    assert oversized(Path("m.py"), long_module) == ["m.py: 401 lines (at most 400)"]


def test_no_module_or_function_is_over_the_limits() -> None:
    found = [line for path in _sources() for line in oversized(path.relative_to(PROJECT), path.read_text())]
    assert found == []
