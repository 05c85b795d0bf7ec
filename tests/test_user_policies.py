"""User policies (`--policy PATH.py`), `barcheck new-policy` and `barcheck diff`.

The loader must turn every mistake into one line naming the file and line (exit 2) before anything
is proved; built-in and mutant policies, which are written correctly, must pass its checks; the
worked example must give the verdicts docs/user-policies.md promises.
"""

from __future__ import annotations

import inspect
import io
import json
import textwrap
from pathlib import Path

import pytest

from barcheck.run.cache import Cache
from barcheck.cli.main import main
from barcheck.cli.policy import classify
from barcheck.run.jobs import PAIR, Job
from barcheck.selftest.mutants import MUTANTS
from barcheck.engine.policycheck import PolicyCheckError, check_policy
from barcheck.run.userpolicy import PolicyFileError, forget_user_policies, load_policy_file
from model.policies import BUILTIN, USER, get_policy

ROOT = Path(__file__).resolve().parents[1]
WORKED = ROOT / "examples" / "policies" / "release_dummy_on_reset.py"
ANY_OFFSET = ROOT / "examples" / "policies" / "any_offset.py"
QUICK = ["--property", "isolation.window", "--page-size", "4K"]


@pytest.fixture(autouse=True)
def _fresh_registry():
    yield
    forget_user_policies()


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], out, err)
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


HEAD = "from model.policies.linux import Linux48\nfrom model.policies.base import Policy\n\n"

BROKEN = {
    "syntax": ("class P(Linux48)\n    name = 'p'\n", 4, "syntax error"),
    "typo": ("class P(Linux48):\n    name = 'p'\n    def dumy_range(self, ops, bar, page_bytes):\n"
             "        return None\n", 6, "`dumy_range` is not a rule of Linux48; did you mean `dummy_range`?"),
    "signature": ("class P(Linux48):\n    name = 'p'\n    def dummy_range(self, ops, bar):\n        return None\n",
                  6, "`dummy_range(self, ops, bar)` does not match the rule `dummy_range(self, ops, bar, page_bytes)`"),
    "missing-rule": ("class P(Policy):\n    name = 'p'\n    def probe(self, ops, req):\n        return None\n",
                     4, "class P does not define the rule `mmap_window`"),
    "signed-compare": ("class P(Linux48):\n    name = 'p'\n    def whole_pages(self, ops, bar, page_bytes):\n"
                       "        return bar.size_bytes >= page_bytes\n", 7,
                       "Python `<=` or `>=` on a bit-vector word is a signed comparison on bit-vectors; use "
                       "ops.ule or ops.uge (in: return bar.size_bytes >= page_bytes)"),
    "signed-shift": ("class P(Linux48):\n    name = 'p'\n    def may_reserve(self, ops, bar, page_bytes):\n"
                     "        return ops.eq(bar.start_bytes >> 12, ops.const(0))\n", 7,
                     "Python `>>` on a bit-vector word is an arithmetic (sign-extending) shift"),
    "unwrapped-add": ("class P(Linux48):\n    name = 'p'\n    def dummy_range(self, ops, bar, page_bytes):\n"
                      "        r = super().dummy_range(ops, bar, page_bytes)\n"
                      "        return type(r)(r.first, bar.start_bytes + page_bytes)\n", 8,
                      "Python `+` on a bit-vector word does not wrap at the word width on the concrete side"),
    "branch": ("class P(Linux48):\n    name = 'p'\n    def may_reserve(self, ops, bar, page_bytes):\n"
               "        if ops.eq(bar.start_bytes, ops.const(0)):\n            return ops.false()\n"
               "        return ops.true()\n", 7, "Python `if`, `and`, `or`, `not`"),
    "rule-raises": ("class P(Linux48):\n    name = 'p'\n    def may_reserve(self, ops, bar, page_bytes):\n"
                    "        return super().may_reservee(ops, bar, page_bytes)\n", 7,
                    "a rule raised AttributeError"),
    "bad-choice": ("class P(Linux48):\n    name = 'p'\n    pgoff_holds = 'physical'\n", 6,
                   "`pgoff_holds` must be one of 'pfn', 'region', not 'physical'"),
    "bad-type": ("class P(Linux48):\n    name = 'p'\n    releases_dummy_at_reset = 'yes'\n", 6,
                 "`releases_dummy_at_reset` must be a bool"),
    "builtin-name": ("class P(Linux48):\n    name = 'linux-4.8'\n", 5, "is taken by a built-in policy"),
    "no-name": ("class P(Linux48):\n    pass\n", 4, "does not set `name`"),
    "no-class": ("X = 1\n", None, "defines no policy"),
    "two-classes": ("class P(Linux48):\n    name = 'p'\n\nclass Q(Linux48):\n    name = 'q'\n", None,
                    "defines several policies (P, Q): say which with POLICY = ClassName"),
    "import-error": ("import no_such_module_here\n", 4, "loading the file raised ModuleNotFoundError"),
    "private-override": ("from model.policies.linux import V3PerBar\n\nclass P(V3PerBar):\n    name = 'p'\n"
                         "    def _again(self, ops, req, first):\n        return None\n", 8,
                         "`_again` is a private method of V3PerBar"),
    "intermediate-class": ("class Mid(Linux48):\n    def helper(self):\n        return 1\n\n"
                           "class P(Mid):\n    name = 'p'\n", 5, "`helper` is not a rule of Linux48"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_policy_file_is_one_line_with_file_and_line(tmp_path: Path, case: str) -> None:
    body, line, message = BROKEN[case]
    path = write(tmp_path, f"{case}.py", HEAD + body)
    code, out, err = run_cli("prove", "--policy", path, *QUICK)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "Traceback" not in err, err
    where = f"{path}:{line}: " if line else f"{path}: "
    assert err.startswith(f"barcheck: error: --policy: {where}"), err
    assert message in err, err


def test_misuse_in_a_helper_module_is_caught_at_its_own_line(tmp_path: Path) -> None:
    """The trap watches every file that is not barcheck's, z3's or the standard library's."""
    helper = write(tmp_path, "helper_mod.py", "def end(bar, page_bytes):\n    return bar.start_bytes + page_bytes - 1\n")
    path = write(tmp_path, "uses_helper.py", HEAD + "import sys\nsys.path.insert(0, %r)\nimport helper_mod\n\n"
                 "class P(Linux48):\n    name = 'p'\n    def dummy_range(self, ops, bar, page_bytes):\n"
                 "        r = super().dummy_range(ops, bar, page_bytes)\n"
                 "        return type(r)(r.first, helper_mod.end(bar, page_bytes))\n" % str(tmp_path))
    code, _, err = run_cli("prove", "--policy", path, *QUICK)
    assert code == 2
    assert err.startswith(f"barcheck: error: --policy: {path}: {helper}:2: Python `+` on a bit-vector word"), err


def test_a_rule_that_answers_differently_on_integers_is_caught_by_the_differential_check(tmp_path: Path) -> None:
    path = write(tmp_path, "sneaky.py", HEAD + "class P(Linux48):\n    name = 'sneaky'\n"
                 "    def may_reserve(self, ops, bar, page_bytes):\n"
                 "        return ops.true() if isinstance(bar.start_bytes, int) else super().may_reserve(ops, bar, "
                 "page_bytes)\n")
    code, _, err = run_cli("prove", "--policy", path, *QUICK)
    assert code == 2
    assert "the rules give different answers on integers and on bit-vectors at page 0x1000" in err, err
    assert "is True on integers but False on bit-vectors" in err, err


def test_a_probe_that_ignores_all_but_the_first_sibling_is_refused(tmp_path: Path) -> None:
    """Anti-monotone wherever the extra resource comes: at position 0 it hides the foreign one."""
    path = write(tmp_path, "first_only.py", HEAD + "class P(Linux48):\n    name = 'first-only'\n"
                 "    def dummy_children(self, ops, req):\n        return super().dummy_children(ops, req)[:2]\n")
    code, _, err = run_cli("prove", "--policy", path, *QUICK)
    assert code == 2
    assert "another resource under the parent can make a refused BAR mmappable (the extra resource at " \
           "position 0" in err, err


def test_a_probe_that_more_resources_can_enable_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "grants.py", HEAD + "class P(Linux48):\n    name = 'grants'\n"
                 "    def request_dummy(self, ops, req, dummy):\n"
                 "        return ops.any_of(ops.false(), *[c.present for c in req.children[1:]])\n")
    code, _, err = run_cli("prove", "--policy", path, *QUICK)
    assert code == 2
    assert "another resource under the parent can make a refused BAR mmappable" in err, err


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_policy_passes_the_load_time_checks(name: str) -> None:
    """The trap watches the file the policy's class is written in, as it would a user's."""
    policy = BUILTIN[name]
    check_policy(policy, str(Path(inspect.getsourcefile(type(policy))).resolve()))


def test_mutants_pass_the_load_time_checks() -> None:
    """Mutants are user-style subclasses: the checks must not cry wolf on them (the trap watches the
    file they are written in).  One mutant per aspect of the model keeps this quick."""
    path = str(ROOT / "barcheck" / "selftest" / "mutants.py")
    refused, chosen = [], list({m.aspect: m for m in reversed(MUTANTS)}.values())
    assert len(chosen) >= 6
    for mutant in chosen:
        try:
            check_policy(mutant.policy, path)
        except PolicyCheckError as err:
            refused.append((mutant.slug, err.message))
    assert refused == []


def test_the_check_can_fail_on_a_builtin_style_policy_with_a_signed_operator(tmp_path: Path) -> None:
    """The trap is live: the same rule with `>=` instead of ops.uge is refused."""
    path = write(tmp_path, "ge.py", HEAD + "class P(Linux48):\n    name = 'ge'\n"
                 "    def whole_pages(self, ops, bar, page_bytes):\n        return bar.size_bytes >= page_bytes\n")
    with pytest.raises(PolicyFileError) as caught:
        load_policy_file(str(path))
    assert caught.value.line == 7


def test_new_policy_writes_a_template_that_loads_and_changes_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli("new-policy", "my-patch")
    assert code == 0 and out.startswith("wrote my-patch.py: class MyPatch(Linux48)")
    text = (tmp_path / "my-patch.py").read_text()
    assert "def may_reserve(self, ops: Ops, bar: Bar, page_bytes: Word) -> Flag" in text
    assert "releases_dummy_at_reset = False" in text
    loaded = load_policy_file("my-patch.py")
    assert loaded.policy.name == "my-patch" and type(loaded.policy).__mro__[1] is type(BUILTIN["linux-4.8"])
    assert get_policy("my-patch+resource_alignment").name == "my-patch+resource_alignment"
    assert run_cli("new-policy", "my-patch")[0] == 2
    assert run_cli("new-policy", "my-patch", "--force")[0] == 0
    code, out, _ = run_cli("new-policy", "other", "--base", "linux-6.10")
    assert code == 0 and "class Other(Linux610)" in out
    assert load_policy_file("other.py").policy.revokes_by == BUILTIN["linux-6.10"].revokes_by


@pytest.mark.parametrize("argv, message", [
    (["new-policy", "linux-4.8"], "is taken by a built-in policy"),
    (["new-policy", "bad name"], "is not a policy name"),
    (["new-policy"], "give the policy's NAME"),
    (["new-policy", "x", "--base", "linux-9"], "is not a built-in policy"),
])
def test_new_policy_errors(tmp_path: Path, monkeypatch, argv: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(*argv)
    assert (code, out) == (2, "") and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_list_rules() -> None:
    code, out, _ = run_cli("new-policy", "--list-rules", "--base", "linux-4.7")
    assert code == 0
    assert "def probe(self, ops: Ops, req: ProbeRequest) -> ProbeOutcome" in out
    assert "may_reserve" not in out  # a linux-4.8 rule


def test_worked_example_gives_the_documented_verdict() -> None:
    """docs/user-policies.md: dummy.held-while-mapped is refuted by an open, mmap, reset trace."""
    code, out, err = run_cli("prove", "--policy", WORKED, "--mode", "trace", "--property",
                             "dummy.held-while-mapped", "--page-size", "4K", "--format", "json", "--no-timings")
    assert code == 1, err
    doc = json.loads(out)
    (result,) = doc["results"]
    assert (result["policy"], result["verdict"]) == ("release-dummy-on-reset", "counterexample")
    assert [step["text"].split()[0] for step in result["trace"]["steps"]] == ["open", "mmap", "reset"]
    assert doc["meta"]["policy_files"][0]["path"] == str(WORKED)
    assert result["source"]["line"] == 22 and result["source"]["path"].endswith("release_dummy_on_reset.py")
    assert any("user policy from" in note and "at any position among the parent's children" in note
               for note in result["notes"])


def test_worked_example_in_pair_mode_alone_is_refused() -> None:
    """The patch changes no probe rule, so no pair check reads what it overrides: a pair-only run would
    report 4.8's proofs for a patch it never tested, and is refused instead."""
    code, out, err = run_cli("prove", "--policy", WORKED, "--property", "probe.idempotent", "--page-size", "4K",
                             "--format", "json", "--no-timings")
    assert code == 2 and out == ""
    assert f"{WORKED}:28: `releases_dummy_at_reset` is overridden but" in err and err.count("\n") == 1


def test_diff_of_two_revisions_with_one_name_shows_the_regression(tmp_path: Path) -> None:
    """Two revisions of one patch, both named `patch`, each importing its own `revhelp` helper module,
    checked in worker processes: B must see B's helper, not A's left in sys.modules."""
    body = ("import os, sys\nsys.path.insert(0, os.path.dirname(__file__))\nimport revhelp\n" + HEAD +
            "class P(Linux48):\n    name = 'patch'\n    if revhelp.ANY_OFFSET:\n"
            "        def may_reserve(self, ops, bar, page_bytes):\n            return ops.true()\n")
    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").mkdir()
    write(tmp_path / "v1", "revhelp.py", "ANY_OFFSET = False\n")
    write(tmp_path / "v2", "revhelp.py", "ANY_OFFSET = True\n")
    v1 = write(tmp_path / "v1", "patch.py", body)
    v2 = write(tmp_path / "v2", "patch.py", body + "# revision 2\n")
    code, out, err = run_cli("diff", "--policy", v1, "--policy", v2, "--property", "isolation.window",
                             "--property", "probe.idempotent", "--page-size", "4K", "--jobs", "2",
                             "--format", "json", "--all")
    assert code == 1, err
    doc = json.loads(out)
    assert doc["schema"] == "barcheck.diff/1" and doc["exit_code"] == 1
    assert doc["a"]["policy"] == doc["b"]["policy"] == "patch" and doc["a"]["sha256"] != doc["b"]["sha256"]
    rows = {(r["property"], r["change"]) for r in doc["rows"]}
    assert rows == {("isolation.window", "regression"), ("probe.idempotent", "same")}
    regression = doc["rows"][0]
    assert regression["a"] == "proved" and regression["b"] == "counterexample"
    assert "mem32 BAR 0 [0xfe000010-0xfe00001f] is mmappable" in regression["reason"]
    assert doc["summary"]["regression"] == 1 and USER == {}


def test_diff_text_and_errors(tmp_path: Path) -> None:
    code, out, _ = run_cli("diff", "--policy", "linux-4.8", "--policy", "linux-4.16", "--property",
                           "probe.idempotent", "--page-size", "4K", "--jobs", "1")
    assert code == 0
    assert "no verdict changed" in out and "1 checks compared: 1 same (exit 0)" in out
    assert run_cli("diff", "--policy", "linux-4.8")[0] == 2
    code, _, err = run_cli("diff", "--policy", "linux-4.8", "--policy", "linux-4.8+bogus")
    assert code == 2 and err.startswith("barcheck: error: --policy: ") and "bogus" in err
    code, _, err = run_cli("diff", "--policy", "linux-4.8", "--policy", tmp_path / "missing.py")
    assert code == 2 and "missing.py: cannot read" in err


@pytest.mark.parametrize("a, b, change", [
    ("proved", "counterexample", "regression"), ("unknown", "counterexample", "new-counterexample"),
    ("proved", "unknown", "lost-proof"), ("proved", "vacuous", "lost-proof"),
    ("counterexample", "proved", "fixed"), ("vacuous", "proved", "gained-proof"),
    ("counterexample", "unknown", "lost-counterexample"), ("unknown", "vacuous", "changed"),
    (None, "proved", "only-b"), ("proved", None, "only-a"), ("proved", "proved", "same"),
])
def test_every_change_kind(a, b, change) -> None:
    assert classify(a, b) == change


def test_b4_format_prints_only_problem_lines() -> None:
    from barcheck.cli.policy import diff_document, render_b4

    def result(prop, verdict, **extra):
        return {"property": prop, "kind": "pair", "page_size": 4096, "verdict": verdict, **extra}
    sides = [("linux-4.8", "linux-4.8", "", [result("a", "proved"), result("b", "proved"), result("c", "proved")]),
             ("p.py", "p", "ff", [result("a", "counterexample", explanation="why"), result("b", "unknown",
                                  reason="out of budget"), result("c", "proved")])]
    doc = diff_document(sides, {})
    assert doc["exit_code"] == 1
    assert render_b4(doc, False) == ("ERROR: barcheck: a (pair, 4K): proved under linux-4.8, counterexample "
                                     "under p: why\nWARNING: barcheck: b (pair, 4K): proved under linux-4.8, "
                                     "unknown under p: out of budget\n")


def test_cache_keys_follow_the_policy_file_bytes(tmp_path: Path) -> None:
    cache = Cache(tmp_path, "z3", "digest")
    job = Job(PAIR, "isolation.window", "patch", 4096, None)
    first = write(tmp_path, "one.py", HEAD + "class P(Linux48):\n    name = 'patch'\n")
    load_policy_file(str(first))
    key_one = cache.key(job)
    forget_user_policies()
    second = write(tmp_path, "two.py", HEAD + "class P(Linux48):\n    name = 'patch'\n    title = 'x'\n")
    load_policy_file(str(second))
    assert cache.key(job) != key_one
    forget_user_policies()
    load_policy_file(str(first))
    assert cache.key(job) == key_one


def test_a_scenario_file_never_loads_code(tmp_path: Path) -> None:
    """Only the command line loads policy files: a scenario naming one gets an unknown policy."""
    marker = tmp_path / "ran"
    evil = write(tmp_path, "evil.py", f"open({str(marker)!r}, 'w').close()\n")
    scenario = (ROOT / "examples" / "any-start-hotplug.toml").read_text()
    scenario = scenario.replace('policy = "linux-4.8"', f'policy = "{evil}"')
    assert str(evil) in scenario
    path = tmp_path / "s.toml"
    path.write_text(scenario)
    code, _, err = run_cli("check", path)
    assert code == 2 and "unknown policy" in err and not marker.exists()


def test_replay_of_a_user_policy_counterexample_needs_its_file(tmp_path: Path) -> None:
    code, _, _ = run_cli("prove", "--policy", ANY_OFFSET, *QUICK, "--format", "json", "--out", tmp_path,
                         "--jobs", "1", "--verdicts-only")
    assert code == 1
    forget_user_policies()
    code, _, err = run_cli("replay", tmp_path / "report.json")
    assert code == 2 and "give its file with --policy-file PATH.py" in err
    code, out, _ = run_cli("replay", tmp_path / "report.json", "--policy-file", ANY_OFFSET)
    assert code == 1 and out.startswith("STILL VIOLATES")


def test_a_policy_file_edited_during_the_run_stops_it_with_a_usage_error(tmp_path: Path) -> None:
    """Workers load the file again and find other bytes than the parent checked: exit 2, no hang."""
    from barcheck.engine.checker import Settings
    from barcheck.cli.util import UsageError
    from barcheck.run.jobs import run_jobs
    path = write(tmp_path, "edited.py", HEAD + "class P(Linux48):\n    name = 'edited'\n")
    load_policy_file(str(path))
    path.write_text(path.read_text() + "# edited\n")
    jobs = [Job(PAIR, "probe.idempotent", "edited", page, Settings()) for page in (4096, 65536)]
    with pytest.raises(UsageError, match="edited.py: the file changed while barcheck was running"):
        run_jobs(jobs, 2)


def test_misuse_on_a_path_the_load_check_missed_stops_the_proof(tmp_path: Path) -> None:
    """The trap stays on while proofs run, in workers too: a signed comparison taken only when the
    parent has three or more other children (trace states; the load-time check builds at most two)
    is an error, never a proof."""
    path = write(tmp_path, "many.py", HEAD + "class P(Linux48):\n    name = 'many'\n"
                 "    def request_dummy(self, ops, req, dummy):\n"
                 "        if len(req.children) >= 3:\n"
                 "            return ops.all_of(super().request_dummy(ops, req, dummy), dummy.first >= req.parent.first)\n"
                 "        return super().request_dummy(ops, req, dummy)\n")
    expected = (f"barcheck: error: --policy: {path}:8: Python `<=` or `>=` on a bit-vector word is a signed "
                f"comparison on bit-vectors; use ops.ule or ops.uge (in: return ops.all_of(super().request_dummy("
                f"ops, req, dummy), dummy.first >= req.parent.first))\n")
    assert run_cli("prove", "--policy", path, "--property", "probe.idempotent", "--page-size", "4K",
                   "--jobs", "1")[0] == 0
    for jobs, pages in (("1", "4K"), ("2", "4K,64K")):
        code, out, err = run_cli("prove", "--policy", path, "--mode", "trace", "--property", "probe.idempotent",
                                 "--page-size", pages, "--jobs", jobs)
        assert (code, out, err) == (2, "", expected)
