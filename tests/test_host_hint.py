"""The checked pci=resource_alignment= suggestion: per BAR, and one parameter for all devices at once."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from barcheck.cli.host import main

QEMU = Path(__file__).resolve().parent / "data" / "hostdumps" / "qemu"
X86 = QEMU / "6.1.0-56-amd64"


def host_json(*argv: str) -> dict:
    out, err = io.StringIO(), io.StringIO()
    code = main(["host", *argv, "--format", "json"], out, err)
    assert code == 0, err.getvalue()
    return json.loads(out.getvalue())


@pytest.mark.parametrize("inputs", [("--iomem", str(X86 / "iomem-root.txt")),
                                    ("--lspci", str(X86 / "lspci-vvv.txt"), "--iomem", str(X86 / "iomem-root.txt")),
                                    ("--sysfs", str(X86 / "sysfs-resource.txt"))],
                         ids=["iomem", "lspci+iomem", "sysfs"])
def test_joint_parameter_moves_every_small_bar_of_the_named_devices_to_its_own_page(inputs):
    doc = host_json(*inputs, "--page-size", "64K")
    page = 65536
    joint = doc["summary"][0]["kernel_parameter"]
    named = sorted(entry.split("@")[1] for entry in joint["parameter"].split("=", 2)[2].split(";"))
    hinted = sorted({bar["device"] for bar in doc["bars"] if bar["pages"][0]["resource_alignment"]})
    assert named == hinted and named
    small = [bar for bar in doc["bars"] if bar["device"] in named and int(bar["size"], 16) < page]
    assert len(joint["placements"]) == len(small)
    starts = sorted(int(p["start"], 16) for p in joint["placements"])
    assert all(start % page == 0 for start in starts)
    assert all(b - a >= page for a, b in zip(starts, starts[1:])), "two grown BARs share a page"
    others = [(int(bar["start"], 16), int(bar["start"], 16) + int(bar["size"], 16) - 1)
              for bar in doc["bars"] if bar["device"] not in named]
    for start in starts:
        assert all(last < start or first > start + page - 1 for first, last in others)


def test_single_bar_hint_is_page_sized_and_names_the_smaller_order_it_rejected():
    doc = host_json("--lspci", str(X86 / "lspci-vvv.txt"), "--iomem", str(X86 / "iomem-root.txt"),
                    "--page-size", "16K")
    hints = [(bar, bar["pages"][0]["resource_alignment"]) for bar in doc["bars"]
             if bar["pages"][0]["resource_alignment"]]
    assert hints
    for bar, hint in hints:
        assert hint["order"] == 14 and hint["parameter"] == f"pci=resource_alignment=14@{bar['device']}"
        assert int(hint["placed_at"], 16) % 16384 == 0
        assert "order 13 is not enough" in hint["reason"]
        assert bar["pages"][0]["mmappable"]["linux-4.8"] is False


def test_no_hint_when_disabled_or_when_every_bar_is_mmappable():
    doc = host_json("--sysfs", str(X86 / "sysfs-resource.txt"), "--hint-policy", "none")
    assert all(page["resource_alignment"] is None for bar in doc["bars"] for page in bar["pages"])
    assert all(row["kernel_parameter"] is None for row in doc["summary"])
