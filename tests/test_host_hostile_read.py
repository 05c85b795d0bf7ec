"""Reading hostile input files (barcheck/inputs/safe_read.py) and escaping what they say (barcheck/inputs/textsafe.py)."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

import barcheck.inputs.safe_read as safe_read
from barcheck.host.dump import DumpError, load
from barcheck.host.dump.common import decimal_number, hex_number, lspci_size
from barcheck.inputs.safe_read import (DEFAULT_MAX_INPUT_BYTES, InputFileError, InputTooLarge, parse_max_bytes,
                                read_regular_file)
from barcheck.inputs.textsafe import escape_control, escape_control_lines, excerpt

DATA = Path(__file__).resolve().parent / "data" / "hostdumps"
LSPCI = DATA / "small" / "lspci-features.txt"


# --- escape_control ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,shown", [
    ("\x1b[2J\x1b[HNOT ISOLATED", "\\x1b[2J\\x1b[HNOT ISOLATED"),
    ("a\rb\nc\td", "a\\x0db\\x0ac\\x09d"),
    ("\x00\x07\x08\x7f", "\\x00\\x07\\x08\\x7f"),
    ("\x85\x9b31m", "\\x85\\x9b31m"),
    ("x\u2028y\u202egnp.exe", "x\\u2028y\\u202egnp.exe"),
])
def test_escape_control_makes_every_control_character_visible(raw, shown):
    assert escape_control(raw) == shown


@pytest.mark.parametrize("text", ["plain ASCII: [0xfe000000-0xfe000fff] 4K", "Gerät für µs · ünïcödé",
                                  "中文 日本語", "emoji \U0001f600", "back\\slash \\x1b stays"])
def test_escape_control_leaves_printable_text_alone(text):
    assert escape_control(text) == text


def test_escaping_twice_is_escaping_once():
    raw = "".join(chr(c) for c in range(0x00, 0xA0)) + "\u2028\u202e"
    once = escape_control(raw)
    assert escape_control(once) == once
    assert all(c.isprintable() for c in once)


def test_escape_control_lines_keeps_only_line_breaks():
    assert escape_control_lines("one\x1b[K\ntwo\r\n") == "one\\x1b[K\ntwo\\x0d\n"


def test_excerpt_cuts_and_escapes():
    assert excerpt("9" * 5000, 10) == "'9999999999...' (5000 characters)"
    assert excerpt("a\x1bb") == "'a\\x1bb'"


# --- read_regular_file -----------------------------------------------------------------------------------------

def test_a_regular_file_is_read_whole():
    assert read_regular_file(str(LSPCI)) == LSPCI.read_bytes()


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    done = []
    worker = threading.Thread(target=lambda: done.append(_error_of(str(fifo))), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert done, "reading a FIFO blocked"
    assert "FIFO" in done[0] and "not a regular file" in done[0]


def _error_of(path: str, max_bytes: int = DEFAULT_MAX_INPUT_BYTES) -> str:
    try:
        read_regular_file(path, max_bytes)
    except InputFileError as err:
        return str(err)
    raise AssertionError(f"{path} was read")


def test_dev_zero_and_a_symlink_to_it_are_refused(tmp_path):
    link = tmp_path / "lspci.txt"
    link.symlink_to("/dev/zero")
    for path in ("/dev/zero", str(link)):
        assert "character device" in _error_of(path)


def test_a_socket_and_a_directory_are_refused(tmp_path):
    path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        assert "socket" in _error_of(str(path))
    finally:
        server.close()
    assert "is a directory" in _error_of(str(tmp_path))


def test_missing_file_and_nul_in_the_path(tmp_path):
    assert "No such file" in _error_of(str(tmp_path / "absent"))
    assert "cannot read" in _error_of("dump\0.txt")


def test_over_the_limit_by_its_size(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 2049)
    with pytest.raises(InputTooLarge) as err:
        read_regular_file(str(path), 2048)
    assert "2049 bytes" in str(err.value) and "2K (2048 bytes)" in str(err.value)
    assert read_regular_file(str(path), 2049) == b"x" * 2049


def test_the_default_limit_refuses_a_sparse_file_without_reading_it(tmp_path):
    path = tmp_path / "sparse.txt"
    with open(path, "wb") as handle:
        handle.truncate(DEFAULT_MAX_INPUT_BYTES + 1)
    assert "over the input size limit of 64M" in _error_of(str(path))


def test_the_limit_holds_when_the_size_says_zero(tmp_path, monkeypatch):
    """/proc files report st_size 0: the bytes read are counted, not the size believed."""
    path = tmp_path / "proc-like"
    path.write_bytes(b"y" * 5000)
    real_fstat = os.fstat

    def zero_size(fd):
        info = real_fstat(fd)
        return os.stat_result((info.st_mode, info.st_ino, info.st_dev, info.st_nlink, info.st_uid, info.st_gid, 0,
                               info.st_atime, info.st_mtime, info.st_ctime))

    monkeypatch.setattr(safe_read.os, "fstat", zero_size)
    with pytest.raises(InputTooLarge):
        read_regular_file(str(path), 4096)
    assert read_regular_file(str(path), 5000) == b"y" * 5000


def test_a_path_with_control_characters_is_escaped_in_the_error(tmp_path):
    path = tmp_path / "evil\x1b[2J\r.txt"
    os.mkfifo(path)
    message = _error_of(str(path))
    assert "\x1b" not in message and "\r" not in message and "evil\\x1b[2J\\x0d.txt" in message


@pytest.mark.parametrize("text,value", [("64M", 64 << 20), ("1G", 1 << 30), ("4096", 4096), ("0x1000", 4096),
                                        ("1T", 1 << 40)])
def test_parse_max_bytes(text, value):
    assert parse_max_bytes(text) == value


@pytest.mark.parametrize("text", ["0", "2T", "-1", "lots", "1" + "0" * 5000, "9" * 39, "64M\x1b"])
def test_parse_max_bytes_refuses(text):
    with pytest.raises(ValueError) as err:
        parse_max_bytes(text)
    assert "\x1b" not in str(err.value) and len(str(err.value)) < 200


# --- numbers in dumps ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,value", [("ffffffffffffffff", (1 << 64) - 1), ("0x" + "0" * 40 + "1", 1),
                                        ("0000000000000000fe000000", 0xFE000000)])
def test_hex_numbers_up_to_64_bits(text, value):
    assert hex_number(text, "d.txt", 3, "start") == value


@pytest.mark.parametrize("text", ["10000000000000000", "f" * 5000, "0x1" + "0" * 16])
def test_hex_numbers_beyond_64_bits_are_a_dump_error(text):
    with pytest.raises(DumpError) as err:
        hex_number(text, "d.txt", 3, "start")
    assert str(err.value).startswith("d.txt:3: start ") and "beyond 64 bits" in str(err.value)
    assert len(str(err.value)) < 200


@pytest.mark.parametrize("text", ["18446744073709551616", "9" * 5000, "1" + "0" * 4400])
def test_decimal_numbers_beyond_64_bits_are_a_dump_error_not_int_limit(text):
    with pytest.raises(DumpError) as err:
        decimal_number(text, "d.txt", 7, "size")
    assert "beyond 64 bits" in str(err.value) and "Exceeds the limit" not in str(err.value)


@pytest.mark.parametrize("text", ["zz", "", "\u0663"])
def test_a_garbled_number_is_a_value_error_the_parser_may_skip(text):
    with pytest.raises(ValueError) as err:
        decimal_number(text, "d.txt", 7, "size")
    assert not isinstance(err.value, DumpError)


@pytest.mark.parametrize("text", ["16777216T", "17179869184G", "18446744073709551616"])
def test_lspci_sizes_of_2_64_bytes_are_a_dump_error(text):
    with pytest.raises(DumpError, match="d.txt:2: size"):
        lspci_size(text, "d.txt", 2)
    assert lspci_size("16777215T", "d.txt", 2) == (1 << 64) - (1 << 40)


# --- load(): the limit reaches the dump readers ------------------------------------------------------------------

def test_load_refuses_a_dump_over_the_limit_and_says_how_to_raise_it():
    with pytest.raises(DumpError) as err:
        load("lspci", str(LSPCI), max_bytes=1024)
    assert "over the input size limit of 1K" in str(err.value) and "--max-input-bytes" in str(err.value)
    assert load("lspci", str(LSPCI), max_bytes=LSPCI.stat().st_size).devices


def test_a_sysfs_directory_counts_its_files_together(tmp_path):
    line = "0x00000000fe000000 0x00000000fe000fff 0x0000000000040200\n"
    empty = "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
    for device in ("0000:00:02.0", "0000:00:03.0"):
        (tmp_path / device).mkdir()
        (tmp_path / device / "resource").write_text(line + empty * 6)
    size = len(line + empty * 6)
    assert len(load("sysfs", str(tmp_path), max_bytes=2 * size).devices) == 2
    with pytest.raises(DumpError, match="together are over the input size limit"):
        load("sysfs", str(tmp_path), max_bytes=2 * size - 1)


def test_a_fifo_as_a_sysfs_resource_file_is_refused(tmp_path):
    (tmp_path / "0000:00:02.0").mkdir()
    os.mkfifo(tmp_path / "0000:00:02.0" / "resource")
    with pytest.raises(DumpError, match="no <address>/resource file"):
        load("sysfs", str(tmp_path))
