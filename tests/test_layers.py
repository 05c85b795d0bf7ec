"""The layers of the code, checked from the source: who may import whom, who may solve, no cycles.

(tests/test_architecture.py checks the older rules: z3 imports and the ops layer.)

Layers, bottom up: model/ (the semantics), properties/, barcheck/inputs/, barcheck/engine/,
barcheck/run/ (jobs, cache, user policy files), then the consumers of results (render, saved,
scenario, host, conform, selftest), and barcheck/cli/ on top.
Imports inside functions count: a cycle hidden in a function is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest
from test_architecture import imports_of, module_name, sources

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("model", "properties", "barcheck")
LAYER = {"model": 0, "properties": 1, "barcheck.inputs": 2, "barcheck.engine": 3, "barcheck.run": 4,
         "barcheck.render": 5, "barcheck.saved": 6, "barcheck.scenario": 6, "barcheck.host": 6,
         "barcheck.conform": 6, "barcheck.selftest": 7, "barcheck.cli": 8}
SOLVER_FACTORIES = {"Solver", "SolverFor", "SimpleSolver", "Optimize", "Fixedpoint", "Then", "Tactic"}
SOLVER_OWNER = "barcheck.engine.session"


MODULES = {module_name(path): path for package in PACKAGES for path in sources(f"{package}/**/*.py")}


def _imports(path: Path) -> set[str]:
    """Every project module `path` imports, at any depth of the file (test_architecture's scanner)."""
    return {owner for name in imports_of(path) if (owner := _owner(name))}


def _owner(name: str) -> str | None:
    """The project module a dotted import name refers to (a module, or the module defining a name)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for name, path in MODULES.items():
        graph.add_node(name)
        for target in _imports(path):
            if target != name and not name.startswith(target + "."):
                graph.add_edge(name, target)
    return graph


def _layer(module: str) -> int:
    best = max((prefix for prefix in LAYER if module == prefix or module.startswith(prefix + ".")),
               key=len, default=None)
    return LAYER[best] if best else LAYER["barcheck.engine"]


def test_every_module_has_a_layer():
    loose = sorted(name for name in MODULES if name.startswith("barcheck.") and name.count(".") == 1
                   and name not in LAYER and name not in ("barcheck.__main__",))
    assert loose == [], f"modules at barcheck/'s root, outside every layer folder: {loose}"


def test_the_import_graph_is_read():
    graph = _graph()
    assert len(graph) == len(MODULES) and graph.number_of_edges() > len(MODULES), "the scanner found no imports"


def test_no_import_cycles():
    cycles = [sorted(c) for c in nx.strongly_connected_components(_graph()) if len(c) > 1]
    assert cycles == [], f"import cycles: {cycles}"


def test_imports_go_down_the_layers():
    upward = sorted(f"{a} -> {b}" for a, b in _graph().edges
                    if _layer(b) > _layer(a) and a != "barcheck.__main__")
    assert upward == [], "imports that go up a layer:\n" + "\n".join(upward)


def test_only_the_cli_imports_the_cli():
    users = sorted(f"{a} -> {b}" for a, b in _graph().edges
                   if b.startswith("barcheck.cli") and not a.startswith("barcheck.cli") and a != "barcheck.__main__")
    assert users == [], users


def _solver_uses(path: Path, root: Path = ROOT) -> list[str]:
    """Where a file makes a z3 solver, or reaches into a session for its raw solver."""
    found = []
    where = path.relative_to(root)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr in SOLVER_FACTORIES and \
                isinstance(node.value, ast.Name) and node.value.id == "z3":
            found.append(f"{where}:{node.lineno}: z3.{node.attr}")
        if isinstance(node, ast.Attribute) and node.attr in ("_solver", "_new_solver"):
            found.append(f"{where}:{node.lineno}: .{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.module in ("z3", "barcheck.engine.session") and \
                any(alias.name in SOLVER_FACTORIES | {"_new_solver", "*"} for alias in node.names):
            found.append(f"{where}:{node.lineno}: from {node.module} import a solver")
    return found


def test_only_the_session_creates_or_runs_a_solver():
    """A solver made or reached only inside barcheck/engine/session.py: every check goes through a `Session`."""
    uses = [use for name, path in MODULES.items() if name != SOLVER_OWNER for use in _solver_uses(path)]
    assert uses == [], "solver use outside barcheck/engine/session.py:\n" + "\n".join(uses)


@pytest.mark.parametrize("bad", ["z3.Solver()", "z3.SolverFor('QF_BV')", "session._solver.check()",
                                 "z3.Optimize()", "z3.Fixedpoint()"])
def test_the_solver_check_sees_what_it_looks_for(tmp_path, bad):
    probe = tmp_path / "probe.py"
    probe.write_text(f"import z3\ndef f(session):\n    return {bad}\n")
    assert _solver_uses(probe, tmp_path)


def test_the_solver_check_passes_a_session(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import z3\ndef f(session, x):\n    return session.check(z3.Not(x))\n")
    assert _solver_uses(probe, tmp_path) == []


def test_the_cycle_check_sees_a_cycle():
    graph = nx.DiGraph([("a", "b"), ("b", "a")])
    assert [c for c in nx.strongly_connected_components(graph) if len(c) > 1]


def test_the_layer_check_sees_an_upward_import():
    assert _layer("barcheck.cli.main") > _layer("barcheck.engine.session") > _layer("model.ops")


def test_the_code_map_lists_every_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("code_map", ROOT / "scripts" / "code_map.py")
    code_map = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(code_map)
    assert (ROOT / "docs" / "code-map.md").read_text() == code_map.code_map(), \
        "docs/code-map.md is stale: run python3 scripts/code_map.py"
    assert "(no docstring)" not in code_map.code_map(), "a module without a docstring"
