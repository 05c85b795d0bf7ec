"""The results matrix of a `barcheck.result/1` document: policies by (property, kind, page size).

Every renderer is a pure function of the document, so the same document gives
byte-identical LaTeX, CSV and Markdown.  A cell holds the verdict and the
check's cost: wall-clock seconds, z3 work units (deterministic), or nothing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from model.units import size_name

TIME_MODES = ("seconds", "work", "none")
FORMATS = {"md": "md", "csv": "csv", "latex": "tex"}
SHORT = {"proved": "proved", "counterexample": "cex", "vacuous": "vacuous", "unknown": "unknown"}
ABSENT = "-"


@dataclass(frozen=True, slots=True)
class Column:
    property: str
    kind: str
    page_size: int

    def heading(self, kinds_of: dict[str, set[str]]) -> str:
        """The property, with its kind where the property id has more than one."""
        return self.property if len(kinds_of[self.property]) == 1 else f"{self.property} [{self.kind}]"


@dataclass(frozen=True, slots=True)
class Matrix:
    policies: list[str]
    columns: list[Column]
    cells: dict[tuple[str, Column], dict[str, Any]]
    kinds_of: dict[str, set[str]]
    meta: dict[str, Any]

    def groups(self) -> list[tuple[str, list[Column]]]:
        """Consecutive columns of one property and kind, with their heading."""
        out: list[tuple[str, list[Column]]] = []
        for column in self.columns:
            heading = column.heading(self.kinds_of)
            if out and out[-1][0] == heading:
                out[-1][1].append(column)
            else:
                out.append((heading, [column]))
        return out


def build(doc: dict[str, Any]) -> Matrix:
    cells: dict[tuple[str, Column], dict[str, Any]] = {}
    kinds_of: dict[str, set[str]] = {}
    for result in doc["results"]:
        column = Column(result["property"], result["kind"], result["page_size"])
        cells[(result["policy"], column)] = result
        kinds_of.setdefault(result["property"], set()).add(result["kind"])
    columns = sorted({column for _, column in cells}, key=lambda c: (c.property, c.kind, c.page_size))
    policies = sorted({policy for policy, _ in cells})
    return Matrix(policies, columns, cells, kinds_of, doc.get("meta", {}))


def cost(result: dict[str, Any], time_mode: str) -> str:
    if time_mode == "seconds" and "seconds" in result:
        return f"{result['seconds']:.2f}s"
    if time_mode == "work":
        return _units(result["solver"]["work"])
    return ""


def _units(work: int) -> str:
    for scale, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if work >= scale:
            return f"{work / scale:.1f}{suffix}"
    return str(work)


def cell_text(matrix: Matrix, policy: str, column: Column, time_mode: str) -> str:
    result = matrix.cells.get((policy, column))
    if result is None:
        return ABSENT
    spent = cost(result, time_mode)
    return SHORT[result["verdict"]] + (f" {spent}" if spent else "")


def stamp(meta: dict[str, Any], time_mode: str) -> str:
    """One deterministic line naming what produced the table."""
    parts = [f"barcheck {meta.get('barcheck_version', '?')}", f"z3 {meta.get('z3_version', '?')}",
             f"seed {meta.get('seed', '?')}", f"rlimit {meta.get('rlimit', '?')}",
             f"width {meta.get('width_bits', '?')} bits"]
    if meta.get("verdicts_only"):
        parts.append("verdicts only")
    if meta.get("inputs_sha256"):
        parts.append(f"model sources sha256 {meta['inputs_sha256'][:16]}")
    parts.append({"seconds": "cells: verdict and wall-clock seconds", "work": "cells: verdict and z3 work units",
                  "none": "cells: verdict"}[time_mode])
    return ", ".join(parts)


def render_markdown(matrix: Matrix, time_mode: str) -> str:
    head = ["policy"] + [f"{c.heading(matrix.kinds_of)} {size_name(c.page_size)}" for c in matrix.columns]
    lines = [f"<!-- {stamp(matrix.meta, time_mode)} -->", "",
             "| " + " | ".join(_md(h) for h in head) + " |", "|" + "---|" * len(head)]
    for policy in matrix.policies:
        row = [f"`{policy}`"] + [cell_text(matrix, policy, c, time_mode) for c in matrix.columns]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", _legend(time_mode)]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _legend(time_mode: str) -> str:
    legend = "proved: holds in the stated scope; cex: a replayed counterexample; vacuous: nothing to prove; " \
             "unknown: the solver gave up; -: not checked."
    return legend + {"seconds": " Times are wall-clock seconds per check.",
                     "work": " Costs are z3 resource units per check (k, M, G: thousands, millions, billions).",
                     "none": ""}[time_mode]


def render_csv(matrix: Matrix, time_mode: str) -> str:
    """Wide CSV: one row per policy, a verdict column (and a cost column) per property, kind and page."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["policy"]
    for c in matrix.columns:
        label = f"{c.property}|{c.kind}|{c.page_size}"
        header.append(f"{label}|verdict")
        if time_mode != "none":
            header.append(f"{label}|{time_mode}")
    writer.writerow(header)
    for policy in matrix.policies:
        row = [policy]
        for c in matrix.columns:
            result = matrix.cells.get((policy, c))
            row.append(result["verdict"] if result else "")
            if time_mode != "none":
                row.append(_raw_cost(result, time_mode))
        writer.writerow(row)
    return out.getvalue()


def _raw_cost(result: dict[str, Any] | None, time_mode: str) -> str:
    if result is None:
        return ""
    if time_mode == "seconds":
        return f"{result['seconds']:.6f}" if "seconds" in result else ""
    return str(result["solver"]["work"])


LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in text)


def _tex_cell(matrix: Matrix, policy: str, column: Column, time_mode: str) -> str:
    result = matrix.cells.get((policy, column))
    if result is None:
        return "--"
    verdict = {"proved": "proved", "counterexample": r"\textbf{cex}", "vacuous": r"\textit{vacuous}",
               "unknown": r"\textit{unknown}"}[result["verdict"]]
    spent = cost(result, time_mode)
    return verdict + (f" {tex(spent)}" if spent else "")


def render_latex(matrix: Matrix, time_mode: str) -> str:
    """A booktabs tabular: a grouped header (property, then page sizes), one row per policy."""
    groups = matrix.groups()
    lines = [f"% {stamp(matrix.meta, time_mode)}", "% needs \\usepackage{booktabs}",
             "\\begin{tabular}{l" + "c" * len(matrix.columns) + "}", "\\toprule"]
    top, rules, position = ["policy"], [], 2
    for heading, columns in groups:
        top.append(f"\\multicolumn{{{len(columns)}}}{{c}}{{{tex(heading)}}}")
        rules.append(f"\\cmidrule(lr){{{position}-{position + len(columns) - 1}}}")
        position += len(columns)
    lines.append(" & ".join(top) + " \\\\")
    lines.append(" ".join(rules))
    lines.append(" & ".join([""] + [tex(size_name(c.page_size)) for c in matrix.columns]) + " \\\\")
    lines.append("\\midrule")
    for policy in matrix.policies:
        row = [f"\\texttt{{{tex(policy)}}}"] + [_tex_cell(matrix, policy, c, time_mode) for c in matrix.columns]
        lines.append(" & ".join(row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


RENDERERS = {"md": render_markdown, "csv": render_csv, "latex": render_latex}


def render(doc: dict[str, Any], fmt: str, time_mode: str) -> str:
    return RENDERERS[fmt](build(doc), time_mode)
