"""Dependency and style rules of the source tree, enforced by walking the AST.

* `model/` is the system under study: it never imports the properties or the checker.
* `properties/` states what must hold: it never imports the checker or z3.
* z3 is imported only by `model/ops_z3.py` and `barcheck/engine/`.
* Policies, ranges, the resource tree, PCI rules, scenarios and properties are written
  against the ops layer.  Python's `<`, `>`, `<=`, `>=`, `>>`, `/`, `//`, `%` are signed
  (or meaningless) on Z3 bit-vectors, so those modules must use `ops.ult`, `ops.lshr`, ...
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("model", "properties", "barcheck")


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def sources(*patterns: str) -> list[Path]:
    found = sorted({path for pattern in patterns for path in ROOT.glob(pattern)})
    assert found, f"no source files match {patterns}: the test would check nothing"
    return found


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


# ----------------------------------------------------------------------------- imports


def imported_modules(source: str, module: str = "", is_package: bool = False) -> set[str]:
    """Absolute names of every module `source` imports (relative imports resolved against `module`),
    including `importlib.import_module("x")` and `__import__("x")` with a literal name."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__"):
                found.add(node.args[0].value)
    return found


def imports_of(path: Path) -> set[str]:
    return imported_modules(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")


def touches(modules: set[str], top: str) -> list[str]:
    return sorted(m for m in modules if m == top or m.startswith(top + "."))


def import_violations(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in paths:
        modules = imports_of(path)
        for top in forbidden:
            bad += [f"{rel(path)} imports {m}" for m in touches(modules, top)]
    return bad


def test_model_imports_neither_properties_nor_checker():
    assert import_violations(sources("model/**/*.py"), ("properties", "barcheck")) == []


def test_properties_import_neither_checker_nor_z3():
    assert import_violations(sources("properties/**/*.py"), ("barcheck", "z3")) == []


def test_z3_is_imported_only_by_ops_z3_and_the_smt_layer():
    allowed = {"model/ops_z3.py"} | {rel(p) for p in sources("barcheck/engine/**/*.py")}
    importers = {rel(p) for pkg in PACKAGES for p in sources(f"{pkg}/**/*.py") if touches(imports_of(p), "z3")}
    assert importers <= allowed, f"z3 imported outside the allowed files: {sorted(importers - allowed)}"
    assert "model/ops_z3.py" in importers, "sanity: the import scan must see ops_z3's own z3 import"


def test_import_scanner_sees_every_import_form():
    source = (
        "import z3\n"
        "import barcheck.cli.main as cli\n"
        "from properties import REGISTRY\n"
        "from . import sibling\n"
        "from ..ops import ConcreteOps\n"
        "import importlib\n"
        "importlib.import_module('barcheck.engine')\n"
        "__import__('networkx')\n"
        "def f():\n"
        "    import json\n"
    )
    found = imported_modules(source, "model.policies.linux")
    assert {"z3", "barcheck.cli.main", "properties", "properties.REGISTRY", "model.policies",
            "model.policies.sibling", "model.ops", "model.ops.ConcreteOps", "importlib", "barcheck.engine",
            "networkx", "json"} <= found
    assert touches(found, "barcheck") == ["barcheck.cli.main", "barcheck.engine"]
    assert touches(found, "bar") == []
    assert import_violations([], ("z3",)) == []


def test_relative_import_in_a_package_init_resolves_to_the_package():
    assert imported_modules("from .base import Policy\n", "model.policies", is_package=True) >= {
        "model.policies.base"}


# ----------------------------------------------------------------------------- the ops-layer lint

BANNED_COMPARE = {ast.Lt: "<", ast.Gt: ">", ast.LtE: "<=", ast.GtE: ">="}
BANNED_BINOP = {ast.RShift: ">>", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%"}

OPS_LAYER_FILES = ("model/policies/*.py", "model/ranges.py", "model/resource_tree.py", "model/pci.py",
                   "model/scenario.py", "properties/*.py")


def raw_operator_uses(source: str) -> list[tuple[int, str, str]]:
    """(line, enclosing function or class qualname or "<module>", operator) for each banned operator."""
    found: list[tuple[int, str, str]] = []

    def visit(node: ast.AST, scope: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            scope = node.name if scope == "<module>" else f"{scope}.{node.name}"
        if isinstance(node, ast.Compare):
            found.extend((node.lineno, scope, BANNED_COMPARE[type(op)]) for op in node.ops
                         if type(op) in BANNED_COMPARE)
        elif isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in BANNED_BINOP:
            found.append((node.lineno, scope, BANNED_BINOP[type(node.op)]))
        for child in ast.iter_child_nodes(node):
            visit(child, scope)

    visit(ast.parse(source), "<module>")
    return sorted(found)


# Existing uses, all on plain Python ints that never become Z3 terms (input validation, constants
# against the word width, and concrete explanation text).  Keyed by (file, scope, operator) with the
# exact count, so line edits do not break the test but any new use (or a removed one: shrink the
# list) does.
#   model/pci.py:72        PciAddress.__post_init__   `0 <= value <= top`         (PCI address fields)
#   model/pci.py:177       validate_bar               `0 <= bar.index <= MAX_BAR_INDEX`
#   model/pci.py:183       validate_bar               `0 <= value <= ops.mask`
#   model/ranges.py:25     fits                       `0 <= value < (1 << ops.width)`
#   model/scenario.py:110  parent_is_bridge_window    `MIB >= (1 << ops.width)`
#   properties/core.py:88-90 _first_uncovered         `a <= address <= b` (three chains)
#   properties/alignment.py _why_not_mmappable        concrete counterexample fields, explanation text
ALLOWED_RAW_OPERATORS = Counter({
    ("model/pci.py", "PciAddress.__post_init__", "<="): 2,
    ("model/pci.py", "validate_bar", "<="): 4,
    ("model/ranges.py", "fits", "<="): 1,
    ("model/ranges.py", "fits", "<"): 1,
    ("model/scenario.py", "parent_is_bridge_window", ">="): 1,
    ("properties/core.py", "_first_uncovered", "<="): 6,
    ("properties/core.py", "_covers_explain", "<="): 1,
    ("properties/alignment.py", "_why_not_mmappable", ">="): 2,
    ("properties/alignment.py", "_why_not_mmappable", "<="): 1,
    ("properties/alignment.py", "_why_not_mmappable", "%"): 1,
})


def test_lint_reports_raw_comparisons_and_shifts():
    source = (
        "def f(ops, a, b, x):\n"
        "    if a < b:\n"
        "        return x >> 3\n"
        "    y = a / b + a // b + a % b\n"
        "    y >>= 1\n"
        "    return ops.ult(a, b) or a == b or a != b or x << 2 or a in (b,) or 1 <= a > b >= 0\n"
    )
    found = raw_operator_uses(source)
    assert (2, "f", "<") in found
    assert (3, "f", ">>") in found
    assert {(4, "f", "/"), (4, "f", "//"), (4, "f", "%"), (5, "f", ">>")} <= set(found)
    assert [op for line, _, op in found if line == 6] == ["<=", ">", ">="]
    assert len(found) == 9, found
    assert raw_operator_uses("x = ops.lshr(a, 3)\nok = ops.ule(a, b)\nz = a == b\n") == []


def test_lint_names_the_enclosing_scope():
    found = raw_operator_uses("class C:\n    def m(self, a):\n        return a > 1\nb = 2 > 1\n")
    assert found == [(3, "C.m", ">"), (4, "<module>", ">")]


def test_ops_layer_modules_use_ops_instead_of_raw_operators():
    paths = sources(*OPS_LAYER_FILES)
    expected = {"model/policies/linux.py", "model/policies/base.py", "model/ranges.py", "model/pci.py",
                "model/resource_tree.py", "model/scenario.py", "properties/core.py"}
    assert expected <= {rel(p) for p in paths}, "sanity: the lint must cover the ops-layer modules"
    uses = {rel(p): raw_operator_uses(p.read_text(encoding="utf-8")) for p in paths}
    found = Counter((path, scope, op) for path, items in uses.items() for _, scope, op in items)
    new = found - ALLOWED_RAW_OPERATORS
    if new:
        lines = [f"{path}:{line} {op} in {scope}" for path, items in uses.items() for line, scope, op in items
                 if (path, scope, op) in new]
        pytest.fail("raw operators in ops-layer code (use ops.ult/ule/ugt/uge/lshr ...):\n" + "\n".join(lines))
    stale = ALLOWED_RAW_OPERATORS - found
    assert not stale, f"allow-list entries no longer needed, remove them: {dict(stale)}"
