"""The inspector's formatting (sans-I/O): times, sizes, one-line previews, hex dumps and JSON detection."""

from __future__ import annotations

import json

import pytest
from helpers.factories import frame

from wsinspect.formatting import (
    counted,
    format_count,
    format_duration,
    format_offset,
    format_size,
    hexdump,
    parse_json,
    preview,
)
from wsinspect.model import Frame

# -- numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "00:00.000"),
        (0.0004, "00:00.000"),
        (1.234, "00:01.234"),
        (59.999, "00:59.999"),
        (59.9996, "01:00.000"),
        (61.5, "01:01.500"),
        (3599.999, "59:59.999"),
        (3600, "1:00:00.000"),
        (3723.456, "1:02:03.456"),
        (36000.001, "10:00:00.001"),
        (-0.5, "00:00.000"),
        (-3600, "00:00.000"),
        (float("nan"), "00:00.000"),
        (float("-inf"), "00:00.000"),
    ],
)
def test_format_offset(seconds: float, text: str) -> None:
    assert format_offset(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0.0s"),
        (0.4, "0.4s"),
        (2.3, "2.3s"),
        (59.9, "59.9s"),
        (59.96, "1m 00s"),
        (60, "1m 00s"),
        (65, "1m 05s"),
        (65.4, "1m 05s"),
        (3599, "59m 59s"),
        (3600, "1h 00m"),
        (3720, "1h 02m"),
        (3779, "1h 02m"),
        (90000, "25h 00m"),
        (1234 * 3600 + 60, "1,234h 01m"),  # counts have thousands separators, as everywhere
        (-2, "0.0s"),
        (float("nan"), "0.0s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (999, "999 B"),
        (1000, "1.0 KB"),
        (1024, "1.0 KB"),
        (12_595, "12.3 KB"),
        (999 * 1024, "999.0 KB"),
        (1023 * 1024, "1.0 MB"),
        (1024**2, "1.0 MB"),
        (int(1.5 * 1024**2), "1.5 MB"),
        (2 * 1024**3, "2.0 GB"),
        (3 * 1024**4, "3.0 TB"),
        (5 * 1024**5, "5.0 PB"),
        (2000 * 1024**5, "2,000.0 PB"),
    ],
)
def test_format_size(n: int, text: str) -> None:
    assert format_size(n) == text


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0"), (7, "7"), (999, "999"), (1000, "1,000"), (1234, "1,234"), (1_234_567, "1,234,567"), (-1234, "-1,234")],
)
def test_format_count(n: int, text: str) -> None:
    assert format_count(n) == text


# -- previews ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "width", "text"),
    [
        ("hello", 10, "hello"),
        ("hello", 5, "hello"),
        ("hello world", 5, "hell…"),
        ("hello world", 7, "hello…"),  # no space before the ellipsis
        ("a\n\n\tb\x00c\x7fd\x85e\u2028f", 40, "a b c d e f"),
        ("  padded \r\n", 40, "padded"),
        ("", 10, '""'),
        (" \n\t ", 10, '" "'),
        ("héllo wörld ✓", 40, "héllo wörld ✓"),
        ("日本語テキスト", 4, "日本語…"),
        ("Zoë says 👋", 9, "Zoë says…"),
        ('{"type":\n  "chat"}', 40, '{"type": "chat"}'),
    ],
)
def test_preview_text(content: str, width: int, text: str) -> None:
    assert preview(frame("text", content), width) == text


@pytest.mark.parametrize(("width", "text"), [(1, "…"), (2, "a…"), (3, "ab…"), (4, "abc…"), (5, "abcd…")])
def test_preview_narrow_text(width: int, text: str) -> None:
    assert preview(frame("text", "abcdefgh"), width) == text


def test_preview_of_a_long_text_looks_at_a_prefix_but_collapses_whitespace_first() -> None:
    assert preview(frame("text", "x" * 1_000_000), 20) == "x" * 19 + "…"
    assert preview(frame("text", " " * 10_000 + "hi"), 5) == "hi"
    assert preview(frame("text", "\n" * 10_000 + "hello world"), 5) == "hell…"
    assert preview(frame("text", "a" + " " * 100_000 + "b"), 10) == "a b"


def test_preview_of_a_truncated_text_shows_the_kept_part_and_an_ellipsis() -> None:
    assert preview(frame("text", "abc", truncated=True), 10) == "abc…"
    assert preview(frame("text", "abcdefgh", truncated=True), 5) == "abcd…"
    assert preview(frame("text", "", truncated=True), 10) == '""…'
    assert preview(frame("text", "日本", truncated=True), 10) == "日本…"


@pytest.mark.parametrize(
    ("content", "width", "text"),
    [
        (b"\x00\x01\xff", 20, "00 01 ff"),
        (b"\x00\x01\xff", 8, "00 01 ff"),
        (b"\x00\x01\xff", 7, "00 01 …"),
        (b"\x00\x01\xff", 5, "00 …"),
        (b"\x00\x01\xff", 4, "00 …"),
        (b"\x00\x01\xff", 3, "…"),
        (b"\x00\x01\xff", 1, "…"),
        (b"\xab", 2, "ab"),
        (b"\xab", 1, "…"),
        (b"", 20, "(empty)"),
        (b"", 3, "(e…"),
        (bytes(range(256)), 12, "00 01 02 …"),
    ],
)
def test_preview_binary(content: bytes, width: int, text: str) -> None:
    assert preview(frame("binary", content), width) == text


@pytest.mark.parametrize("kind", ["ping", "pong"])
def test_preview_ping_pong(kind: str) -> None:
    assert preview(frame(kind, b"\x12\x34"), 20) == "12 34"
    assert preview(frame(kind, b""), 20) == "(empty)"
    assert preview(frame(kind, b"\x12\x34\x56"), 7) == "12 34 …"


def test_preview_of_a_truncated_binary_ends_in_an_ellipsis() -> None:
    assert preview(frame("binary", b"\x00\x01", truncated=True), 20) == "00 01 …"
    assert preview(frame("binary", b"\x00\x01\x02\x03", truncated=True), 10) == "00 01 02 …"


def test_preview_accepts_bytearray_and_memoryview() -> None:
    assert preview(frame("binary", bytearray(b"\x01\x02")), 20) == "01 02"
    assert preview(frame("binary", memoryview(b"\x01\x02\x03")), 7) == "01 02 …"


def test_preview_of_a_payload_not_recorded() -> None:
    assert preview(frame("binary", None), 40) == "(payload not recorded)"
    assert preview(frame("text", None), 40) == "(payload not recorded)"
    assert preview(frame("binary", None), 10) == "(payload…"


@pytest.mark.parametrize(
    ("code", "reason", "width", "text"),
    [
        (4001, "bye", 40, "4001 Application: bye"),
        (1000, "", 40, "1000 Normal Closure"),
        (1000, "line one\nline two", 60, "1000 Normal Closure: line one line two"),
        (1000, "", 10, "1000 Norm…"),
        (None, "bye", 40, "bye"),
        (None, "", 40, "(no status code)"),
        (None, None, 40, "(no status code)"),
        (1001, None, 40, "1001 Going Away"),
    ],
)
def test_preview_close(code: int | None, reason: str | None, width: int, text: str) -> None:
    assert preview(frame("close", reason, close_code=code), width) == text


@pytest.mark.parametrize(
    "item",
    [
        frame("text", "abcdefgh"),
        frame("text", "日本語テキスト"),
        frame("text", ""),
        frame("text", "x", truncated=True),
        frame("binary", b"\x00\x01\x02"),
        frame("binary", b""),
        frame("ping", b"\x01"),
        frame("pong", b""),
        frame("close", "bye", close_code=4001),
        frame("close", "", close_code=None),
        frame("binary", None),
    ],
)
def test_preview_never_exceeds_the_width(item: Frame) -> None:
    assert preview(item, 0) == ""
    assert preview(item, -3) == ""
    for width in range(1, 30):
        text = preview(item, width)
        assert 1 <= len(text) <= width
        assert "\n" not in text


# -- hex dumps ---------------------------------------------------------------------------------

SIXTEEN = "00000000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f  |................|"


def test_hexdump_of_nothing() -> None:
    assert hexdump(b"") == []
    assert hexdump(b"", columns=8) == []


def test_hexdump_of_one_byte() -> None:
    assert hexdump(b"A") == ["00000000  41" + " " * 46 + "  |A|"]


def test_hexdump_of_sixteen_bytes() -> None:
    assert hexdump(bytes(range(16))) == [SIXTEEN]


def test_hexdump_of_fifteen_bytes_is_padded() -> None:
    (line,) = hexdump(bytes(range(15)))
    assert line == "00000000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e     |...............|"
    assert line.index("|") == SIXTEEN.index("|")


def test_hexdump_of_seventeen_bytes() -> None:
    assert hexdump(bytes(range(17))) == [SIXTEEN, "00000010  10" + " " * 46 + "  |.|"]


def test_hexdump_of_thirty_three_bytes() -> None:
    lines = hexdump(b"Hello, World! 0123456789abcdefghi")
    assert lines == [
        "00000000  48 65 6c 6c 6f 2c 20 57  6f 72 6c 64 21 20 30 31  |Hello, World! 01|",
        "00000010  32 33 34 35 36 37 38 39  61 62 63 64 65 66 67 68  |23456789abcdefgh|",
        "00000020  69" + " " * 46 + "  |i|",
    ]


@pytest.mark.parametrize("n", [1, 7, 8, 9, 15, 16, 17, 33, 100])
@pytest.mark.parametrize("columns", [16, 8])
def test_hexdump_columns_align(n: int, columns: int) -> None:
    lines = hexdump(bytes(range(n)), columns=columns)
    assert len(lines) == -(-n // columns)
    assert len({line.index("|") for line in lines}) == 1
    assert [int(line[:8], 16) for line in lines] == list(range(0, n, columns))


def test_hexdump_ascii_column_shows_only_printable_ascii() -> None:
    (line,) = hexdump(b" ~\x1f\x7f\x80\xff\x00Z\xc3\xa9".ljust(16, b"."))
    assert line[line.index("|") :] == "| ~.....Z........|"


def test_hexdump_in_eight_columns_for_narrow_screens() -> None:
    assert hexdump(b"ABCDEFGHIJ", columns=8) == [
        "00000000  41 42 43 44 45 46 47 48  |ABCDEFGH|",
        "00000008  49 4a" + " " * 18 + "  |IJ|",
    ]


def test_hexdump_of_other_widths_and_buffers() -> None:
    assert hexdump(b"\x01\x02\x03", columns=2) == ["00000000  01 02  |..|", "00000002  03     |.|"]
    assert hexdump(bytearray(b"AB")) == hexdump(b"AB") == hexdump(memoryview(b"AB"))
    with pytest.raises(ValueError, match="columns"):
        hexdump(b"x", columns=0)


def test_hexdump_offsets_grow_past_a_line() -> None:
    lines = hexdump(bytes(0x1000 + 1))
    assert lines[-1].startswith("00001000  00 ")
    assert len(lines) == 0x101


# -- JSON --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ("  [1, 2]\n", [1, 2]),
        ("[]", []),
        ("{}", {}),
        ('{"name": "Zoë ✓"}', {"name": "Zoë ✓"}),
        ('\t{"nested": {"deep": [true, null]}}', {"nested": {"deep": [True, None]}}),
    ],
)
def test_parse_json(text: str, value: object) -> None:
    assert parse_json(text) == value


@pytest.mark.parametrize(
    "text",
    [
        '"a string"',
        "42",
        "null",
        "true",
        "",
        "   ",
        "{bad",
        '{"a": 1} trailing',
        "[1,",
        "hello",
        "[" * 100_000,
        "{" * 10,
    ],
)
def test_parse_json_is_none_for_anything_else(text: str) -> None:
    assert parse_json(text) is None


def test_parse_json_round_trips_what_json_dumps() -> None:
    value = {"a": [1, 2.5, "ü", None, {"b": False}]}
    assert parse_json(json.dumps(value)) == value


def test_counted_says_a_count_with_its_noun() -> None:
    assert counted(1, "app") == "1 app"
    assert counted(2, "app") == "2 apps"
    assert counted(0, "connection") == "0 connections"
    assert counted(3480, "frame") == "3,480 frames"
