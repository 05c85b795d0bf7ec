"""The command-line contract of `barcheck`: exit codes, one-line usage errors, JSON schema, reports.

Most cases call `barcheck.cli.main.main(argv, stdout, stderr)` in-process; a few run the installed
`barcheck` console command to check the real entry point end to end.
"""

from __future__ import annotations

import copy
import io
import json
import re
import shutil
import subprocess
import sys

import pytest

from barcheck.cli.main import main
from model.policies import BUILTIN, catalogue
from model.policies.alignment import MODIFIERS
from properties import REGISTRY
from properties.revoke import VMA_PROPERTIES
from properties.trace import TRACE_PROPERTIES

FAST = ["--property", "probe.idempotent", "--policy", "linux-4.8"]
"""One fast property/policy pair that proves."""
REFUTED = ["--property", "probe.idempotent", "--policy", "v3-per-bar", "--page-size", "4K"]
"""One fast property/policy pair with a counterexample (v3's check reserves as a side effect)."""
HEX = re.compile(r"^0x[0-9a-f]+$")


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def run_json(*argv: str) -> tuple[int, dict]:
    code, out, err = run_cli("prove", "--format", "json", *argv)
    assert err == "", err
    return code, json.loads(out)


def assert_one_line_usage_error(code: int, out: str, err: str, *mentions: str) -> None:
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert err.endswith("\n") and err.count("\n") == 1, f"expected exactly one stderr line, got {err!r}"
    assert err.startswith("barcheck: error: "), err
    for mention in mentions:
        assert mention in err, f"{mention!r} not named in {err!r}"
    assert out == "", f"nothing should reach stdout on a usage error, got {out!r}"


def barcheck_command() -> str:
    path = shutil.which("barcheck")
    assert path is not None, "the `barcheck` console command is not installed (pip install -e .)"
    return path


# ----------------------------------------------------------------------------- list


def test_list_prints_every_property_and_policy_one_per_line():
    from model.policies import VMMS
    from properties import RECORD_PROPERTIES
    code, out, err = run_cli("list")
    assert code == 0
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == (len(REGISTRY) + 1 + len(RECORD_PROPERTIES) + 1 + len(TRACE_PROPERTIES) + len(VMA_PROPERTIES)
                          + len(BUILTIN) + 2 * len(VMMS) + len(MODIFIERS))
    listed = [line.split()[:3] for line in lines]
    assert sorted(name for kind, name, form in listed if kind == "property" and form == "pair") == sorted(REGISTRY)
    assert sorted(name for kind, name, form in listed if kind == "property" and form == "trace") == \
        sorted(set(TRACE_PROPERTIES) | set(VMA_PROPERTIES))
    assert [name for kind, name, form in listed if kind == "property" and form == "function"] == \
        sorted(["pgoff.round-trip", *RECORD_PROPERTIES])
    assert [name for kind, name, _ in listed if kind == "measure"] == ["msix.mappable-fraction"]
    assert sorted(name for kind, name, _ in listed if kind == "policy") == sorted([*BUILTIN, *VMMS])
    assert sorted(name.partition("=")[0][1:] for kind, name, _ in listed if kind == "modifier") == \
        sorted([*MODIFIERS, *VMMS])
    assert {kind for kind, _, _ in listed} == {"property", "policy", "modifier", "measure"}


# ----------------------------------------------------------------------------- usage errors


USAGE_ERRORS = [
    (["prove", "--page-size", "3K"], ["--page-size", "3K", "not a power of two"]),
    (["prove", "--page-size", "0x1001"], ["--page-size", "0x1001", "not a power of two"]),
    (["prove", "--page-size", "2G"], ["--page-size", "2G", "outside"]),
    (["prove", "--page-size", "abc"], ["--page-size", "abc"]),
    (["prove", "--page-size", "4K,3K"], ["--page-size", "3K"]),
    (["prove", "--page-size", ""], ["--page-size"]),
    (["prove", "--policy", "nosuch"], ["--policy", "nosuch"]),
    (["prove", "--property", "nosuch"], ["--property", "nosuch"]),
    (["prove", "--bogus-flag"], ["--bogus-flag"]),
    (["list", "--bogus-flag"], ["--bogus-flag"]),
    ([], ["command"]),
    (["nosuchcommand"], ["nosuchcommand"]),
    (["prove", "--seed", "-1"], ["--seed", "-1"]),
    (["prove", "--seed", "x"], ["--seed", "x"]),
    (["prove", "--rlimit", "0"], ["--rlimit"]),
    (["prove", "--format", "xml"], ["--format", "xml"]),
]


@pytest.mark.parametrize(("argv", "mentions"), USAGE_ERRORS,
                         ids=[" ".join(argv) or "<no arguments>" for argv, _ in USAGE_ERRORS])
def test_usage_errors_exit_2_with_one_line_naming_the_input(argv, mentions):
    code, out, err = run_cli(*argv)
    assert_one_line_usage_error(code, out, err, *mentions)


def test_out_pointing_at_a_regular_file_is_a_usage_error(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("keep me\n")
    code, out, err = run_cli("prove", *FAST, "--page-size", "4K", "--out", str(target))
    assert_one_line_usage_error(code, out, err, "--out", str(target))
    assert target.read_text() == "keep me\n", "the existing file must not be touched"


def test_out_below_a_regular_file_is_a_usage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, out, err = run_cli("prove", *FAST, "--page-size", "4K", "--out", str(blocker / "sub"))
    assert_one_line_usage_error(code, out, err, "--out")


# ----------------------------------------------------------------------------- page sizes


@pytest.mark.parametrize("spelling", ["64K", "65536", "0x10000", "64KiB", "64k"])
def test_page_size_spellings_select_the_same_size(spelling):
    code, doc = run_json(*FAST, "--page-size", spelling)
    assert code == 0
    assert [r["page_size"] for r in doc["results"]] == [65536]
    assert doc["meta"]["page_sizes"] == [65536]


def test_repeated_and_duplicate_page_sizes_are_merged_and_sorted():
    code, doc = run_json(*FAST, "--page-size", "64K,4K", "--page-size", "0x1000")
    assert code == 0
    assert [r["page_size"] for r in doc["results"]] == [4096, 65536]
    assert doc["meta"]["page_sizes"] == [4096, 65536]


# ----------------------------------------------------------------------------- exit codes


def test_all_proved_exits_0():
    code, doc = run_json(*FAST, "--page-size", "4K")
    assert code == 0
    assert [r["verdict"] for r in doc["results"]] == ["proved"]


def test_counterexample_exits_1():
    code, doc = run_json(*REFUTED)
    assert code == 1
    assert [r["verdict"] for r in doc["results"]] == ["counterexample"]


def test_counterexample_wins_over_proved_in_a_mixed_run():
    code, doc = run_json("--property", "probe.idempotent", "--policy", "linux-4.8", "--policy", "v3-per-bar",
                         "--page-size", "4K")
    assert sorted(r["verdict"] for r in doc["results"]) == ["counterexample", "proved"]
    assert code == 1


def test_tiny_solver_budget_gives_unknown_and_exits_3():
    code, doc = run_json("--rlimit", "1", "--property", "isolation.window", "--policy", "linux-4.8",
                         "--page-size", "4K")
    [result] = doc["results"]
    assert result["verdict"] == "unknown"
    assert result["reason"], "an unknown verdict must say why"
    assert result["solver"]["rlimit"] == 1
    assert doc["meta"]["rlimit"] == 1
    assert code == 3


# ----------------------------------------------------------------------------- JSON contract


def _hex_fields(cex: dict) -> dict[str, str]:
    fields = {}
    for group in ("bar", "parent", "foreign"):
        for key in ("start", "end", "size"):
            fields[f"{group}.{key}"] = cex[group][key]
    for key in ("start", "end", "size"):
        fields[f"outcome.window.{key}"] = cex["outcome"]["window"][key]
        if cex["outcome"]["dummy"]["held"]:
            fields[f"outcome.dummy.{key}"] = cex["outcome"]["dummy"][key]
    fields["page_size"] = cex["page_size"]
    return fields


def _assert_result_shape(result: dict) -> None:
    for key in ("property", "policy", "page_size", "verdict", "scope", "assumptions", "seconds", "solver"):
        assert key in result, f"result lacks {key!r}: {sorted(result)}"
    assert result["property"] in REGISTRY
    assert result["policy"] in BUILTIN
    assert type(result["page_size"]) is int
    assert result["verdict"] in {"proved", "counterexample", "unknown", "vacuous"}
    assert isinstance(result["scope"], dict)
    assert isinstance(result["assumptions"], list) and all(isinstance(a, str) for a in result["assumptions"])
    assert isinstance(result["seconds"], (int, float)) and result["seconds"] >= 0
    solver = result["solver"]
    assert set(solver) >= {"z3_version", "seed", "rlimit", "work"}
    assert isinstance(solver["z3_version"], str) and solver["z3_version"]
    assert type(solver["seed"]) is int and type(solver["rlimit"]) is int and type(solver["work"]) is int


def test_json_contract_for_proved_and_counterexample_results():
    code, doc = run_json("--property", "probe.idempotent", "--policy", "linux-4.8", "--policy", "v3-per-bar",
                         "--page-size", "4K", "--seed", "7")
    assert code == 1
    assert doc["schema"] == "barcheck.result/1"
    assert {"schema", "meta", "results"} <= set(doc)
    assert isinstance(doc["meta"], dict) and doc["meta"]["seed"] == 7
    assert len(doc["results"]) == 2
    for result in doc["results"]:
        _assert_result_shape(result)
        assert result["solver"]["seed"] == 7
    by_policy = {r["policy"]: r for r in doc["results"]}
    assert "counterexample" not in by_policy["linux-4.8"]

    cex = by_policy["v3-per-bar"]["counterexample"]
    assert isinstance(cex["explanation"], str) and cex["explanation"]
    for name, value in _hex_fields(cex).items():
        assert isinstance(value, str) and HEX.match(value), f"{name} = {value!r} is not lower-case hex"
    for group in ("bar", "parent", "foreign", ):
        start, end, size = (int(cex[group][k], 16) for k in ("start", "end", "size"))
        assert size == end - start + 1, group
    assert int(cex["page_size"], 16) == 4096


def test_json_hex_contract_holds_for_a_dummy_that_is_not_held():
    # linux-4.8 with an 8K BAR at 4K pages: mmappable without a dummy; the computed dummy range
    # [res->end + 1, res->start + PAGE_SIZE - 1] is then empty (start > end).  The JSON must still
    # give every address and size as a non-negative hex string.
    from barcheck.render.text import counterexample_doc
    from barcheck.engine.verdict import Counterexample
    from model.ops import ConcreteOps
    from model.scenario import PairScenario, Shape

    scenario = PairScenario(page_bytes=4096, bar_index=0, bar_kind=0, bar_prefetchable=False,
                            bar_start=0xFE000000, bar_size=0x2000, parent_first=0xFE000000,
                            parent_last=0xFE0FFFFF, foreign_first=0xFE100000, foreign_last=0xFE10000F,
                            foreign_relation=2)
    prop = REGISTRY["mmap.window-within-bar-or-dummy"]
    facts = dict(prop.evaluate(ConcreteOps(64), scenario, BUILTIN["linux-4.8"], Shape()).facts)
    assert facts["dummy_held"] is False
    doc = counterexample_doc(Counterexample(scenario, facts, "x", True))
    assert doc["outcome"]["dummy"] == {"held": False}
    for name, value in _hex_fields(doc).items():
        assert HEX.match(value), f"{name} = {value!r}"


def test_json_output_is_deterministic_apart_from_timings():
    argv = ("--property", "probe.idempotent", "--page-size", "4K,64K")

    def without_seconds(node):
        if isinstance(node, dict):
            return {k: without_seconds(v) for k, v in node.items() if k != "seconds"}
        if isinstance(node, list):
            return [without_seconds(v) for v in node]
        return node

    first_code, first = run_json(*argv)
    second_code, second = run_json(*argv)
    assert first_code == second_code == 1
    assert len(first["results"]) == len(catalogue()) * 2
    assert any("counterexample" in r for r in first["results"]), "the run should include a counterexample"
    stripped = without_seconds(copy.deepcopy(first))
    assert all("seconds" not in r for r in stripped["results"])
    assert stripped == without_seconds(second)
    keys = [(r["property"], r["policy"], r["page_size"]) for r in first["results"]]
    assert keys == sorted(keys), "results must be sorted"


# ----------------------------------------------------------------------------- --out


@pytest.mark.parametrize(("fmt", "filename"), [("json", "report.json"), ("text", "report.txt"),
                                               ("md", "report.md")])
def test_out_writes_one_report_file_and_one_stdout_line(tmp_path, fmt, filename):
    directory = tmp_path / "new" / "reports"
    code, out, err = run_cli("prove", *FAST, "--page-size", "4K", "--format", fmt, "--out", str(directory))
    assert code == 0
    assert err == ""
    assert out.count("\n") == 1 and out.endswith("\n"), out
    assert str(directory / filename) in out
    assert sorted(p.name for p in directory.iterdir()) == [filename], "no temporary files may be left"
    report = (directory / filename).read_text(encoding="utf-8")
    _, direct, _ = run_cli("prove", *FAST, "--page-size", "4K", "--format", fmt)
    if fmt == "json":
        assert json.loads(report)["results"][0]["verdict"] == "proved"
        assert json.loads(report)["schema"] == "barcheck.result/1"
    else:
        # Same report as on stdout, apart from the timing column.
        strip = lambda text: re.sub(r"\d+\.\d\d", "#", text)  # noqa: E731
        assert strip(report) == strip(direct)


def test_out_replaces_an_existing_report(tmp_path):
    (tmp_path / "report.json").write_text("old")
    code, out, _ = run_cli("prove", *FAST, "--page-size", "4K", "--format", "json", "--out", str(tmp_path))
    assert code == 0
    assert json.loads((tmp_path / "report.json").read_text())["schema"] == "barcheck.result/1"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


# ----------------------------------------------------------------------------- text and Markdown


@pytest.fixture(scope="module")
def refuted_explanation() -> str:
    code, doc = run_json(*REFUTED)
    assert code == 1
    return doc["results"][0]["counterexample"]["explanation"]


def test_text_report_has_explanation_and_summary(refuted_explanation):
    code, out, err = run_cli("prove", *REFUTED, "--format", "text")
    assert code == 1 and err == ""
    assert refuted_explanation in out
    assert "COUNTEREXAMPLE" in out
    assert "summary: 1 checks: 0 proved, 1 counterexample, 0 unknown, 0 vacuous" in out


def test_markdown_report_has_explanation_and_summary(refuted_explanation):
    code, out, err = run_cli("prove", *REFUTED, "--format", "md")
    assert code == 1 and err == ""
    assert out.startswith("# barcheck report")
    assert refuted_explanation in out
    assert "## Counterexamples" in out
    assert "Summary: 1 checks: 0 proved, 1 counterexample, 0 unknown, 0 vacuous" in out


def test_text_report_explains_an_unknown_verdict():
    code, out, _ = run_cli("prove", "--rlimit", "1", "--property", "isolation.window", "--policy", "linux-4.8",
                           "--page-size", "4K")
    assert code == 3
    assert "UNKNOWN isolation.window" in out
    assert "1 unknown" in out


# ----------------------------------------------------------------------------- regressions


def test_page_size_with_leading_zero_is_not_an_internal_error():
    code, _, err = run_cli("prove", *FAST, "--page-size", "04K")
    assert code in (0, 2), err
    assert "internal error" not in err


def test_version_goes_through_main_return_value_and_stdout_argument():
    code, out, _ = run_cli("--version")
    assert code == 0
    assert out.startswith("barcheck ")


# ----------------------------------------------------------------------------- the real console command


def test_console_command_list():
    proc = subprocess.run([barcheck_command(), "list"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    code, out, _ = run_cli("list")
    assert proc.stdout == out
    for name in [*REGISTRY, *TRACE_PROPERTIES, *BUILTIN, "qemu-subpage", "msix.table-protected"]:
        assert name in proc.stdout


def test_console_command_usage_error_is_one_line_without_traceback():
    proc = subprocess.run([barcheck_command(), "prove", "--page-size", "3K"], capture_output=True, text=True,
                          timeout=120)
    assert_one_line_usage_error(proc.returncode, proc.stdout, proc.stderr, "--page-size", "3K")


def test_console_command_counterexample_json_and_exit_1():
    proc = subprocess.run([barcheck_command(), "prove", *REFUTED, "--format", "json"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "barcheck.result/1"
    assert doc["results"][0]["verdict"] == "counterexample"


def test_python_dash_m_barcheck_matches_console_command():
    proc = subprocess.run([sys.executable, "-m", "barcheck", "prove", "--rlimit", "0"], capture_output=True,
                          text=True, timeout=120)
    assert_one_line_usage_error(proc.returncode, proc.stdout, proc.stderr, "--rlimit")
