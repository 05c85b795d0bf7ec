"""Write docs/code-map.md: every module of model/, properties/ and barcheck/ with its docstring's first line.

Usage: python3 scripts/code_map.py [--check]   (--check: exit 1 when the file is not current)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAP = ROOT / "docs" / "code-map.md"
PACKAGES = ("model", "properties", "barcheck")
HEADER = """# The code, one line per module

For a newcomer: every Python module of barcheck, model and properties, with the first line of its
docstring. Layers, bottom up: `model/` (the semantics, written once against `Ops`), `properties/`,
`barcheck/inputs/`, `barcheck/engine/` (the only code that creates or asks a z3 solver, through
`engine/session.py`), `barcheck/run/` (jobs, the cache, user policy files), then the consumers of results (`render/`, `saved/`, `scenario/`, `host/`,
`conform/`, `selftest/`), and `barcheck/cli/` on top. `tests/test_layers.py` checks the layers,
that imports go only downwards, that there are no import cycles and that only the session makes a
solver. Regenerate this file with `python3 scripts/code_map.py` after adding a module.
"""


def first_line(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(), str(path))) or ""
    return doc.strip().split("\n")[0]


def code_map(root: Path = ROOT) -> str:
    lines = [HEADER]
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            line = first_line(path)
            if path.name == "__init__.py" and not line:
                continue
            lines.append(f"- `{path.relative_to(root).as_posix()}`: {line or '(no docstring)'}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = code_map()
    if argv[1:] == ["--check"]:
        return 0 if MAP.is_file() and MAP.read_text() == text else 1
    MAP.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
