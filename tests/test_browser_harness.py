"""The headless-Chromium harness (tests/browser.py) on small pages, and its PNG decoder.

Without Chromium the browser tests are skipped with the reason, except under CI=true, where
they fail: CI installs it with scripts/install-chromium.  The PNG tests need no browser."""

from __future__ import annotations

import os
import struct
import time
import zlib
from pathlib import Path

import pytest

from browser import (
    BrowserError,
    decode_png,
    find_chromium,
    find_colour,
    load_page,
    png_stats,
    region_has_colour,
)

DATA = Path(__file__).resolve().parent / "data" / "browser"
FIXTURE = DATA / "fixture.html"
RED = "#d62728"

ERROR_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>error page</title></head>
<body><p>before the script</p>
<script>console.error("boom"); throw new Error("bang")</script>
</body></html>
"""

MISSING_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>missing resource</title></head>
<body><p>an image that is not there:</p><img src="no-such-image.png" alt="missing" width="10" height="10">
</body></html>
"""

# Four SVGs a person cannot see, and one they can: the visibility check must tell them apart.
HIDDEN_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>hidden svgs</title></head>
<body>
<svg id="none" style="display:none" width="50" height="50"><rect width="50" height="50" fill="#d62728"/></svg>
<svg id="hidden" style="visibility:hidden" width="50" height="50"><rect width="50" height="50" fill="#d62728"/></svg>
<svg id="offscreen" style="position:absolute; left:-5000px; top:0" width="50" height="50"><rect width="50" height="50"/></svg>
<svg id="empty" width="0" height="0"></svg>
<svg id="shown" aria-label="shown" width="50" height="50"><rect width="50" height="50" fill="#2ca02c"/></svg>
</body></html>
"""

# Never reaches the load event: the harness must give up at its timeout and kill the browser.
HANG_PAGE = """<!DOCTYPE html><html><head><title>hang</title></head>
<body><script>for (;;) {}</script></body></html>
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no Chromium on this CI machine: .ci/run must run scripts/install-chromium "
                        "(or set BARCHECK_CHROMIUM)", pytrace=False)
        override = os.environ.get("BARCHECK_CHROMIUM")
        pytest.skip(f"BARCHECK_CHROMIUM={override!r} is not an executable" if override
                    else "no Chromium found (run scripts/install-chromium or set BARCHECK_CHROMIUM)")
    return path


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pages")
    for name, text in (("error.html", ERROR_PAGE), ("missing.html", MISSING_PAGE),
                       ("hidden.html", HIDDEN_PAGE), ("hang.html", HANG_PAGE)):
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def fixture_report(chromium, tmp_path_factory):
    shot = tmp_path_factory.mktemp("shots") / "fixture.png"
    return load_page(FIXTURE, shot, width=1024, height=768, chromium=chromium)


# ----------------------------------------------------------------------------- the fixture page


def test_fixture_renders_without_errors(fixture_report):
    assert fixture_report.console_errors == []
    assert fixture_report.resources == [], "the fixture is self-contained"
    assert fixture_report.failed_requests == []
    assert fixture_report.title == "barcheck browser fixture"
    assert "Chrom" in fixture_report.chromium_version
    assert fixture_report.url == FIXTURE.as_uri()


def test_fixture_svg_is_visible(fixture_report):
    [svg] = fixture_report.svgs
    assert svg["visible"], svg
    assert (svg["id"], svg["aria_label"], svg["title"]) == ("chart", "red block chart", "red block chart")
    assert (svg["width"], svg["height"]) == (320, 160)
    assert svg["display"] != "none" and svg["visibility"] == "visible"
    assert svg["in_document"] and svg["on_page"] and svg["top_level"]
    assert 0 <= svg["x"] < 1024 and 0 <= svg["y"] < 768


def test_fixture_screenshot_shows_the_red_block(fixture_report, tmp_path_factory):
    shot = fixture_report.screenshot
    assert shot.is_file() and shot.read_bytes().startswith(b"\x89PNG")
    stats = png_stats(shot)
    assert (stats["width"], stats["height"]) == (1024, 768)  # the page fits the viewport
    assert stats["distinct_colours"] > 5  # text anti-aliasing, grey panel, red, blue
    assert 0.005 < stats["non_white_fraction"] < 0.5
    # The red rect is 120x80 at (20, 20) inside the SVG: find exactly it in the screenshot.
    [svg] = fixture_report.svgs
    match = find_colour(shot, RED, tolerance=8)
    x0, y0 = round(svg["x"]) + 20, round(svg["y"]) + 20
    assert match.bbox == (x0, y0, x0 + 120, y0 + 80), match
    assert match.count >= 120 * 80 * 0.95
    assert region_has_colour(shot, RED, region=(x0, y0, 120, 80), min_pixels=120 * 80 * 0.95)
    assert not region_has_colour(shot, RED, region=(0, y0 + 100, 1024, 768))


# ----------------------------------------------------------------------------- the checks are not vacuous


def test_script_errors_are_reported(chromium, pages, tmp_path):
    report = load_page(pages / "error.html", tmp_path / "error.png", width=640, height=480, chromium=chromium)
    joined = "\n".join(report.console_errors)
    assert any(e.startswith("console.error: boom") for e in report.console_errors), joined
    assert any(e.startswith("uncaught exception: Error: bang") for e in report.console_errors), joined
    assert len(report.console_errors) == 2, joined
    assert (tmp_path / "error.png").is_file()


def test_missing_resource_is_reported(chromium, pages, tmp_path):
    report = load_page(pages / "missing.html", tmp_path / "missing.png", width=640, height=480, chromium=chromium)
    missing = (pages / "no-such-image.png").as_uri()
    assert any("ERR_FILE_NOT_FOUND" in e and missing in e for e in report.console_errors), report.console_errors
    assert report.resources == [missing]
    assert report.failed_requests == [f"net::ERR_FILE_NOT_FOUND {missing}"]


def test_hidden_svgs_are_not_visible(chromium, pages, tmp_path):
    report = load_page(pages / "hidden.html", tmp_path / "hidden.png", width=640, height=480, chromium=chromium)
    assert report.console_errors == []
    visible = {svg["id"]: svg["visible"] for svg in report.svgs}
    assert visible == {"none": False, "hidden": False, "offscreen": False, "empty": False, "shown": True}
    assert [svg["id"] for svg in report.visible_svgs] == ["shown"]
    # The hidden red SVGs left no red in the picture; the shown green one is there.
    assert not region_has_colour(report.screenshot, RED)
    assert region_has_colour(report.screenshot, "#2ca02c", min_pixels=50 * 50)


def _live_members(pgid: int) -> list[int]:
    """Processes (not zombies) in process group `pgid`."""
    live = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(entry.name))
    return live


def test_timeout_kills_the_browser(chromium, pages, tmp_path):
    start = time.monotonic()
    with pytest.raises(BrowserError, match="timed out") as caught:
        load_page(pages / "hang.html", tmp_path / "hang.png", width=320, height=240, timeout_s=2.5, chromium=chromium)
    assert time.monotonic() - start < 15
    assert "chromium" in str(caught.value)  # says which browser and shows its stderr tail
    pid = caught.value.pid
    assert pid
    deadline = time.monotonic() + 5
    while _live_members(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _live_members(pid) == []
    assert not (tmp_path / "hang.png").exists()


def test_missing_page_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_page(tmp_path / "nope.html", tmp_path / "nope.png")


# ----------------------------------------------------------------------------- no browser needed


def test_find_chromium_honours_the_override(monkeypatch, tmp_path):
    fake = tmp_path / "my-chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("BARCHECK_CHROMIUM", str(fake))
    assert find_chromium() == str(fake)
    monkeypatch.setenv("BARCHECK_CHROMIUM", str(tmp_path / "absent"))
    assert find_chromium() is None  # a broken override is not silently replaced by another browser


def _encode_png(path: Path, width: int, height: int, channels: int, pixels: bytes, filters: list[int]) -> None:
    """A PNG whose row y uses filter filters[y % len(filters)] (a reference encoder for the decoder)."""
    stride = width * channels
    raw = bytearray()
    prior = bytes(stride)
    for y in range(height):
        row = pixels[y * stride:(y + 1) * stride]
        kind = filters[y % len(filters)]
        out = bytearray()
        for i, value in enumerate(row):
            a = row[i - channels] if i >= channels else 0
            b = prior[i]
            c = prior[i - channels] if i >= channels else 0
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out.append((value - pred) & 0xFF)
        raw += bytes([kind]) + out
        prior = row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    data = zlib.compress(bytes(raw))
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0))
                     + chunk(b"IDAT", data[:20]) + chunk(b"IDAT", data[20:])  # split: chunks must be joined
                     + chunk(b"IEND", b""))


@pytest.mark.parametrize("channels", [3, 4])
def test_png_decoder_undoes_every_filter(tmp_path, channels):
    import random

    rng = random.Random(7)
    width, height = 37, 25
    pixels = bytes(rng.randrange(256) for _ in range(width * height * channels))
    path = tmp_path / "all-filters.png"
    _encode_png(path, width, height, channels, pixels, [0, 1, 2, 3, 4, 4, 3, 2, 1])
    png = decode_png(path)
    assert (png.width, png.height, png.channels) == (width, height, channels)
    assert b"".join(png.rows) == pixels


def test_png_stats_and_colour_search(tmp_path):
    width, height = 40, 20
    white, red = b"\xff\xff\xff", bytes.fromhex("d62728")
    pixels = bytearray(white * width * height)
    for y in range(5, 9):  # a 10x4 red block at (12, 5)
        for x in range(12, 22):
            pixels[(y * width + x) * 3:(y * width + x) * 3 + 3] = red
    path = tmp_path / "block.png"
    _encode_png(path, width, height, 3, bytes(pixels), [1, 2, 4])
    stats = png_stats(path)
    assert (stats["width"], stats["height"], stats["distinct_colours"]) == (40, 20, 2)
    assert stats["non_white_fraction"] == pytest.approx(40 / 800)
    assert stats["common_colours"][:2] == ["#ffffff", RED]
    match = find_colour(path, RED, tolerance=0)
    assert (match.count, match.bbox) == (40, (12, 5, 22, 9))
    assert region_has_colour(path, (214, 39, 40), region=(12, 5, 1, 1))
    assert not region_has_colour(path, RED, region=(0, 0, 12, 20))
    assert not region_has_colour(path, "#00ff00", tolerance=50)

    blank = tmp_path / "blank.png"
    _encode_png(blank, width, height, 4, b"\xff\xff\xff\xff" * width * height, [0])
    blank_stats = png_stats(blank)
    assert blank_stats["non_white_fraction"] == 0 and blank_stats["distinct_colours"] == 1


def test_png_decoder_rejects_what_it_cannot_read(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"GIF89a")
    with pytest.raises(ValueError, match="not a PNG"):
        decode_png(bad)
