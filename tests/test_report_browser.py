"""The HTML report in a real browser (Debian's headless Chromium), and escaping of user-controlled strings.

The screenshot is kept as an artefact in artifacts/report-screenshot.png
(BARCHECK_ARTIFACTS overrides the directory).  Without Chromium the browser
tests skip, except under CI=true, where scripts/install-chromium must have
installed it.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from barcheck.cli.main import main
from barcheck.render.formats import render_doc
from browser import find_chromium, find_colour, load_page, png_stats

ROOT = Path(__file__).resolve().parents[1]
SAVED = ROOT / "tests" / "data" / "saved-cex"
ARTIFACTS = Path(os.environ.get("BARCHECK_ARTIFACTS", ROOT / "artifacts"))
FOREIGN_FILL = (0xFB, 0xCF, 0xCF)
META = {"barcheck_version": "0.1.0", "z3_version": "5.4.0", "seed": 0, "rlimit": 400000000, "width_bits": 64,
        "policies": [], "properties": [], "page_sizes": [4096], "assumption_text": {}}

MARKUP_SCENARIO = """
name = "esc<script>console.error('pwned-name')</script>"
description = "markup \\" & <b>bold</b>"
policy = "linux-4.8"
page_sizes = ["4K"]
firmware = "linux"

[[host_bridge]]
name = "pci<img src=x onerror=console.error('pwned-bridge')>"
window = ["0xfe000000", "0xfebfffff"]

[[fixed]]
name = "<script>console.error('pwned-fixed')</script>\\"onload=\\"x"
parent = "pci<img src=x onerror=console.error('pwned-bridge')>"
range = ["0xfe000100", "0xfe0001ff"]

[[device]]
address = "0000:00:03.0"
parent = "pci<img src=x onerror=console.error('pwned-bridge')>"
bars = [{ index = 0, size = "256", start = "0xfe000000" }]

[[event]]
do = "open"
device = "0000:00:03.0"
expect_mmap = true
"""


def chromium_or_skip() -> None:
    if find_chromium() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no Chromium: .ci/run runs scripts/install-chromium first")
        pytest.skip("no Chromium (install it with scripts/install-chromium)")


def saved_document() -> dict:
    results = [json.loads(p.read_text())["result"] for p in sorted(SAVED.glob("*.json"))]
    return {"schema": "barcheck.result/1", "meta": META, "results": results}


def write(files: dict[str, str], directory: Path) -> Path:
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory / next(iter(files))


def test_report_renders_without_errors_and_shows_the_maps():
    chromium_or_skip()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = write(render_doc("html", saved_document(), "report"), ARTIFACTS)
    shot = ARTIFACTS / "report-screenshot.png"
    report = load_page(page, shot, width=1280, height=2000)
    assert report.console_errors == []
    assert report.resources == [], "the report must be self-contained"
    maps = sum(len(json.loads(p.read_text())["result"]["maps"]) for p in SAVED.glob("*.json"))
    assert len(report.visible_svgs) >= maps >= 5
    assert all(s["width"] > 200 and s["height"] > 60 for s in report.visible_svgs)
    stats = png_stats(shot)
    assert stats["non_white_fraction"] > 0.05 and stats["distinct_colours"] > 20
    assert find_colour(shot, FOREIGN_FILL, tolerance=6).count > 50, "no leaking block visible in the screenshot"


def test_committed_catalogue_page_renders_without_errors(tmp_path):
    chromium_or_skip()
    report = load_page(ROOT / "reports" / "html" / "report.html", tmp_path / "catalogue.png",
                       width=1280, height=1200, full_page=False)
    assert report.console_errors == [] and report.resources == []
    assert report.visible_svgs


def check_html(tmp_path: Path) -> Path:
    scenario = tmp_path / "markup.toml"
    scenario.write_text(MARKUP_SCENARIO)
    out, err = io.StringIO(), io.StringIO()
    code = main(["check", str(scenario), "--format", "html", "--out", str(tmp_path / "out")], out, err)
    assert code == 1, err.getvalue()
    return tmp_path / "out" / "check.html"


def test_user_strings_are_escaped_in_html_and_svg(tmp_path):
    page = check_html(tmp_path)
    texts = [page.read_text()] + [p.read_text() for p in page.parent.glob("*.svg")]
    assert len(texts) >= 2, "the counterexample must have maps"
    joined = "\n".join(texts)
    assert "<script" not in joined.lower() and "<img" not in joined and "<b>bold" not in joined
    assert "console.error('pwned" not in joined
    assert "&lt;script&gt;" in joined and "&lt;img src=x" in joined


def test_markup_in_user_strings_runs_nothing_in_the_browser(tmp_path):
    chromium_or_skip()
    page = check_html(tmp_path)
    report = load_page(page, tmp_path / "markup.png", width=1280, height=1200, full_page=False)
    assert not [e for e in report.console_errors if "pwned" in e]
    assert report.console_errors == [] and report.visible_svgs
