"""The SVG address maps and the HTML report: valid markup, the drawing rules, escaping, determinism."""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from barcheck.render.html import page_label, render_cex_svgs, render_html
from barcheck.render.svg import render_map

SVG_NS = "{http://www.w3.org/2000/svg}"
KIB = 1 << 10
MIB = 1 << 20
HOSTILE = '<script>alert(1)</script> "onload=x'


# ----------------------------------------------------------------------------- fixtures


def block(role: str, label: str, start: int, end: int) -> dict:
    return {"role": role, "label": label, "start": hex(start), "end": hex(end)}


def pair_map() -> dict:
    """A 16-byte BAR sharing a 64K page with a foreign BAR, under a 1 MiB bridge window."""
    return {"title": "BAR and its neighbour at 64K pages", "page_size": hex(64 * KIB), "blocks": [
        block("window", "PCI Bus 0000:01", 0xfe000000, 0xfe000000 + MIB - 1),
        block("bar", "0000:01:00.0 BAR0", 0xfe000000, 0xfe00000f),
        block("foreign", "0000:01:00.1 BAR0", 0xfe000010, 0xfe00001f),
        block("dummy", "vfio sub-page reserved", 0xfe000020, 0xfe00ffff),
        block("mapping", "mmap window", 0xfe000000, 0xfe00ffff)]}


def trace_maps() -> list[dict]:
    page = hex(4 * KIB)
    boot = [block("window", "PCI Bus 0000:01", 0xfe800000, 0xfe9fffff),
            block("device", "0000:00:03.0 BAR0", 0xfe000000, 0xfe0000ff),
            block("bar", "0000:01:01.0 BAR0", 0xfe800000, 0xfe8000ff)]
    opened = boot + [block("dummy", "vfio sub-page reserved", 0xfe800100, 0xfe800fff),
                     block("mapping", "mmap window", 0xfe800000, 0xfe800fff)]
    rescanned = [b for b in opened if b["role"] != "dummy"] + [
        block("foreign", "0000:01:02.0 BAR0", 0xfe800100, 0xfe8001ff),
        block("table", "MSI-X table", 0xfe800080, 0xfe8000ff),
        block("request", "mmap request", 0xfe801000, 0xfe801fff)]
    return [{"title": "boot", "page_size": page, "blocks": boot},
            {"title": "step 1: open 0000:01:01.0", "page_size": page, "blocks": opened},
            {"title": "step 2: rescan PCI Bus 0000:01", "page_size": page, "blocks": rescanned}]


def base_result(result_id: str, prop: str, kind: str, policy: str, page_size: int, verdict: str) -> dict:
    return {"id": result_id, "property": prop, "title": f"title of {prop}", "statement": f"statement of {prop}",
            "kind": kind, "policy": policy, "page_size": page_size, "verdict": verdict,
            "scope": {"bounded": False, "width_bits": 64}, "assumptions": [], "seconds": 0.25,
            "solver": {"z3_version": "5.4.0", "seed": 0, "rlimit": 400000000, "work": 1234},
            "source": {"path": "model/policies/linux.py", "line": 12}}


def pair_cex() -> dict:
    result = base_result("dummy-no-leak-pair-linux-4-8-64k", "dummy.no-leak", "pair", "linux-4.8",
                         64 * KIB, "counterexample")
    result.update(explanation="Under linux-4.8 at 64K pages the mmap of BAR0 reaches the foreign BAR at 0xfe000010.",
                  maps=[pair_map()],
                  facts=["BAR      mem32 BAR 0 [0xfe000000-0xfe00000f] size 0x10",
                         "foreign  mem32 BAR 0 [0xfe000010-0xfe00001f] size 0x10"])
    return result


def trace_cex() -> dict:
    result = base_result("hotplug-trace-linux-4-8-4k", "hotplug.no-placement-in-mapped-page", "trace",
                         "linux-4.8", 4 * KIB, "counterexample")
    result.pop("seconds")  # optional in the schema
    result.update(explanation="After a rescan the new device is placed in the page still mapped by userspace.",
                  maps=trace_maps(),
                  steps=["1. open 0000:01:01.0: vfio reserves the rest of the page",
                         "2. rescan PCI Bus 0000:01: 0000:01:02.0 BAR0 is placed at 0xfe800100",
                         "3. the mapping of 0000:01:01.0 now reaches 0000:01:02.0 BAR0"])
    return result


def proved() -> dict:
    result = base_result("dummy-no-leak-pair-linux-6-10-4k", "dummy.no-leak", "pair", "linux-6.10",
                         4 * KIB, "proved")
    result["assumptions"] = ["pci.bar-size-pow2"]
    result["why"] = {"scope": "all 64-bit placements of a BAR and a foreign resource",
                     "assumptions": [{"name": "pci.bar-size-pow2", "text": "a BAR's size is a power of two"}]}
    return result


def unknown() -> dict:
    result = base_result("dummy-no-leak-pair-linux-6-10-64k", "dummy.no-leak", "pair", "linux-6.10",
                         64 * KIB, "unknown")
    result["reason"] = "the solver ran out of its work budget"
    return result


def vacuous() -> dict:
    result = base_result("dummy-no-leak-pair-linux-4-8-4k", "dummy.no-leak", "pair", "linux-4.8", 4 * KIB, "vacuous")
    result["reason"] = "no BAR is ever mmappable under this policy"
    return result


def result_doc() -> dict:
    return {"schema": "barcheck.result/1",
            "meta": {"barcheck_version": "0.1.0", "z3_version": "5.4.0", "seed": 0, "rlimit": 400000000,
                     "width_bits": 64, "policies": ["linux-4.8", "linux-6.10"],
                     "properties": ["dummy.no-leak", "hotplug.no-placement-in-mapped-page"],
                     "page_sizes": [4096, 65536],
                     "assumption_text": {"pci.bar-size-pow2": "a BAR's size is a power of two"}},
            "results": [vacuous(), pair_cex(), proved(), unknown(), trace_cex()],
            "sweeps": [{"property": "dummy.no-leak", "kind": "pair", "policy": "linux-4.8", "flips_at": 65536,
                        "changes": [], "sentence": "linux-4.8 leaks from 64K pages on"}],
            "measures": [{"policy": "linux-4.16", "page_size": 4096, "bar_size": "0x1000", "min_bytes": "0x1000",
                          "max_bytes": "0x1000", "certified": "proved"}]}


# ----------------------------------------------------------------------------- helpers


def parse_svg(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == f"{SVG_NS}svg"
    assert {"width", "height", "viewBox"} <= set(root.attrib)
    return root


def rects(root: ET.Element, role: str) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG_NS}rect") if r.get("class") == f"block {role}"]


def only_rect(root: ET.Element, role: str) -> ET.Element:
    found = rects(root, role)
    assert len(found) == 1, found
    return found[0]


def texts(root: ET.Element, cls: str | None = None) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG_NS}text") if cls is None or t.get("class") == cls]


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class StrictHTML(HTMLParser):
    """Every non-void element closed in order; no stray end tags, no unknown declarations."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.doctype = ""
        self.ids: list[str] = []
        self.hrefs: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def unknown_decl(self, data: str) -> None:
        self.errors.append(f"unknown declaration {data!r}")

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.note(attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.note(attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self.errors.append(f"end tag for void element {tag}")
        elif not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()

    def note(self, attrs: list) -> None:
        self.ids += [value for name, value in attrs if name == "id"]
        self.hrefs += [value for name, value in attrs if name == "href"]


def check_html(text: str) -> StrictHTML:
    parser = StrictHTML()
    parser.feed(text)
    parser.close()
    assert parser.errors == []
    assert parser.stack == [], f"unclosed: {parser.stack}"
    assert parser.doctype.lower() == "doctype html"
    assert len(parser.ids) == len(set(parser.ids)), "duplicate ids"
    return parser


def test_strict_checker_catches_unbalanced_markup():
    parser = StrictHTML()
    parser.feed("<div><p>text</div>")
    assert parser.errors


# ----------------------------------------------------------------------------- SVG


def test_map_is_valid_svg_with_title():
    root = parse_svg(render_map(pair_map()))
    assert "BAR and its neighbour at 64K pages" in texts(root, "title")
    assert root.find(f"{SVG_NS}title").text == "BAR and its neighbour at 64K pages"


def test_ruler_labels_page_boundaries():
    ruler = texts(parse_svg(render_map(pair_map())), "tick")
    assert {"0xfe000000", "0xfe010000"} <= set(ruler)
    assert ruler[0] == "0xfdff0000" and ruler[-1] == "0xfe020000"  # one page of context each side


def test_dummy_is_hatched_with_a_pattern():
    root = parse_svg(render_map(pair_map()))
    pattern = root.find(f"{SVG_NS}defs/{SVG_NS}pattern")
    assert pattern is not None
    assert only_rect(root, "dummy").get("fill") == f"url(#{pattern.get('id')})"


def test_foreign_is_highlighted():
    foreign = only_rect(parse_svg(render_map(pair_map())), "foreign")
    assert foreign.get("stroke") == "#d00000" and int(foreign.get("stroke-width")) >= 3


def test_mapping_is_a_dashed_outline_over_the_bar_lanes():
    root = parse_svg(render_map(pair_map()))
    mapping, bar = only_rect(root, "mapping"), only_rect(root, "bar")
    assert mapping.get("fill") == "none" and mapping.get("stroke-dasharray")
    top, bottom = int(mapping.get("y")), int(mapping.get("y")) + int(mapping.get("height"))
    assert top < int(bar.get("y")) and int(bar.get("y")) + int(bar.get("height")) <= bottom
    assert int(mapping.get("x")) <= int(bar.get("x"))


def test_request_is_dashed_in_another_colour():
    root = parse_svg(render_map(trace_maps()[2]))
    request, mapping = only_rect(root, "request"), only_rect(root, "mapping")
    assert request.get("fill") == "none" and request.get("stroke-dasharray")
    assert request.get("stroke") != mapping.get("stroke")


def test_sixteen_byte_block_is_visible_and_titled():
    root = parse_svg(render_map(pair_map()))
    bar = only_rect(root, "bar")
    assert int(bar.get("width")) >= 3
    assert bar.find(f"{SVG_NS}title").text == "0000:01:00.0 BAR0 [0xfe000000-0xfe00000f] size 0x10"


def test_overlapping_blocks_get_separate_lanes():
    root = parse_svg(render_map(pair_map()))
    bar, foreign = only_rect(root, "bar"), only_rect(root, "foreign")
    # Both are 3 px slivers at the same x: they must not share a row.
    assert bar.get("y") != foreign.get("y")


def test_window_is_clipped_with_a_continuation_marker():
    root = parse_svg(render_map(pair_map()))
    window = only_rect(root, "window")
    assert int(window.get("width")) <= 2 * 150
    assert root.find(f".//{SVG_NS}polygon[@class='continues']") is not None


def test_only_windows_are_drawn_whole():
    doc = {"title": "windows", "page_size": "0x1000", "blocks": [block("window", "bus", 0x10000, 0x1ffff)]}
    root = parse_svg(render_map(doc))
    ticks = texts(root, "tick")
    assert ticks[0] == "0x10000" and ticks[-1] == "0x20000"
    assert root.find(f".//{SVG_NS}polygon[@class='continues']") is None


def test_block_at_the_top_of_the_address_space():
    doc = {"title": "top", "page_size": "0x1000", "blocks": [
        block("bar", "top BAR", 0xfffffffffffffff0, 0xffffffffffffffff),
        block("window", "root", 0, (1 << 64) - 1)]}
    root = parse_svg(render_map(doc))
    assert int(only_rect(root, "bar").get("width")) >= 3
    assert texts(root, "tick")[-1] == "2^64"


def test_far_apart_blocks_are_separated_by_a_break():
    root = parse_svg(render_map(trace_maps()[0]))
    breaks = [g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "break"]
    assert len(breaks) == 1
    assert "≈" in "".join(texts(breaks[0]))
    assert int(root.get("width")) <= 1600


def test_huge_interval_is_compressed_with_sparse_ticks():
    doc = {"title": "1 GiB BAR", "page_size": "0x1000", "blocks": [block("bar", "big", 0x40000000, 0x7fffffff)]}
    root = parse_svg(render_map(doc))
    assert int(root.get("width")) <= 1400
    assert 2 <= len(texts(root, "tick")) <= 20


def test_ruler_labels_never_overlap():
    blocks = [block("device", f"d{n}", (n * 37 + 5) << 20, ((n * 37 + 5) << 20) + 15) for n in range(12)]
    root = parse_svg(render_map({"title": "spread", "page_size": "0x1000", "blocks": blocks}))
    labels = [(int(t.get("y")), int(t.get("x")), len(t.text)) for t in root.iter(f"{SVG_NS}text")
              if t.get("class") == "tick"]
    assert labels[0][1] == min(x for _, x, _ in labels) and labels[-1][1] == max(x for _, x, _ in labels)
    for row in {y for y, _, _ in labels}:
        spans = sorted((x - 7 * n // 2, x + 7 * n // 2) for y, x, n in labels if y == row)
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:])), spans


def test_neighbouring_pages_share_an_interval():
    doc = {"title": "near", "page_size": "0x1000", "blocks": [
        block("bar", "a", 0x10000, 0x1000f), block("device", "b", 0x12000, 0x1200f)]}
    root = parse_svg(render_map(doc))
    assert not [g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "break"]


def test_legend_lists_roles_present():
    legend = texts(parse_svg(render_map(trace_maps()[2])))
    for role in ("window", "bar", "device", "foreign", "mapping", "table", "request"):
        assert any(t.startswith(f"{role}: ") for t in legend), role
    assert not any(t.startswith("dummy: ") for t in legend)


def test_unknown_role_is_rejected():
    doc = pair_map()
    doc["blocks"].append(block("bogus", "x", 0, 1))
    with pytest.raises(ValueError, match="bogus"):
        render_map(doc)


def test_empty_map_renders():
    parse_svg(render_map({"title": "boot", "page_size": "0x1000", "blocks": []}))


def test_map_is_deterministic():
    assert render_map(pair_map()) == render_map(copy.deepcopy(pair_map()))
    for doc in trace_maps():
        assert render_map(doc) == render_map(copy.deepcopy(doc))


def test_svg_escapes_labels_and_title():
    doc = pair_map()
    doc["title"] = HOSTILE
    for b in doc["blocks"]:
        b["label"] = HOSTILE
    text = render_map(doc)
    root = parse_svg(text)
    assert "<script" not in text and '"onload' not in text
    assert "&lt;script&gt;" in text and "&quot;onload=" in text
    assert root.find(f"{SVG_NS}title").text == HOSTILE


# ----------------------------------------------------------------------------- HTML


def test_page_label():
    assert [page_label(n) for n in (4096, 65536, 1 << 20, 1 << 30)] == ["4K", "64K", "1M", "1G"]


def test_html_files_and_structure():
    doc = result_doc()
    files = render_html(doc)
    assert list(files) == ["report.html", "dummy-no-leak-pair-linux-4-8-64k-1.svg",
                           "hotplug-trace-linux-4-8-4k-1.svg", "hotplug-trace-linux-4-8-4k-2.svg",
                           "hotplug-trace-linux-4-8-4k-3.svg"]
    for name, svg in files.items():
        if name.endswith(".svg"):
            parse_svg(svg)
    page = files["report.html"]
    parser = check_html(page)
    assert '<html lang="en">' in page and '<meta charset="utf-8">' in page
    assert "<script" not in page
    assert not [h for h in parser.hrefs if h.startswith(("http:", "https:", "//"))]
    for href in (h for h in parser.hrefs if h.startswith("#")):
        assert href[1:] in parser.ids, href


def test_html_matrix_links_every_result():
    doc = result_doc()
    page = render_html(doc)["report.html"]
    matrix = page[page.index('<section id="matrix">'):page.index('<section id="counterexamples">')]
    for result in doc["results"]:
        assert f'href="#{result["id"]}"' in matrix
    assert 'class="v-counterexample"' in matrix and 'class="v-proved"' in matrix


def test_html_counterexample_sections():
    files = render_html(result_doc())
    page = files["report.html"]
    assert '<section id="dummy-no-leak-pair-linux-4-8-64k" class="result cex">' in page
    assert "dummy.no-leak [pair] · linux-4.8 · 64K" in page
    assert "reaches the foreign BAR at 0xfe000010" in page
    assert "BAR      mem32 BAR 0 [0xfe000000-0xfe00000f]" in page
    assert page.index("1. open 0000:01:01.0") < page.index("2. rescan") < page.index("3. the mapping")
    for n in (1, 2, 3):
        name = f"hotplug-trace-linux-4-8-4k-{n}.svg"
        assert f'href="{name}"' in page
        assert files[name].rstrip("\n") in page  # the same SVG is inlined
    assert page.count("<svg ") == 4
    assert "time not recorded" in page  # the trace result has no `seconds`


def test_html_why_and_undecided():
    page = render_html(result_doc())["report.html"]
    assert "Why it holds" in page and "a BAR&#x27;s size is a power of two" in page
    assert "all 64-bit placements of a BAR and a foreign resource" in page
    assert "UNKNOWN: the solver ran out of its work budget" in page
    assert "VACUOUS: no BAR is ever mmappable under this policy" in page
    assert "linux-4.8 leaks from 64K pages on" in page and "certified" in page


def test_html_is_deterministic():
    assert render_html(result_doc()) == render_html(result_doc())


def test_render_cex_svgs_names_files():
    assert list(render_cex_svgs(trace_cex())) == [f"hotplug-trace-linux-4-8-4k-{n}.svg" for n in (1, 2, 3)]


def test_unsafe_result_id_is_rejected():
    result = pair_cex()
    result["id"] = "../evil"
    with pytest.raises(ValueError, match="filename-safe"):
        render_cex_svgs(result)


def test_html_escapes_everything_from_the_document():
    doc = result_doc()
    for result in doc["results"]:
        result["policy"] = HOSTILE
        result["title"] = HOSTILE
        result["explanation"] = HOSTILE
        result["reason"] = HOSTILE
        for map_doc in result.get("maps", []):
            map_doc["title"] = HOSTILE
            for b in map_doc["blocks"]:
                b["label"] = HOSTILE
        result.get("steps", []).append(HOSTILE)
    doc["meta"]["policies"] = [HOSTILE]
    files = render_html(doc)
    page = files["report.html"]
    check_html(page)
    assert "<script" not in page and '"onload' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &quot;onload=x" in page
    for name, svg in files.items():
        if name.endswith(".svg"):
            assert "<script" not in svg
            parse_svg(svg)
    assert not re.search(r"<[^>]*\sonload=", page)


def test_wide_matrix_splits_into_one_table_per_property():
    doc = result_doc()
    policies = [f"policy-{n}" for n in range(7)]
    doc["results"] = [base_result(f"p-{prop[0]}-{policy}-{size}", prop, "pair", policy, size, "proved")
                      for prop in ("alpha.one", "beta.two") for policy in policies for size in (4096, 65536)]
    page = render_html(doc)["report.html"]
    check_html(page)
    matrix = page[page.index('<section id="matrix">'):page.index('<section id="proved">')]
    assert matrix.count('<table class="matrix">') == 2
    assert "<h3>alpha.one</h3>" in matrix and "<h3>beta.two</h3>" in matrix
    for result in doc["results"]:
        assert f'href="#{result["id"]}"' in matrix
