"""The self-test's figures as a document (JSON) and as text; the verdict of the whole harness."""

from __future__ import annotations

import json
from typing import Any

from barcheck.selftest.agreement import WIDTH_BITS
from barcheck.selftest.run import UNKNOWN, Outcome
from model.units import size_name

SCHEMA = "barcheck.selftest/1"
PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"


def _percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "n/a"


def mutants_doc(kills: list) -> dict[str, Any]:
    rows = []
    for k in kills:
        m = k.mutant
        status = "killed" if k.killed else ("equivalent" if m.equivalent else
                                            ("unknown" if k.unknown else "survived"))
        row = {"mutant": m.slug, "policy": m.policy.name, "base": m.base, "aspect": m.aspect, "bug": m.bug,
               "status": status, "expected_killer": m.expect, "attempts": len(k.attempts)}
        if k.killed:
            killer = k.killer
            row["killed_by"] = {"kind": killer.kind, "property": killer.property,
                                "page_size": size_name(killer.page_size), "expected": killer.property == m.expect}
            row["counterexample"] = k.explanation
        if m.equivalent:
            row["equivalent_reason"] = m.equivalent
        if status == "equivalent" or status == "survived":
            row["tried"] = sorted({f"{a.kind} {a.property}" for a in k.attempts})
        rows.append(row)
    killable = [r for r in rows if r["status"] != "equivalent"]
    killed = sum(r["status"] == "killed" for r in killable)
    wrongly_equivalent = [r["mutant"] for r in rows if r["status"] == "killed" and "equivalent_reason" in r]
    return {"total": len(rows), "killed": killed, "killable": len(killable),
            "equivalent": sum(r["status"] == "equivalent" for r in rows),
            "survived": sum(r["status"] == "survived" for r in rows),
            "unknown": sum(r["status"] == "unknown" for r in rows),
            "kill_rate": _percent(killed, len(killable)), "declared_equivalent_but_killed": wrongly_equivalent,
            "mutants": rows}


def agreement_doc(results: list) -> dict[str, Any]:
    agreeing = sum(a.agrees for a in results)
    verdicts: dict[str, int] = {}
    for a in results:
        verdicts[a.enumerated.value] = verdicts.get(a.enumerated.value, 0) + 1
    return {"width_bits": WIDTH_BITS, "cases": len(results), "agree": agreeing,
            "agreement": _percent(agreeing, len(results)),
            "scenarios_enumerated": sum(a.scenarios for a in results),
            "verdicts": dict(sorted(verdicts.items())),
            "disagreements": [{"property": a.case.property, "policy": a.case.policy,
                               "page_size": a.case.page_bytes, "detail": a.detail}
                              for a in results if not a.agrees]}


def coverage_doc(covered: list) -> dict[str, Any]:
    by_property: dict[str, dict[str, Any]] = {}
    for c in covered:
        entry = by_property.setdefault(c.property, {"kind": c.kind, "checks": 0, "witnessed": 0, "unreachable": [],
                                                    "unknown": [], "witness": None})
        entry["checks"] += 1
        where = f"{c.policy} {size_name(c.page_size)}"
        if c.status == "sat":
            entry["witnessed"] += 1
            if entry["witness"] is None:
                entry["witness"] = {"policy": c.policy, "page_size": size_name(c.page_size),
                                    "fields": {k: (v if isinstance(v, bool) else hex(v))
                                               for k, v in sorted(c.witness.items())}}
        elif c.status == UNKNOWN:
            entry["unknown"].append(where)
        else:
            entry["unreachable"].append(where)
    reached = sum(1 for e in by_property.values() if e["witnessed"])
    return {"properties": len(by_property), "reached": reached,
            "checks": len(covered), "witnessed": sum(c.status == "sat" for c in covered),
            "unreachable": sum(c.status == "unsat" for c in covered),
            "unknown": sum(c.status == UNKNOWN for c in covered),
            "by_property": dict(sorted(by_property.items()))}


def fuzz_doc(results: list) -> dict[str, Any]:
    return {"inputs": sum(r.inputs for r in results), "crashes": sum(len(r.crashes) for r in results),
            "targets": [{"target": r.target, "inputs": r.inputs, "accepted": r.accepted, "refused": r.refused,
                         "crashes": [{"error": c.error, "input": c.input_text} for c in r.crashes[:5]]}
                        for r in results]}


def limits_doc(results: list) -> dict[str, Any]:
    return {"checks": len(results), "unknown": sum(r.verdict == UNKNOWN for r in results),
            "results": [{"engine": r.engine, "check": r.check, "verdict": r.verdict} for r in results]}


BUILDERS = {"mutants": mutants_doc, "agreement": agreement_doc, "coverage": coverage_doc, "fuzz": fuzz_doc,
            "limits": limits_doc}


def document(outcome: Outcome, seed: int, timings: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {"schema": SCHEMA, "seed": seed}
    for name, results in outcome.sections.items():
        doc[name] = BUILDERS[name](results)
    doc["verdict"] = verdict(doc)
    if timings:
        doc["seconds"] = {**outcome.seconds, "total": round(sum(outcome.seconds.values()), 1)}
    return doc


def verdict(doc: dict[str, Any]) -> str:
    failed = [
        "mutants" in doc and (doc["mutants"]["survived"] or doc["mutants"]["declared_equivalent_but_killed"]),
        "agreement" in doc and doc["agreement"]["agree"] != doc["agreement"]["cases"],
        "coverage" in doc and doc["coverage"]["reached"] != doc["coverage"]["properties"],
        "fuzz" in doc and doc["fuzz"]["crashes"],
        "limits" in doc and doc["limits"]["unknown"] != doc["limits"]["checks"],
    ]
    if any(failed):
        return FAIL
    unknown = ("mutants" in doc and doc["mutants"]["unknown"]) or ("coverage" in doc and doc["coverage"]["unknown"])
    return INCONCLUSIVE if unknown else PASS


def render_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def render_text(doc: dict[str, Any]) -> str:
    lines = [f"barcheck selftest (seed {doc['seed']}): {doc['verdict'].upper()}"]
    if "mutants" in doc:
        lines += _mutant_lines(doc["mutants"])
    if "agreement" in doc:
        a = doc["agreement"]
        lines.append(f"agreement: {a['agree']} of {a['cases']} solver/enumeration cases agree ({a['agreement']}), "
                     f"{a['width_bits']}-bit width, {a['scenarios_enumerated']} valid scenarios enumerated "
                     f"({', '.join(f'{n} {v}' for v, n in a['verdicts'].items())})")
        lines += [f"  DISAGREE {d['property']} {d['policy']} page {d['page_size']}: {d['detail']}"
                  for d in a["disagreements"]]
    if "coverage" in doc:
        lines += _coverage_lines(doc["coverage"])
    if "fuzz" in doc:
        f = doc["fuzz"]
        parts = ", ".join(f"{t['target']} {t['inputs']} ({t['accepted']} accepted, {t['refused']} refused)"
                          for t in f["targets"])
        lines.append(f"fuzz: {f['inputs']} inputs, {f['crashes']} crashes: {parts}")
        lines += [f"  CRASH {t['target']}: {c['error']}" for t in f["targets"] for c in t["crashes"]]
    if "limits" in doc:
        li = doc["limits"]
        lines.append(f"limits: {li['unknown']} of {li['checks']} engines answer UNKNOWN when starved of solver work "
                     f"(rlimit 1)")
        lines += [f"  NOT UNKNOWN {r['check']}: {r['verdict']}" for r in li["results"] if r["verdict"] != UNKNOWN]
    if "seconds" in doc:
        lines.append("seconds: " + ", ".join(f"{k} {v}" for k, v in doc["seconds"].items()))
    return "\n".join(lines) + "\n"


def _mutant_lines(m: dict[str, Any]) -> list[str]:
    lines = [f"mutants: {m['killed']} of {m['killable']} killed ({m['kill_rate']}), {m['equivalent']} equivalent, "
             f"{m['survived']} survived, {m['unknown']} unknown ({m['total']} mutants)"]
    for row in m["mutants"]:
        head = f"  {row['status'].upper():10} {row['mutant']} ({row['base']})"
        if row["status"] == "killed":
            k = row["killed_by"]
            note = "" if k["expected"] else f", not by the expected {row['expected_killer']}"
            lines.append(f"{head}: {k['kind']} {k['property']} at {k['page_size']}{note}")
            lines.append(f"             bug: {row['bug']}")
            lines.append(f"             counterexample: {row['counterexample']}")
        else:
            lines.append(f"{head}: {row['bug']}")
            if "equivalent_reason" in row:
                lines.append(f"             equivalent: {row['equivalent_reason']}")
            lines.append(f"             tried: {', '.join(row['tried'])}")
    if m["declared_equivalent_but_killed"]:
        lines.append(f"  declared equivalent but killed: {', '.join(m['declared_equivalent_but_killed'])}")
    return lines


def _coverage_lines(c: dict[str, Any]) -> list[str]:
    lines = [f"coverage: {c['reached']} of {c['properties']} properties have a reachable antecedent; "
             f"{c['witnessed']} of {c['checks']} checks have a replayed witness, {c['unreachable']} are "
             f"unreachable (VACUOUS), {c['unknown']} unknown"]
    for prop_id, e in c["by_property"].items():
        w = e["witness"]
        where = f"e.g. {w['policy']} {w['page_size']}: " + " ".join(f"{k}={v}" for k, v in w["fields"].items()) \
            if w else "NO WITNESS"
        lines.append(f"  {prop_id} ({e['kind']}): {e['witnessed']}/{e['checks']}; {where}")
        if e["unreachable"]:
            lines.append(f"    unreachable: {', '.join(e['unreachable'])}")
    return lines
