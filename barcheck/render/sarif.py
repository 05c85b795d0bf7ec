"""SARIF 2.1.0 for GitHub code scanning, rendered from a `barcheck.result/1` document.

One run, one rule per property, one SARIF result per barcheck result:

| verdict          | kind     | level     |
|------------------|----------|-----------|
| `counterexample` | `fail`   | `error`   |
| `unknown`        | `fail`   | `warning` |
| `vacuous`        | `fail`   | `warning` |
| `proved`         | `pass`   | `none`    |

SARIF 2.1.0 section 3.27.10 allows a level other than `none` only with kind
`fail`, so an inconclusive check is a `fail` at level `warning`: the rule could
not be verified, and that is said out loud.  Proved results are included by
default so that a SARIF viewer shows what was proved as well as what failed.
GitHub code scanning does not document `result.kind` and has been seen to
raise an alert for every result whatever its kind, so `barcheck --format
sarif` passes `include_proved=False` unless asked for passes.

The output is deterministic: results are sorted, nothing depends on the clock
or the machine, and the fingerprint of a result is the SHA-256 of its id.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from model.units import size_name

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "barcheckResult/v1"
SRCROOT = "%SRCROOT%"

# verdict -> (SARIF kind, SARIF level)
KIND_LEVEL = {
    "counterexample": ("fail", "error"),
    "unknown": ("fail", "warning"),
    "vacuous": ("fail", "warning"),
    "proved": ("pass", "none"),
}


def render_sarif(doc: dict, *, include_proved: bool = True) -> str:
    """The SARIF log of `doc` as JSON text (indent 2, ASCII only, trailing newline)."""
    results = sorted(doc["results"], key=_order)
    rules = _rules(results)
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    emitted = [r for r in results if include_proved or r["verdict"] != "proved"]
    meta = doc["meta"]
    version = str(meta["barcheck_version"])
    run = {
        "tool": {"driver": {"name": "barcheck", "version": version, "semanticVersion": version,
                            "rules": rules}},
        "invocations": [{"executionSuccessful": True, "properties": _invocation_properties(meta)}],
        "results": [_result(r, index[r["property"]]) for r in emitted],
    }
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2) + "\n"


def _order(result: dict) -> tuple:
    return (result["property"], result["kind"], result["policy"], result["page_size"], result["id"])


def _kind_level(result: dict) -> tuple[str, str]:
    try:
        return KIND_LEVEL[result["verdict"]]
    except KeyError:
        raise ValueError(f"result {result.get('id')!r} has unknown verdict {result.get('verdict')!r}") from None


def rule_name(property_id: str) -> str:
    """`isolation.window` -> `IsolationWindow`: the readable rule name GitHub shows."""
    return "".join(word[:1].upper() + word[1:] for word in re.split(r"[^0-9A-Za-z]+", property_id))


def _rules(results: list[dict]) -> list[dict]:
    by_property: dict[str, list[dict]] = {}
    for r in results:
        by_property.setdefault(r["property"], []).append(r)
    return [_rule(prop, members) for prop, members in sorted(by_property.items())]


def _rule(property_id: str, members: list[dict]) -> dict:
    # A property checked by several engines (pair, trace) may word its statement per engine.
    statement = "\n\n".join(dict.fromkeys(r["statement"] for r in members))
    help_text = (f"{statement}\n\nEach result names the policy and page size it was checked under. "
                 "A counterexample has been replayed on the concrete semantics; replay a saved "
                 "counterexample against the current model with: barcheck replay <file>")
    return {
        "id": property_id,
        "name": rule_name(property_id),
        "shortDescription": {"text": members[0]["title"]},
        "fullDescription": {"text": statement},
        "help": {"text": help_text},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": sorted({"vfio", property_id.split(".")[0]})},
    }


def _result(result: dict, rule_index: int) -> dict:
    kind, level = _kind_level(result)
    out: dict[str, Any] = {
        "ruleId": result["property"],
        "ruleIndex": rule_index,
        "kind": kind,
        "level": level,
        "message": {"text": message_text(result)},
    }
    location = _location(result.get("source"))
    if location is not None:
        out["locations"] = [location]
    out["partialFingerprints"] = {FINGERPRINT_KEY: fingerprint(result["id"])}
    out["properties"] = _result_properties(result)
    return out


def fingerprint(result_id: str) -> str:
    return hashlib.sha256(result_id.encode("utf-8")).hexdigest()


def message_text(result: dict) -> str:
    where = f"{result['policy']} at {size_name(result['page_size'])}"
    verdict = result["verdict"]
    if verdict == "counterexample":
        return f"{where}: {result['explanation']}"
    if verdict == "proved":
        return f"{where}: {_proved_text(result)}"
    reason = result.get("reason") or "no reason was recorded"
    return f"{where}: {verdict}: {reason}"


def _proved_text(result: dict) -> str:
    used = (result.get("why") or {}).get("assumptions")
    if used is None:
        used = [{"name": name} for name in result.get("assumptions", [])]
    if not used:
        return "proved under no assumptions"
    parts = [f"{a['name']} ({a['text']})" if a.get("text") else a["name"] for a in used]
    noun = "assumption" if len(used) == 1 else "assumptions"
    return f"proved under {len(used)} {noun}: " + "; ".join(parts)


def artifact_location(path: str) -> dict:
    """A relative path resolves against %SRCROOT%; an absolute one becomes a file:// URI."""
    for flavour in (PurePosixPath, PureWindowsPath):
        pure = flavour(path)
        if pure.is_absolute():
            return {"uri": pure.as_uri()}
    relative = path.replace("\\", "/")
    while relative.startswith("./"):
        relative = relative[2:]
    return {"uri": quote(relative, safe="/"), "uriBaseId": SRCROOT}


def _location(source: dict | None) -> dict | None:
    if not source or not source.get("path"):
        return None
    physical: dict[str, Any] = {"artifactLocation": artifact_location(str(source["path"]))}
    if source.get("line") is not None:
        physical["region"] = {"startLine": max(1, int(source["line"]))}
    return {"physicalLocation": physical}


def _result_properties(result: dict) -> dict:
    props: dict[str, Any] = {
        "id": result["id"],
        "policy": result["policy"],
        "page_size": int(result["page_size"]),
        "kind": result["kind"],
        "verdict": result["verdict"],
    }
    for key in ("steps", "facts", "notes"):
        if result.get(key):
            props[key] = list(result[key])
    return props


def _invocation_properties(meta: dict) -> dict:
    keys = ("z3_version", "seed", "rlimit", "width_bits")
    return {key: meta[key] for key in keys if key in meta}
