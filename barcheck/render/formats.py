"""The formats rendered from the result document: SARIF, JUnit XML and HTML with its SVG maps."""

from __future__ import annotations

from typing import Any

from barcheck.render.junit import render_junit
from barcheck.render.sarif import render_sarif

DOC_FORMATS = ("html", "junit", "sarif")
EXTENSIONS = {"junit": "junit.xml", "sarif": "sarif"}


def render_doc(fmt: str, doc: dict[str, Any], stem: str, include_proved: bool = False) -> dict[str, str]:
    """Files to write, by name: `{stem}.sarif`, `{stem}.junit.xml`, or `{stem}.html` and its .svg maps."""
    if fmt == "sarif":
        return {f"{stem}.sarif": render_sarif(doc, include_proved=include_proved)}
    if fmt == "junit":
        return {f"{stem}.junit.xml": render_junit(doc)}
    if fmt == "html":
        from barcheck.render.html import render_html
        files = render_html(doc)
        page = files.pop("report.html")
        return {f"{stem}.html": page, **dict(sorted(files.items()))}
    raise ValueError(f"unknown document format {fmt!r}")
