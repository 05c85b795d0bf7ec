"""model.units: parsing sizes, page-size validation and naming."""

from __future__ import annotations

import pytest

from model.units import (GIB, KIB, MAX_PAGE_BYTES, MIB, MIN_PAGE_BYTES, PRESET_PAGE_SIZES, PageSize, SizeError,
                         is_power_of_two, parse_page_sizes, parse_size, size_name)

ALL_PAGE_SIZES = [1 << shift for shift in range(12, 31)]


@pytest.mark.parametrize(("text", "expected"), [
    ("4K", 4096),
    ("4k", 4096),
    ("4KiB", 4096),
    ("4KB", 4096),
    ("65536", 65536),
    ("0x10000", 65536),
    ("0X10000", 65536),
    ("1G", 1 << 30),
    ("2M", 2 << 20),
    ("1", 1),
    (" 16K ", 16384),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "4X", "4 K", "-4K", "1P", "0x", "K", "4.5K", "4KK"])
def test_parse_size_rejects_non_sizes(text):
    with pytest.raises(SizeError, match="is not a size"):
        parse_size(text)


def test_size_error_is_a_value_error():
    assert issubclass(SizeError, ValueError)


def test_parse_size_leading_zero_raises_size_error_or_parses():
    try:
        assert parse_size("04K") == 4096
    except SizeError:
        pass


def test_constants():
    assert (KIB, MIB, GIB) == (1 << 10, 1 << 20, 1 << 30)
    assert (MIN_PAGE_BYTES, MAX_PAGE_BYTES) == (4 * KIB, GIB)
    assert PRESET_PAGE_SIZES == (4 * KIB, 16 * KIB, 64 * KIB)


@pytest.mark.parametrize("size", ALL_PAGE_SIZES, ids=[size_name(s) for s in ALL_PAGE_SIZES])
def test_page_size_accepts_every_power_of_two_from_4k_to_1g(size):
    page = PageSize(size)
    assert page.size_bytes == size
    assert PageSize.parse(page.name) == page
    assert PageSize.parse(hex(size)) == page
    assert PageSize.parse(str(size)) == page


@pytest.mark.parametrize(("size", "why"), [
    (3 * KIB, "not a power of two"),
    (0x1001, "not a power of two"),
    (0, "not a power of two"),
    (48 * KIB, "not a power of two"),
    (2 * KIB, "outside"),
    (1, "outside"),
    (2 * GIB, "outside"),
    (1 << 40, "outside"),
])
def test_page_size_rejects_with_reason(size, why):
    with pytest.raises(SizeError, match=why):
        PageSize(size)


def test_page_size_rejects_negative():
    with pytest.raises(SizeError, match="not a power of two"):
        PageSize(-4096)


@pytest.mark.parametrize(("text", "why"), [("3K", "not a power of two"), ("2K", "outside"), ("2G", "outside"),
                                           ("0", "not a power of two"), ("0x1001", "not a power of two")])
def test_page_size_parse_rejects_with_reason(text, why):
    with pytest.raises(SizeError, match=why):
        PageSize.parse(text)


def test_page_size_error_messages_show_the_value():
    with pytest.raises(SizeError, match=r"0x1001"):
        PageSize(0x1001)
    with pytest.raises(SizeError, match=r"2G is outside 4K\.\.1G"):
        PageSize(2 * GIB)


@pytest.mark.parametrize("size", ALL_PAGE_SIZES)
def test_page_size_shift(size):
    page = PageSize(size)
    assert 1 << page.shift == size
    assert 12 <= page.shift <= 30


def test_page_size_shift_examples():
    assert PageSize(4 * KIB).shift == 12
    assert PageSize(64 * KIB).shift == 16
    assert PageSize(GIB).shift == 30


def test_page_sizes_order_by_size_and_are_hashable():
    assert PageSize(4 * KIB) < PageSize(64 * KIB) < PageSize(GIB)
    assert len({PageSize(4096), PageSize.parse("4K")}) == 1


def test_parse_page_sizes_sorts_and_deduplicates():
    assert parse_page_sizes("64K,4K,4K") == (PageSize(4 * KIB), PageSize(64 * KIB))
    assert parse_page_sizes("0x10000, 4096 ,64K,16k") == (PageSize(4 * KIB), PageSize(16 * KIB), PageSize(64 * KIB))
    assert parse_page_sizes("1G") == (PageSize(GIB),)


def test_parse_page_sizes_ignores_empty_items():
    assert parse_page_sizes("4K,,64K,") == (PageSize(4 * KIB), PageSize(64 * KIB))


@pytest.mark.parametrize("text", ["", ",", " , "])
def test_parse_page_sizes_rejects_empty_list(text):
    with pytest.raises(SizeError, match="empty"):
        parse_page_sizes(text)


def test_parse_page_sizes_rejects_any_bad_item():
    with pytest.raises(SizeError, match="not a power of two"):
        parse_page_sizes("4K,3K")
    with pytest.raises(SizeError, match="is not a size"):
        parse_page_sizes("4K,abc")


@pytest.mark.parametrize(("size", "name"), [
    (4096, "4K"), (16384, "16K"), (65536, "64K"), (2 * MIB, "2M"), (GIB, "1G"), (4 * GIB, "4G"),
    (1536, "1536"), (48, "48"), (1, "1"), (0, "0"), (KIB, "1K"), (3 * MIB, "3M"), (MIB + KIB, "1025K"),
])
def test_size_name(size, name):
    assert size_name(size) == name


@pytest.mark.parametrize("size", [1, 48, 1536, *ALL_PAGE_SIZES, 3 * MIB, MIB + KIB, 5 * GIB, (1 << 40) + 1])
def test_size_name_round_trips_through_parse_size(size):
    assert parse_size(size_name(size)) == size


def test_page_size_name_is_size_name():
    assert [PageSize(s).name for s in PRESET_PAGE_SIZES] == ["4K", "16K", "64K"]


@pytest.mark.parametrize(("value", "expected"), [(0, False), (1, True), (2, True), (3, False), (4096, True),
                                                 (4097, False), (-4, False), (1 << 63, True)])
def test_is_power_of_two(value, expected):
    assert is_power_of_two(value) is expected
