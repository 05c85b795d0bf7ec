"""Replay checks what it is told: a saved counterexample's labels must agree with its witness and
with every place its body records them, and `explain` and `export-test` print what replaying the
witness gives, never the file's own text.

The labels are `property`, `policy`, `page_size` (and `kind`, `id`); the body records them in the
witness (`replay`), `scope`, `counterexample` or `trace`, and the file's `meta`.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from hostile_values import tree_copy
from barcheck.cli.main import main
from barcheck.render.explain import id_of

ROOT = Path(__file__).resolve().parents[1]
CEX = ROOT / "reports" / "counterexamples"
VMA = json.loads((CEX / "revoke.complete.trace.linux-4.8.4K.json").read_text())
PAIR = json.loads((CEX / "mmap.subpage-available.pair.linux-4.8.4K.json").read_text())
TRACE = json.loads((CEX / "probe.idempotent.trace.v3-per-bar.4K.json").read_text())
RECORD = json.loads((CEX / "msix.table-protected.function.linux-4.16.4K.json").read_text())
ROUND_TRIP = json.loads((CEX / "pgoff.round-trip.function.linux-6.10.4K.json").read_text())


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def saved(tmp_path: Path, doc: dict, edit=None, name: str = "cex.json") -> Path:
    doc = tree_copy(doc)
    if edit:
        edit(doc)
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def relabel(doc: dict, policy: str) -> None:
    """The same inputs asked of another policy, every label saying so."""
    result = doc["result"]
    result["policy"] = result["replay"]["policy"] = policy
    result["id"] = id_of(result["property"], result["kind"], policy, result["page_size"])


def test_the_issue_a_linux_4_8_witness_labelled_linux_6_10_is_invalid_input(tmp_path):
    path = saved(tmp_path, VMA, lambda d: d["result"].update(policy="linux-6.10"))
    code, out, err = run("replay", str(path))
    assert code == 2 and out == ""
    assert "result.policy: 'linux-6.10' disagrees with result.replay.policy 'linux-4.8'" in err
    assert err.count("\n") == 1


def test_replay_prints_the_policy_it_ran(tmp_path):
    code, out, _ = run("replay", str(saved(tmp_path, VMA)))
    assert code == 1 and out.startswith("STILL VIOLATES     revoke.complete [trace] · linux-4.8 · 4K: ")
    asked = saved(tmp_path, VMA, lambda d: relabel(d, "linux-5.8"), "asked.json")
    code, out, _ = run("replay", str(asked))
    assert code == 0 and out.startswith("NO LONGER VIOLATES revoke.complete [trace] · linux-5.8 · 4K: ")
    assert "linux-4.8" not in out


def _set(path: tuple, value):
    def edit(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


DISAGREEMENTS = [
    ("outer property", VMA, _set(("result", "property"), "pgoff.region-of-vma"),
     "result.property: 'pgoff.region-of-vma' disagrees with result.replay.property 'revoke.complete'"),
    ("outer page size", VMA, _set(("result", "page_size"), 16384),
     "result.page_size: 0x4000 disagrees with result.replay.page_size 0x1000"),
    ("outer kind", PAIR, _set(("result", "kind"), "trace"), "result.kind: 'trace' disagrees"),
    ("witness policy", PAIR, _set(("result", "replay", "policy"), "linux-4.7"),
     "result.policy: 'linux-4.8' disagrees with result.replay.policy 'linux-4.7'"),
    ("witness page size", TRACE, _set(("result", "replay", "page_size"), "0x4000"),
     "result.replay.initial.page_bytes: 0x1000 disagrees with result.replay.page_size 0x4000"),
    ("id", RECORD, _set(("result", "id"), "msix.table-protected.function.linux-6.10.4K"),
     "result.id: 'msix.table-protected.function.linux-6.10.4K' disagrees with the id of its labels"),
    ("scope page size", RECORD, _set(("result", "scope", "page_size"), 65536),
     "result.scope.page_size: 0x10000 disagrees with result.replay.page_size 0x1000"),
    ("scope width", VMA, _set(("result", "scope", "width_bits"), 32), "result.scope.width_bits: 0x20 disagrees"),
    ("scope granule", PAIR, _set(("result", "scope", "window_granule"), "0x100000"),
     "result.scope.window_granule: 0x100000 disagrees with result.replay.shape.window_granule_bytes 0x1000"),
    ("pinned BAR address", PAIR, _set(("result", "counterexample", "bar", "start"), "0xfe001800"),
     "result.counterexample.bar.start: 0xfe001800 disagrees with the witness, which gives 0xfe000000"),
    ("foreign relation", PAIR, _set(("result", "counterexample", "foreign", "relation"), "outside-parent"),
     "result.counterexample.foreign.relation: 'outside-parent' disagrees with the witness, which gives "
     "'existing-sibling'"),
    ("counterexample page size", PAIR, _set(("result", "counterexample", "page_size"), "0x10000"),
     "result.counterexample.page_size: 0x10000 disagrees"),
    ("trace property", VMA, _set(("result", "trace", "property"), "pgoff.region-of-vma"),
     "result.trace.property: 'pgoff.region-of-vma' disagrees with result.replay.property 'revoke.complete'"),
    ("trace page size", TRACE, _set(("result", "trace", "page_size"), "0x10000"), "result.trace.page_size: 0x10000"),
    ("trace placement", TRACE, _set(("result", "trace", "placement"), "any-free"),
     "result.trace.placement: 'any-free' disagrees with result.replay.placement 'first-fit'"),
    ("record fields", RECORD, _set(("result", "trace", "fields", "table_offset"), "0x4"),
     "result.trace.fields.table_offset: '0x4' disagrees with result.replay.fields.table_offset"),
    ("round-trip size", ROUND_TRIP, _set(("result", "trace", "bar", "size"), "0x10000000000"),
     "result.trace.bar.size: 0x10000000000 disagrees with result.replay.size 0x20000000000"),
    ("vma page shift", VMA, _set(("result", "replay", "initial", "page_shift"), "0xe"),
     "result.replay.initial.page_shift: 0xe disagrees with the shift of result.replay.page_size 0xc"),
    ("pair page bytes", PAIR, _set(("result", "replay", "scenario", "page_bytes"), "0x4000"),
     "result.replay.scenario.page_bytes: 0x4000 disagrees with result.replay.page_size 0x1000"),
    ("meta policies", PAIR, lambda d: relabel(d, "my-patch"), "meta.policies: does not list my-patch"),
    ("meta width", PAIR, _set(("meta", "width_bits"), 32), "meta.width_bits: 0x20 disagrees"),
]


@pytest.mark.parametrize("doc, edit, needle", [c[1:] for c in DISAGREEMENTS], ids=[c[0] for c in DISAGREEMENTS])
def test_labels_and_body_that_disagree_are_invalid_input(tmp_path, doc, edit, needle):
    path = saved(tmp_path, doc, edit)
    for command in ("replay", "explain", "export-test"):
        extra = ("--out", str(tmp_path / "out")) if command == "export-test" else ()
        code, out, err = run(command, str(path), *extra)
        assert code == 2 and out == "" and err.count("\n") == 1, (command, err)
        assert needle in err, (command, err)


def test_explain_renders_from_the_witness_not_from_edited_text(tmp_path):
    original = run("explain", str(saved(tmp_path, PAIR, name="original.json")))[1]
    lie = "All clear: nothing reaches another device."

    def edit(doc):
        doc["result"]["explanation"] = lie
        doc["result"]["facts"] = ["window   nothing mapped"]
        doc["result"]["counterexample"]["outcome"]["mmappable"] = True
        doc["result"]["title"] = doc["result"]["statement"] = "edited"

    code, out, err = run("explain", str(saved(tmp_path, PAIR, edit, "original.json")))
    assert code == 0 and err == ""
    assert lie not in out and "nothing mapped" not in out and "edited" not in out
    assert out.startswith(original.rstrip("\n"))
    assert "note: the file's explanation, facts, counterexample, title, statement differ" in out


def test_explain_of_edited_trace_steps_prints_the_replayed_steps(tmp_path):
    def edit(doc):
        doc["result"]["steps"] = ["1. nothing happens"]
        doc["result"]["explanation"] = "fine"

    code, out, _ = run("explain", "--format", "md", str(saved(tmp_path, VMA, edit)))
    assert code == 0 and "nothing happens" not in out and "fine" not in out.split("\n")[2]
    assert "3. clear PCI_COMMAND_MEMORY of 0000:01:00.0" in out


def test_explain_says_when_the_inputs_no_longer_violate(tmp_path):
    path = saved(tmp_path, VMA, lambda d: relabel(d, "linux-5.8"))
    code, out, _ = run("explain", str(path))
    assert code == 0 and out.startswith("NO LONGER VIOLATES revoke.complete [trace] · linux-5.8 · 4K")
    assert VMA["result"]["explanation"] not in out and "Under linux-4.8" not in out


def test_export_test_writes_the_replayed_sentence(tmp_path):
    lie = "Harmless."
    path = saved(tmp_path, RECORD, lambda d: d["result"].update(explanation=lie))
    code, out, err = run("export-test", str(path), "--out", str(tmp_path / "t"))
    assert code == 0 and err == ""
    (test_file,) = (tmp_path / "t").glob("test_*.py")
    text = test_file.read_text()
    assert lie not in text and RECORD["result"]["explanation"][:60] in text


def test_a_forged_boot_state_is_not_a_valid_input(tmp_path):
    """A trace that starts in a state no boot reaches proves nothing about the policy."""
    busy = saved(tmp_path, VMA, _set(("result", "replay", "initial", "opened", 1), True), "vma.json")
    code, out, _ = run("replay", str(busy))
    assert code == 3 and out.startswith("INVALID INPUT") and "boot.idle" in out
    probed = saved(tmp_path, TRACE, _set(("result", "replay", "initial", "mmap_ok", 0), True), "trace.json")
    code, out, _ = run("replay", str(probed))
    assert code == 3 and out.startswith("INVALID INPUT") and "boot.idle" in out
    overlapping = saved(tmp_path, TRACE, _set(("result", "replay", "initial", "start", 2), "0xfe800000"), "t2.json")
    code, out, _ = run("replay", str(overlapping))
    assert code in (2, 3), out


def test_a_forged_trace_cannot_refute_a_proved_property(tmp_path):
    """linux-5.8 proves revoke.complete.  A witness that starts with a live, unlisted mapping would,
    replayed from that state, show PTEs surviving mem-off: a forged counterexample.  It is refused."""
    def forge(doc):
        relabel(doc, "linux-5.8")
        for key in ("trace", "steps", "maps"):
            doc["result"].pop(key)
        initial = doc["result"]["replay"]["initial"]
        for name, value in (("opened", True), ("mem_on", True), ("d0", True)):
            initial[name][0] = value
        for name, value in (("mapped", True), ("pte_live", True), ("listed", False), ("vm_pgoff", "0xfe002"),
                            ("vma_pages", "0x1"), ("offset_pages", "0x0"), ("pte_first", "0xfe002"),
                            ("pte_last", "0xfe002")):
            initial[name][1] = value
        doc["result"]["replay"]["moves"] = [{"event": {"kind": "mem-off", "target": "0x0"},
                                             "choice": {"offset_pages": "0x0", "pages": "0x1"}}]

    code, out, _ = run("replay", str(saved(tmp_path, VMA, forge)))
    assert code == 3, out
    assert out.startswith("INVALID INPUT      revoke.complete [trace] · linux-5.8 · 4K: the boot state breaks")
