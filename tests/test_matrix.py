"""`barcheck matrix`: the renderers on a fixed document, and the command end to end."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from barcheck.cli.main import main
from barcheck.render.matrix import build, render, tex

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "reports" / "report.json"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def result(prop, kind, policy, page, verdict, seconds=0.5, work=1_500_000):
    return {"property": prop, "kind": kind, "policy": policy, "page_size": page, "verdict": verdict,
            "seconds": seconds, "solver": {"work": work}}


DOC = {"schema": "barcheck.result/1",
       "meta": {"barcheck_version": "0.1.0", "z3_version": "5.4.0", "seed": 0, "rlimit": 400, "width_bits": 64},
       "results": [result("isolation.window", "pair", "linux-4.8", 4096, "proved", 1.234, 2_000_000),
                   result("isolation.window", "pair", "linux-4.8", 65536, "counterexample", 0.5, 999),
                   result("isolation.window", "pair", "linux-4.8+resource_alignment", 4096, "vacuous"),
                   result("probe.idempotent", "pair", "linux-4.8", 4096, "proved"),
                   result("probe.idempotent", "trace", "linux-4.8", 4096, "unknown")]}


def test_markdown_has_a_row_per_policy_and_a_column_per_property_kind_and_page():
    text = render(DOC, "md", "seconds")
    lines = text.splitlines()
    assert lines[0].startswith("<!-- barcheck 0.1.0, z3 5.4.0, seed 0, rlimit 400, width 64 bits")
    assert lines[2] == ("| policy | isolation.window 4K | isolation.window 64K | probe.idempotent [pair] 4K "
                        "| probe.idempotent [trace] 4K |")
    assert lines[4] == "| `linux-4.8` | proved 1.23s | cex 0.50s | proved 0.50s | unknown 0.50s |"
    assert lines[5] == "| `linux-4.8+resource_alignment` | vacuous 0.50s | - | - | - |"


def test_work_units_and_no_time():
    assert "| `linux-4.8` | proved 2.0M | cex 999 |" in render(DOC, "md", "work")
    assert "| `linux-4.8` | proved | cex | proved | unknown |" in render(DOC, "md", "none")


def test_csv_is_wide_with_a_verdict_and_a_cost_column_per_cell():
    rows = list(csv.reader(io.StringIO(render(DOC, "csv", "work"))))
    assert rows[0][:3] == ["policy", "isolation.window|pair|4096|verdict", "isolation.window|pair|4096|work"]
    assert rows[1][:5] == ["linux-4.8", "proved", "2000000", "counterexample", "999"]
    assert rows[2][3:5] == ["", ""]
    assert len({len(r) for r in rows}) == 1


def test_latex_is_booktabs_with_grouped_headers_and_escaped_names():
    text = render(DOC, "latex", "none")
    assert "\\begin{tabular}{lcccc}" in text
    assert text.index("\\toprule") < text.index("\\midrule") < text.index("\\bottomrule")
    assert "\\multicolumn{2}{c}{isolation.window}" in text
    assert "\\cmidrule(lr){2-3} \\cmidrule(lr){4-4} \\cmidrule(lr){5-5}" in text
    assert "\\texttt{linux-4.8+resource\\_alignment} & \\textit{vacuous} & -- & -- & -- \\\\" in text
    assert "\\textbf{cex}" in text
    assert tex("a_b%c&d#e{f}") == "a\\_b\\%c\\&d\\#e\\{f\\}"


def test_every_renderer_ignores_the_order_of_the_results():
    shuffled = {**DOC, "results": list(reversed(DOC["results"]))}
    for fmt in ("md", "csv", "latex"):
        for mode in ("seconds", "work", "none"):
            assert render(shuffled, fmt, mode) == render(DOC, fmt, mode)


@pytest.mark.skipif(not CATALOGUE.is_file(), reason="no committed catalogue")
def test_from_the_committed_catalogue_every_result_is_a_cell(tmp_path):
    code, out, err = run("matrix", "--from", str(CATALOGUE), "--format", "all", "--out", str(tmp_path),
                         "--time", "work")
    assert (code, err) == (1, ""), err
    doc = json.loads(CATALOGUE.read_text())
    matrix = build(doc)
    assert len(matrix.cells) == len(doc["results"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["matrix.csv", "matrix.md", "matrix.repro.json",
                                                          "matrix.tex"]
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "matrix.repro.json"}
    again = tmp_path / "again"
    assert run("matrix", "--from", str(CATALOGUE), "--format", "all", "--out", str(again), "--time", "work")[0] == 1
    assert {p.name: p.read_bytes() for p in again.iterdir() if p.name != "matrix.repro.json"} == first
    repro = json.loads((tmp_path / "matrix.repro.json").read_text())
    assert repro["schema"] == "barcheck.repro/1" and repro["rendered_from"] == str(CATALOGUE)
    assert repro["z3_version"] == doc["meta"]["z3_version"] and repro["checks"] == len(doc["results"])
    assert set(repro["platform"]) >= {"python", "machine", "cpus"}


def test_a_fresh_solve_gives_byte_identical_tables_and_records_its_inputs(tmp_path):
    argv = ("matrix", "--policy", "linux-4.8", "--policy", "v3-per-bar", "--property", "probe.idempotent",
            "--property", "msix.table-protected", "--page-size", "4K", "--time", "work", "--format", "all")
    tables = []
    for jobs in ("1", "2"):
        out_dir = tmp_path / jobs
        code, out, err = run(*argv, "--jobs", jobs, "--out", str(out_dir))
        assert (code, err) == (1, ""), err
        tables.append({p.name: p.read_bytes() for p in out_dir.iterdir() if p.suffix in (".md", ".csv", ".tex")})
        repro = json.loads((out_dir / "matrix.repro.json").read_text())
        assert repro["verdicts_only"] is True and repro["seed"] == 0 and len(repro["model_sources_sha256"]) == 64
        assert repro["command"][:2] == ["barcheck", "matrix"]
        report = json.loads((out_dir / "matrix.report.json").read_text())
        assert all("seconds" not in r for r in report["results"])
    assert tables[0] == tables[1]
    assert "cex" in tables[0]["matrix.md"].decode()


def test_errors_are_one_line_with_exit_2(tmp_path):
    code, out, err = run("matrix", "--format", "all")
    assert code == 2 and err.count("\n") == 1 and "--out" in err
    code, out, err = run("matrix", "--from", str(tmp_path / "missing.json"))
    assert code == 2 and "missing.json" in err and err.count("\n") == 1
    (tmp_path / "bad.json").write_text("{}")
    code, out, err = run("matrix", "--from", str(tmp_path / "bad.json"))
    assert code == 2 and "barcheck.result/1" in err
    (tmp_path / "partial.json").write_text(json.dumps({"schema": "barcheck.result/1", "results": [{"policy": "x"}]}))
    code, out, err = run("matrix", "--from", str(tmp_path / "partial.json"))
    assert code == 2 and "partial.json" in err and err.count("\n") == 1 and "Traceback" not in err
    code, out, err = run("matrix", "--policy", "no-such-kernel")
    assert code == 2 and "no-such-kernel" in err
    assert not list(tmp_path.glob("matrix.*"))
