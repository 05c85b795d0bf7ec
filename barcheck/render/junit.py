"""JUnit XML rendered from a `barcheck.result/1` document, for CI test reporters.

One `<testsuite>` per (property, kind), one `<testcase>` per result:
a counterexample is a `<failure>`, an unknown or vacuous result an `<error>`
(nothing was proved), a proved result passes and lists in `<system-out>` the
assumptions the proof used.  Nothing is ever skipped.

The output is deterministic: sorted, no timestamp or hostname, and a `time`
attribute only where the document recorded `seconds`.  It is pure ASCII
(everything else as character references), so the UTF-8 declaration holds
however the text is written; characters XML 1.0 cannot carry, and the C1
controls it discourages, are dropped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from itertools import groupby

from model.units import size_name

# Outside XML 1.0's Char production (C0 controls but tab/LF/CR, surrogates, U+FFFE/U+FFFF),
# plus DEL and the C1 controls, which XML 1.0 allows but discourages and XML 1.1 restricts.
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\u007e\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def render_junit(doc: dict) -> str:
    """The JUnit XML of `doc`: declaration line, indented XML, trailing newline."""
    results = sorted(doc["results"], key=_suite_key)
    suites = [_suite(key, list(members)) for key, members in groupby(results, key=_suite_key_only)]
    root = ET.Element("testsuites", {"name": "barcheck", **_counts(results)})
    _set_time(root, results)
    root.extend(suites)
    ET.indent(root)
    body = ET.tostring(root, encoding="us-ascii").decode("ascii")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def xml_text(value: object) -> str:
    """`value` as text XML 1.0 can hold: forbidden characters dropped, line ends as LF."""
    text = _NOT_XML_CHAR.sub("", str(value))
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _suite_key_only(result: dict) -> tuple[str, str]:
    return (result["property"], result["kind"])


def _suite_key(result: dict) -> tuple:
    return (result["property"], result["kind"], result["policy"], result["page_size"], result["id"])


def _counts(results: list[dict]) -> dict[str, str]:
    verdicts = [r["verdict"] for r in results]
    for verdict in verdicts:
        if verdict not in ("proved", "counterexample", "unknown", "vacuous"):
            raise ValueError(f"unknown verdict {verdict!r}")
    return {
        "tests": str(len(verdicts)),
        "failures": str(verdicts.count("counterexample")),
        "errors": str(verdicts.count("unknown") + verdicts.count("vacuous")),
        "skipped": "0",
    }


def _set_time(element: ET.Element, results: list[dict]) -> None:
    """A total only when every result has `seconds`: a partial sum would understate it."""
    if results and all(r.get("seconds") is not None for r in results):
        element.set("time", _seconds(sum(float(r["seconds"]) for r in results)))


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def _suite(key: tuple[str, str], members: list[dict]) -> ET.Element:
    prop, kind = key
    suite = ET.Element("testsuite", {"name": xml_text(f"{prop} [{kind}]"), **_counts(members)})
    _set_time(suite, members)
    suite.extend(_case(r) for r in members)
    return suite


def _case(result: dict) -> ET.Element:
    case = ET.Element("testcase", {
        "classname": xml_text(f"barcheck.{result['property']}"),
        "name": xml_text(f"{result['policy']} @ {size_name(result['page_size'])}"),
    })
    if result.get("seconds") is not None:
        case.set("time", _seconds(float(result["seconds"])))
    source = result.get("source") or {}
    if source.get("path"):
        case.set("file", xml_text(source["path"]))
        if source.get("line") is not None:
            case.set("line", str(max(1, int(source["line"]))))
    outcome = _outcome(result)
    if outcome is not None:
        case.append(outcome)
    out = _system_out(result)
    if out:
        ET.SubElement(case, "system-out").text = xml_text(out)
    return case


def _outcome(result: dict) -> ET.Element | None:
    verdict = result["verdict"]
    if verdict == "counterexample":
        failure = ET.Element("failure", {"message": xml_text(result["explanation"]), "type": "counterexample"})
        failure.text = xml_text(_failure_body(result))
        return failure
    if verdict in ("unknown", "vacuous"):
        reason = result.get("reason") or "no reason was recorded"
        error = ET.Element("error", {"message": xml_text(reason), "type": verdict})
        error.text = xml_text(reason)
        return error
    return None


def _failure_body(result: dict) -> str:
    lines = [result["explanation"]]
    for heading in ("steps", "facts"):
        if result.get(heading):
            lines += ["", f"{heading}:"] + [f"  {item}" for item in result[heading]]
    return "\n".join(lines)


def _system_out(result: dict) -> str:
    lines: list[str] = []
    if result["verdict"] == "proved":
        why = result.get("why") or {}
        used = why.get("assumptions")
        if used is None:
            used = [{"name": name} for name in result.get("assumptions", [])]
        lines.append(f"proved under {len(used)} assumption{'' if len(used) == 1 else 's'}"
                     + (":" if used else ""))
        lines += [f"  {a['name']}: {a['text']}" if a.get("text") else f"  {a['name']}" for a in used]
        if why.get("scope"):
            lines.append(f"scope: {why['scope']}")
    if result.get("notes"):
        lines += ["notes:"] + [f"  {note}" for note in result["notes"]]
    return "\n".join(lines)
