"""`barcheck host` and `barcheck survey` given one hostile input of each class.

host: exit 2 with one clean line on stderr.  survey: the file is skipped and named in one line on
stderr, and the survey goes on (exit 0 with other machines, 3 with none).  Never a traceback,
never exit 70, never a hang.  A FIFO or /dev/zero could hang a regressed build, so those run in
a subprocess with a timeout.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import barcheck.cli.main
import barcheck.cli.host

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "hostdumps"
LSPCI = DATA / "small" / "lspci-features.txt"
IOMEM = DATA / "small" / "iomem-nested.txt"
UNSAFE_CHAR = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
TIMEOUT_SECONDS = 60

ESC_NAME = "  fe000800-fe000fff : \x1b[2J\x1b[H\x1b]0;x\x07NOT ISOLATED\r\n"
HOSTILE = {
    "huge-int": ("lspci", "00:02.0 X\n\tRegion 0: Memory at fe000000 (32-bit, non-prefetchable) "
                          "[size=" + "9" * 5000 + "]\n"),
    "huge-hex": ("iomem", "00000000-" + "f" * 5000 + " : PCI Bus 0000:00\n"),
    "size-2^64": ("lspci", "00:02.0 X\n\tRegion 0: Memory at fe000000 (64-bit, prefetchable) [size=16777216T]\n"),
    "bar-2^64": ("dmesg", "pci 0000:00:02.0: BAR 0 [mem 0x0-0xffffffffffffffff 64bit]\n"),
    "sysfs-2^64": ("sysfs", "/sys/bus/pci/devices/0000:00:02.0/resource:0x0000000000000000 0xffffffffffffffff "
                            "0x0000000000040200\n" + "/sys/bus/pci/devices/0000:00:02.0/resource:0x0000000000000000 "
                            "0x0000000000000000 0x0000000000000000\n" * 6),
    "control-chars": ("lspci", "\x1b[2J\x1b[Hhello\r\n"),
    "binary": ("lspci", "\x7fELF\x02\x01\x01\x00\x00\n"),
}


def run(*argv: str, main=barcheck.cli.host.main) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def assert_one_clean_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2, (code, err)
    assert out == ""
    assert err.startswith("barcheck: error: ") and err.count("\n") == 1 and err.endswith("\n"), repr(err)
    assert "Traceback" not in err and not UNSAFE_CHAR.search(err), repr(err)
    assert len(err) < 600, f"{len(err)} characters"
    for needle in needles:
        assert needle in err, (needle, err)


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    return path


def subprocess_barcheck(*argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("BARCHECK_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "barcheck", *argv], capture_output=True, text=True,
                          timeout=TIMEOUT_SECONDS, env=env, cwd=ROOT)


# --- host: exit 2, one line ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("main", [barcheck.cli.host.main, barcheck.cli.main.main], ids=["cli_host", "cli"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_host_hostile_dump_is_one_clean_line(tmp_path, case, main):
    fmt, text = HOSTILE[case]
    path = write(tmp_path / f"{case}.txt", text)
    assert_one_clean_error(*run("host", f"--{fmt}", str(path), main=main), str(path))


def test_host_over_the_size_limit(tmp_path):
    assert_one_clean_error(*run("host", "--lspci", str(LSPCI), "--max-input-bytes", "1K"),
                           "over the input size limit of 1K", "--max-input-bytes")
    code, out, err = run("host", "--lspci", str(LSPCI), "--max-input-bytes", "64K")
    assert code == 0 and err == "" and "isolation: holds" in out


@pytest.mark.parametrize("value", ["0", "banana", "1" + "0" * 5000, "3T"])
def test_host_bad_size_limit_flag(value):
    assert_one_clean_error(*run("host", "--lspci", str(LSPCI), "--max-input-bytes", value), "--max-input-bytes")


@pytest.mark.parametrize("command", ["host", "survey"])
def test_a_page_size_over_the_int_digit_limit_is_a_usage_error(command):
    target = ["--lspci", str(LSPCI)] if command == "host" else [str(LSPCI)]
    assert_one_clean_error(*run(command, *target, "--page-size", "4K,1" + "0" * 5000), "--page-size", "characters")


def test_host_path_with_control_characters_is_escaped(tmp_path):
    path = write(tmp_path / "lspci\x1b[2J\r.txt", "not a dump\n")
    assert_one_clean_error(*run("host", "--lspci", str(path)), "lspci\\x1b[2J\\x0d.txt")


def test_host_iomem_name_cannot_clear_the_screen_or_fake_a_verdict(tmp_path):
    text = "00000000-ffffffff : PCI Bus 0000:00\n  fe000000-fe0007ff : 0000:00:02.0\n" + ESC_NAME
    path = write(tmp_path / "iomem.txt", text)
    for fmt in ("md", "text"):
        code, out, err = run("host", "--iomem", str(path), "--format", fmt, "--page-size", "4K")
        assert code in (0, 1) and err == ""
        assert not UNSAFE_CHAR.search(out), repr(out)
    assert "shares a page with: \\x1b[2J\\x1b[H\\x1b]0;x\\x07NOT ISOLATED\n" in out
    code, out, _ = run("host", "--iomem", str(path), "--format", "json", "--page-size", "4K")
    assert code in (0, 1) and json.loads(out)["schema"] == "barcheck.host/1"


def test_host_deeply_nested_iomem_is_read(tmp_path):
    """3,000 levels of /proc/iomem nesting: parsed and checked without recursion."""
    depth = 3000
    lines = [f"{'  ' * level}{level:08x}-{0xFFFFFFFF - level:08x} : PCI Bus 0000:{level % 256:02x}"
             for level in range(depth)]
    lines.append(f"{'  ' * depth}{depth:08x}-{depth + 0x7FF:08x} : 0000:00:02.0")
    path = write(tmp_path / "iomem.txt", "\n".join(lines) + "\n")
    code, out, err = run("host", "--iomem", str(path), "--format", "json", "--page-size", "4K")
    assert code in (0, 1) and err == "", err
    assert len(json.loads(out)["bars"]) == 1


@pytest.mark.parametrize("special", ["fifo", "devzero-link", "devzero"])
def test_host_special_files_do_not_hang(tmp_path, special):
    if special == "fifo":
        path = tmp_path / "iomem.txt"
        os.mkfifo(path)
    elif special == "devzero-link":
        path = tmp_path / "lspci.txt"
        path.symlink_to("/dev/zero")
    else:
        path = Path("/dev/zero")
    flag = "--iomem" if special == "fifo" else "--lspci"
    done = subprocess_barcheck("host", flag, str(path))
    assert_one_clean_error(done.returncode, done.stdout, done.stderr, str(path), "not a regular file")


# --- survey: the file is skipped and named; the survey goes on ----------------------------------------------------

def survey_dir(tmp_path: Path, hostile: dict[str, str], good: bool = True) -> Path:
    directory = tmp_path / "dumps"
    directory.mkdir()
    if good:
        write(directory / "good-lspci.txt", LSPCI.read_text())
    for name, text in hostile.items():
        write(directory / name, text)
    return directory


def assert_skipped(code: int, out: str, err: str, names: list[str], machines: int) -> dict:
    assert code == (3 if machines == 0 else 0), (code, err)
    lines = err.splitlines()
    assert len(lines) == len(names), err
    for line, name in zip(lines, sorted(names)):
        assert line.startswith("barcheck: skipped ") and name in line, (name, line)
        assert "Traceback" not in line and not UNSAFE_CHAR.search(line) and len(line) < 600, repr(line)
    doc = json.loads(out)
    assert doc["machines"] == machines
    assert len(doc["skipped"]) == len(names)
    return doc


@pytest.mark.parametrize("main", [barcheck.cli.host.main, barcheck.cli.main.main], ids=["cli_host", "cli"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_survey_skips_a_hostile_dump_and_goes_on(tmp_path, case, main):
    name = f"{case}.txt"
    directory = survey_dir(tmp_path, {name: HOSTILE[case][1]})
    code, out, err = run("survey", str(directory), "--format", "json", "--page-size", "4K", main=main)
    assert_skipped(code, out, err, [name], machines=1)


def test_survey_of_only_hostile_dumps_exits_3(tmp_path):
    names = {f"{case}.txt": text for case, (_, text) in HOSTILE.items()}
    directory = survey_dir(tmp_path, names, good=False)
    code, out, err = run("survey", str(directory), "--format", "json", "--page-size", "4K")
    assert_skipped(code, out, err, list(names), machines=0)


def test_survey_skips_a_dump_over_the_size_limit(tmp_path):
    directory = survey_dir(tmp_path, {"big-lspci.txt": LSPCI.read_text() + "\n" * 2048})
    code, out, err = run("survey", str(directory), "--format", "json", "--page-size", "4K",
                         "--max-input-bytes", str(LSPCI.stat().st_size + 1024))
    doc = assert_skipped(code, out, err, ["big-lspci.txt"], machines=1)
    assert "over the input size limit" in doc["skipped"][0]


def test_survey_text_names_a_file_with_control_characters_escaped(tmp_path):
    directory = survey_dir(tmp_path, {"x\x1b[2J\r\x9b.txt": "\x1b]0;owned\x07junk\n"})
    code, out, err = run("survey", str(directory), "--page-size", "4K")
    assert code == 0
    assert not UNSAFE_CHAR.search(out) and not UNSAFE_CHAR.search(err), (out, err)
    assert "x\\x1b[2J\\x0d\\x9b.txt" in out and "x\\x1b[2J\\x0d\\x9b.txt" in err


def test_survey_parser_bug_is_a_named_skip_with_the_exception_type(tmp_path, monkeypatch):
    import barcheck.host.dump.lspci

    def broken(text, path):
        raise KeyError("simulated")

    monkeypatch.setitem(barcheck.host.dump.PARSERS, "lspci", broken)
    directory = survey_dir(tmp_path, {"iomem.txt": IOMEM.read_text()})
    code, out, err = run("survey", str(directory), "--format", "json", "--page-size", "4K")
    doc = assert_skipped(code, out, err, ["good-lspci.txt"], machines=1)
    assert "KeyError" in doc["skipped"][0] and "barcheck bug" in doc["skipped"][0]
    assert barcheck.host.dump.lspci.parse is not broken


def test_survey_walks_a_deep_tree_without_recursion(tmp_path):
    """Deeper than Python's recursion limit (os.walk() in 3.11 recurses once per level)."""
    directory = tmp_path / "deep"
    current = directory
    depth = sys.getrecursionlimit() + 100
    try:
        for _ in range(depth + 1):
            os.mkdir(current)
            current = current / "d"
    except OSError as err:
        pytest.skip(f"the file system refuses a tree {depth} levels deep: {err}")
    current = current.parent
    write(current / "lspci.txt", LSPCI.read_text())
    try:
        code, out, err = run("survey", str(directory), "--format", "json", "--page-size", "4K")
        assert code == 0 and json.loads(out)["machines"] == 1, err
    finally:
        _remove_deep_tree(current, directory)


def _remove_deep_tree(deepest: Path, top: Path) -> None:
    """shutil.rmtree() (and so pytest's clean-up of old temporary directories) recurses once per level."""
    (deepest / "lspci.txt").unlink(missing_ok=True)
    while True:
        deepest.rmdir()
        if deepest == top:
            return
        deepest = deepest.parent


def test_survey_names_a_symlinked_directory_it_does_not_follow(tmp_path):
    directory = survey_dir(tmp_path, {})
    (directory / "loop").symlink_to(directory)
    code, out, err = run("survey", str(directory), "--format", "json", "--page-size", "4K")
    assert_skipped(code, out, err, ["loop"], machines=1)


def test_survey_with_special_files_does_not_hang(tmp_path):
    directory = survey_dir(tmp_path, {})
    os.mkfifo(directory / "fifo")
    (directory / "zero").symlink_to("/dev/zero")
    done = subprocess_barcheck("survey", str(directory), "--format", "json", "--page-size", "4K")
    doc = assert_skipped(done.returncode, done.stdout, done.stderr, ["fifo", "zero"], machines=1)
    assert "FIFO" in doc["skipped"][0] and "character device" in doc["skipped"][1]


# --- --out: all files or none --------------------------------------------------------------------------------------

def test_survey_out_writes_every_file_or_none(tmp_path, monkeypatch):
    import barcheck.cli.util

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    for name in ("survey.csv", "survey.png"):
        (out_dir / name).write_text(f"previous {name}\n")
    real_replace = os.replace
    calls = []

    def second_rename_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(barcheck.cli.util.os, "replace", second_rename_fails)
    code, out, err = run("survey", str(LSPCI), "--format", "csv", "--plot", "png", "--out", str(out_dir))
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert len(calls) >= 2, "the failure was not simulated"
    assert sorted(os.listdir(out_dir)) == ["survey.csv", "survey.png"]
    for name in ("survey.csv", "survey.png"):
        assert (out_dir / name).read_text() == f"previous {name}\n", name
