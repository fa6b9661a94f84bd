"""The timeline's view model (sans-I/O): formatting, previews, hex dumps, filters and the index of matches."""

from __future__ import annotations

import dataclasses
import json
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsinspect.inspector.filters import FilteredIndex, FilterError, Filters
from wsinspect.inspector.formatting import format_duration, format_offset, format_size, hexdump, parse_json, preview
from wsinspect.model import Frame, Row, SystemEvent, close_code_name, describe_close


def frame(
    message_type: str = "text",
    content: Any = "hello",
    *,
    direction: str = "sent",
    truncated: bool = False,
    close_code: int | None = None,
) -> Frame:
    size = len(content.encode() if isinstance(content, str) else content) if content is not None else 7
    return Frame(
        direction=direction,  # type: ignore[arg-type]
        message_type=message_type,  # type: ignore[arg-type]
        content=content,
        timestamp=100.0,
        size_bytes=size,
        truncated=truncated,
        close_code=close_code,
    )


def event(text: str) -> SystemEvent:
    return SystemEvent(100.0, "info", text)


# -- close codes -------------------------------------------------------------------------------

NAMED = {
    1000: "Normal Closure",
    1001: "Going Away",
    1002: "Protocol Error",
    1003: "Unsupported Data",
    1005: "No Status Received",
    1006: "Abnormal Closure",
    1007: "Invalid Payload Data",
    1008: "Policy Violation",
    1009: "Message Too Big",
    1010: "Mandatory Extension",
    1011: "Internal Error",
    1012: "Service Restart",
    1013: "Try Again Later",
    1014: "Bad Gateway",
    1015: "TLS Handshake",
}


@pytest.mark.parametrize(("code", "name"), NAMED.items())
def test_close_code_names(code: int, name: str) -> None:
    assert close_code_name(code) == name


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (3000, "Registered"),
        (3999, "Registered"),
        (4000, "Application"),
        (4001, "Application"),
        (4999, "Application"),
        (None, ""),
        (0, "Unknown"),
        (-1, "Unknown"),
        (999, "Unknown"),
        (1004, "Unknown"),
        (1016, "Unknown"),
        (2999, "Unknown"),
        (5000, "Unknown"),
    ],
)
def test_close_code_ranges(code: int | None, name: str) -> None:
    assert close_code_name(code) == name


@pytest.mark.parametrize(
    ("code", "reason", "text"),
    [
        (4001, "bye", "4001 Application: bye"),
        (1000, "", "1000 Normal Closure"),
        (1000, None, "1000 Normal Closure"),
        (1006, None, "1006 Abnormal Closure"),
        (3001, "déjà vu ✓", "3001 Registered: déjà vu ✓"),
        (1234, "x", "1234 Unknown: x"),
        (None, "bye", ""),
        (None, None, ""),
    ],
)
def test_describe_close(code: int | None, reason: str | None, text: str) -> None:
    assert describe_close(code, reason) == text


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
        (2000 * 1024**5, "2000.0 PB"),
    ],
)
def test_format_size(n: int, text: str) -> None:
    assert format_size(n) == text


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


# -- filters -----------------------------------------------------------------------------------

ROWS: dict[str, Row] = {
    "text_sent": ("c1", frame("text", "Auth OK")),
    "text_received": ("c1", frame("text", '{"type": "login", "user": "Zoë"}', direction="received")),
    "text_c2": ("c2", frame("text", "hello from c2")),
    "text_empty": ("c1", frame("text", "", direction="received")),
    "text_not_recorded": ("c1", frame("text", None)),
    "binary": ("c1", frame("binary", b"\xaf\xf0\x0b")),  # "ff00" only across byte boundaries
    "binary_ff00": ("c2", frame("binary", b"\x01\xff\x00\x02")),
    "binary_not_recorded": ("c2", frame("binary", None, direction="received")),
    "ping": ("c1", frame("ping", b"\xff\x00", direction="received")),
    "pong": ("c1", frame("pong", b"")),
    "close": ("c1", frame("close", "bye auth", close_code=4001)),
    "close_no_reason": ("c2", frame("close", "", direction="received", close_code=1000)),
    "event": ("c1", event("connect /ws/auth")),
    "global_event": (None, event("chat-app (pid 7) connected")),
    "global_frame": (None, frame("text", "orphan")),
}
EVERYTHING = set(ROWS)
EVENTS = {"event", "global_event"}


def matching(filters: Filters) -> set[str]:
    match = filters.matcher()
    return {name for name, row in ROWS.items() if match(row)}


def test_no_filter_matches_everything() -> None:
    assert matching(Filters()) == EVERYTHING


@pytest.mark.parametrize(
    ("filters", "names"),
    [
        (
            Filters(direction="sent"),
            {"text_sent", "text_c2", "text_not_recorded", "binary", "binary_ff00", "pong", "close"},
        ),
        (
            Filters(direction="received"),
            {"text_received", "text_empty", "binary_not_recorded", "ping", "close_no_reason"},
        ),
        (Filters(kind="text"), {"text_sent", "text_received", "text_c2", "text_empty", "text_not_recorded"}),
        (Filters(kind="binary"), {"binary", "binary_ff00", "binary_not_recorded"}),
        (Filters(kind="control"), {"ping", "pong", "close", "close_no_reason"}),
        (Filters(hide_ping_pong=True), EVERYTHING - {"ping", "pong"}),
        (Filters(connection_id="c2"), {"text_c2", "binary_ff00", "binary_not_recorded", "close_no_reason"}),
        (
            Filters(connection_id="c1"),
            {
                "text_sent",
                "text_received",
                "text_empty",
                "text_not_recorded",
                "binary",
                "ping",
                "pong",
                "close",
                "event",
            },
        ),
        (Filters(connection_id="nope"), set()),
    ],
)
def test_each_filter_alone(filters: Filters, names: set[str]) -> None:
    assert matching(filters) == names


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("auth", {"text_sent", "close", "event"}),  # case-insensitive, close reason, event text
        ("AUTH", {"text_sent", "close", "event"}),
        ("ZOË", {"text_received"}),
        ('"user": "zo', {"text_received"}),
        ("application", {"close"}),  # the close's description
        ("4001", {"close"}),
        ("normal closure", {"close_no_reason"}),
        ("chat-app", {"global_event"}),
        ("orphan", {"global_frame"}),
        ("ff00", {"binary_ff00", "ping"}),  # byte-aligned: not b"\xaf\xf0\x0b"
        ("FF 00", {"binary_ff00", "ping"}),
        ("01ff0002", {"binary_ff00"}),
        ("ff0", {"binary_ff00", "ping"}),  # ff then a byte 00..0f
        ("f0", {"binary"}),
        ("f", {"binary", "binary_ff00", "ping", "text_c2"}),  # bytes f0..ff, and the f of "from"
        ("zz", set()),
        ("nothing like it", set()),
    ],
)
def test_text_filter(text: str, names: set[str]) -> None:
    assert matching(Filters(text=text)) == names


def test_a_payload_not_recorded_or_empty_never_matches_a_text() -> None:
    for text in ("a", "0", " ", "(payload not recorded)", '""', "(empty)"):
        found = matching(Filters(text=text))
        assert not found & {"text_not_recorded", "binary_not_recorded", "text_empty", "pong"}


def test_a_text_of_spaces_finds_spaces_but_no_bytes() -> None:
    assert matching(Filters(text=" ")) == {"text_sent", "text_received", "text_c2", "close", "close_no_reason"} | EVENTS


@pytest.mark.parametrize(
    ("pattern", "names"),
    [
        ("^au.h", {"text_sent"}),
        ("AU.H", {"text_sent", "close", "event"}),
        ("au.h", {"text_sent", "close", "event"}),
        (r"\x41uth", {"text_sent", "close", "event"}),
        ("(?-i:auth)", {"close", "event"}),  # the pattern's own flags win
        ("(?-i:Auth)", {"text_sent"}),
        (r"\bbye\b", {"close"}),
        (r"^\{.*zoë", {"text_received"}),
        ("(?:login|orphan)", {"text_received", "global_frame"}),
        ("(?<=/ws/)auth", {"event"}),
        ("^01ff", {"binary_ff00"}),  # over the payload's hex
        ("ff0{2}", {"binary", "binary_ff00", "ping"}),  # a regex reads the hex as text: any alignment
        (r"pid \d+", {"global_event"}),
        ("Normal Closure$", {"close_no_reason"}),
    ],
)
def test_regex_filter(pattern: str, names: set[str]) -> None:
    assert matching(Filters(text=pattern, regex=True)) == names


def test_regex_is_case_insensitive_for_non_ascii_too() -> None:
    assert matching(Filters(text="zoË", regex=True)) == {"text_received"}
    assert matching(Filters(text="zoë", regex=True)) == {"text_received"}


@pytest.mark.parametrize("pattern", ["[", "(", "a{2,1}", "*", "(?P<x>a)(?P<x>b)", r"\p"])
def test_an_invalid_regex_raises_filter_error_when_compiled(pattern: str) -> None:
    filters = Filters(text=pattern, regex=True)
    with pytest.raises(FilterError) as raised:
        filters.matcher()
    assert str(raised.value).startswith("invalid regex: ")
    assert "\n" not in str(raised.value)
    Filters(text=pattern).matcher()  # the same text as a plain substring is fine


def test_filter_error_message() -> None:
    with pytest.raises(FilterError) as raised:
        Filters(text="[", regex=True).matcher()
    assert str(raised.value) == "invalid regex: unterminated character set at position 0"


@pytest.mark.parametrize(
    ("filters", "names"),
    [
        (Filters(text="auth", direction="sent"), {"text_sent", "close"}),
        (Filters(text="auth", direction="received"), set()),
        (Filters(text="auth", kind="text"), {"text_sent"}),
        (Filters(text="auth", kind="control"), {"close"}),
        (Filters(text="auth", connection_id="c1"), {"text_sent", "close", "event"}),
        (Filters(text="auth", connection_id="c2"), set()),
        (Filters(text="auth", hide_ping_pong=True), {"text_sent", "close", "event"}),
        (Filters(text="ff00", hide_ping_pong=True), {"binary_ff00"}),
        (Filters(text="ff00", kind="control"), {"ping"}),
        (Filters(kind="control", hide_ping_pong=True), {"close", "close_no_reason"}),
        (Filters(kind="control", direction="received"), {"ping", "close_no_reason"}),
        (Filters(kind="binary", connection_id="c2", direction="received"), {"binary_not_recorded"}),
        (
            Filters(hide_ping_pong=True, connection_id="c1", direction="sent"),
            {"text_sent", "text_not_recorded", "binary", "close"},
        ),
        (Filters(text="b", regex=True, kind="text", direction="received", connection_id="c1"), set()),
        (Filters(text="o", kind="text", direction="sent", hide_ping_pong=True, connection_id="c2"), {"text_c2"}),
        (Filters(text="connect", connection_id="c1"), {"event"}),
    ],
)
def test_filters_combined(filters: Filters, names: set[str]) -> None:
    assert matching(filters) == names


def test_events_pass_only_the_text_and_connection_filters() -> None:
    for filters in (
        Filters(direction="sent"),
        Filters(direction="received"),
        Filters(kind="text"),
        Filters(kind="control"),
    ):
        assert not matching(filters) & (EVENTS | {"global_frame"})
    assert matching(Filters(hide_ping_pong=True)) >= EVENTS
    assert matching(Filters(text="connect")) == EVENTS


def test_a_matcher_is_reusable_and_independent_of_later_copies() -> None:
    filters = Filters(text="auth")
    match = filters.matcher()
    dataclasses.replace(filters, text="zzz").matcher()
    assert [match(ROWS["text_sent"]) for _ in range(3)] == [True, True, True]
    assert not match(ROWS["text_c2"])


def test_filters_active_and_describe() -> None:
    assert not Filters().active
    assert Filters().describe() == []
    assert not Filters(regex=True).active  # a regex without a text filters nothing
    cases = [
        (Filters(text="auth"), ['text "auth"']),
        (Filters(text="au.h", regex=True), ["regex /au.h/"]),
        (Filters(direction="sent"), ["sent only"]),
        (Filters(direction="received"), ["received only"]),
        (Filters(kind="text"), ["kind: text"]),
        (Filters(kind="binary"), ["kind: binary"]),
        (Filters(kind="control"), ["kind: control"]),
        (Filters(hide_ping_pong=True), ["no ping/pong"]),
        (Filters(connection_id="c1"), ["this connection"]),
    ]
    for filters, chips in cases:
        assert filters.active
        assert filters.describe() == chips
    everything = Filters("x", True, "received", "binary", True, "c1")
    assert everything.describe() == ["regex /x/", "received only", "kind: binary", "no ping/pong", "this connection"]


def test_cycles() -> None:
    filters = Filters(text="x", connection_id="c1")
    directions = []
    for _ in range(4):
        filters = filters.cycle_direction()
        directions.append(filters.direction)
    assert directions == ["sent", "received", "both", "sent"]
    kinds = []
    for _ in range(5):
        filters = filters.cycle_kind()
        kinds.append(filters.kind)
    assert kinds == ["text", "binary", "control", "all", "text"]
    assert (filters.text, filters.connection_id) == ("x", "c1")


def test_filters_are_frozen_values() -> None:
    filters = Filters(text="a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        filters.text = "b"  # type: ignore[misc]
    assert filters == Filters(text="a")
    assert hash(filters) == hash(Filters(text="a"))
    assert filters.cycle_direction() is not filters


def test_filters_refuse_unknown_values() -> None:
    with pytest.raises(ValueError, match="direction"):
        Filters(direction="up")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind"):
        Filters(kind="json")  # type: ignore[arg-type]


# -- FilteredIndex -----------------------------------------------------------------------------

SAMPLE: list[Row] = list(ROWS.values())


def is_text(row: Row) -> bool:
    return isinstance(row[1], Frame) and row[1].message_type == "text"


def rows_of(marks: str) -> list[Row]:
    """Rows from a string: "t" a text frame (matches is_text), anything else a binary frame."""
    return [("c1", frame("text", "x")) if mark == "t" else ("c1", frame("binary", b"x")) for mark in marks]


def contents(index: FilteredIndex) -> list[int]:
    return [index[i] for i in range(len(index))]


def test_index_with_a_matcher() -> None:
    rows = rows_of("tbbtbt")
    index = FilteredIndex(is_text)
    assert len(index) == 0
    assert index.index_of(3) is None
    index.extend(rows, 0, 2)
    assert contents(index) == [0]
    index.extend(rows, 2, 6)
    assert contents(index) == [0, 3, 5]
    assert (index[-1], index[-3]) == (5, 0)
    for bad in (3, -4, 100):
        with pytest.raises(IndexError):
            index[bad]
    assert [index.index_of(p) for p in range(-1, 8)] == [None, 0, 0, 0, 1, 1, 2, 2, 2]


def test_index_extend_skips_what_it_has_and_clamps() -> None:
    rows = rows_of("tbtt")
    index = FilteredIndex(is_text)
    index.extend(rows, 0, 3)
    index.extend(rows, 0, 3)  # already tested
    index.extend(rows, 1, 100)  # overlaps, and stops at the end of rows
    index.extend(rows, 3, 2)  # empty
    index.extend(rows, -5, 4)
    assert contents(index) == [0, 2, 3]
    rows += rows_of("bt")
    index.extend(rows, 0, len(rows))  # catch up
    assert contents(index) == [0, 2, 3, 5]


def test_index_extend_with_a_gap() -> None:
    rows = rows_of("tttttt")
    index = FilteredIndex(is_text)
    index.extend(rows, 0, 2)
    index.extend(rows, 4, 6)
    assert contents(index) == [0, 1, 4, 5]
    everything = FilteredIndex(None)
    everything.extend(rows, 0, 2)
    everything.extend(rows, 4, 6)
    assert contents(everything) == [0, 1, 4, 5]
    assert [everything.index_of(p) for p in range(7)] == [0, 1, 1, 1, 2, 3, 3]
    everything.discard_before(1)
    assert contents(everything) == [0, 3, 4]
    everything.rebuild(rows)
    assert contents(everything) == [0, 1, 2, 3, 4, 5]


def test_index_without_a_matcher_starting_later() -> None:
    rows = rows_of("bbbbb")
    index = FilteredIndex(None)
    index.extend(rows, 2, 4)
    assert contents(index) == [2, 3]
    assert [index.index_of(p) for p in range(6)] == [None, None, 0, 1, 1, 1]


def test_index_rebuild() -> None:
    rows = rows_of("tbt")
    index = FilteredIndex(is_text)
    index.extend(rows, 0, 3)
    index.discard_before(1)
    rows = rows_of("bbtt")
    index.rebuild(rows)
    assert contents(index) == [2, 3]
    index.rebuild([])
    assert len(index) == 0
    assert index.index_of(0) is None


def test_index_discard_before() -> None:
    rows = rows_of("tbtbtt")
    index = FilteredIndex(is_text)
    index.extend(rows, 0, 6)
    index.discard_before(0)
    index.discard_before(-2)
    assert contents(index) == [0, 2, 4, 5]
    del rows[:3]
    index.discard_before(3)
    assert contents(index) == [1, 2]
    assert [index.index_of(p) for p in range(-1, 4)] == [None, None, 0, 1, 1]
    rows += rows_of("tb")
    index.extend(rows, 3, 5)
    assert contents(index) == [1, 2, 3]
    del rows[:]
    index.discard_before(10)  # more than it holds (the store was cleared)
    assert len(index) == 0
    rows += rows_of("bt")
    index.extend(rows, 0, 2)
    assert contents(index) == [1]


def test_index_without_a_matcher() -> None:
    rows = rows_of("tbtbt")
    index = FilteredIndex(None)
    assert len(index) == 0
    assert index.index_of(0) is None
    with pytest.raises(IndexError):
        index[0]
    index.extend(rows, 0, 3)
    index.extend(rows, 1, 5)
    assert contents(index) == [0, 1, 2, 3, 4]
    assert (index[-1], index[-5]) == (4, 0)
    for bad in (5, -6):
        with pytest.raises(IndexError):
            index[bad]
    assert [index.index_of(p) for p in (-1, 0, 4, 9)] == [None, 0, 4, 4]
    del rows[:2]
    index.discard_before(2)
    assert contents(index) == [0, 1, 2]
    assert index.index_of(2) == 2
    index.discard_before(7)
    assert len(index) == 0
    assert index.index_of(0) is None
    rows[:] = rows_of("bb")
    index.extend(rows, 0, 2)
    assert contents(index) == [0, 1]
    index.rebuild(rows_of("bbb"))
    assert contents(index) == [0, 1, 2]


class Huge(Sequence[Row]):
    """A billion rows that must not be looked at."""

    def __len__(self) -> int:
        return 1_000_000_000

    def __getitem__(self, i: Any) -> Any:
        raise AssertionError("rows read without a matcher")

    def __iter__(self) -> Iterator[Row]:
        raise AssertionError("rows read without a matcher")


def test_index_without_a_matcher_stores_nothing_per_row() -> None:
    index = FilteredIndex(None)
    index.rebuild(Huge())
    assert len(index) == 1_000_000_000
    assert index[-1] == 999_999_999
    assert index.index_of(123_456_789) == 123_456_789
    index.discard_before(500_000_000)
    assert (len(index), index[0]) == (500_000_000, 0)


@pytest.mark.parametrize("kind", [list, tuple, deque])
def test_index_over_other_sequences(kind: Any) -> None:
    rows = kind(rows_of("btbtt"))
    index = FilteredIndex(is_text)
    index.extend(rows, 0, 2)
    index.extend(rows, 2, 5)
    assert contents(index) == [1, 3, 4]
    index.rebuild(rows)
    assert contents(index) == [1, 3, 4]


def test_index_with_a_real_filter_follows_a_trimmed_store() -> None:
    match = Filters(text="auth").matcher()
    rows: list[Row] = []
    index = FilteredIndex(match)
    trimmed = 0
    for batch in range(30):
        rows.extend(SAMPLE)
        index.extend(rows, len(rows) - len(SAMPLE), len(rows))
        if len(rows) > 100:
            cut = batch % 7 + 20
            del rows[:cut]
            trimmed += cut
            index.discard_before(cut)
        assert contents(index) == [i for i, row in enumerate(rows) if match(row)]
    assert trimmed


def test_index_rebuild_over_a_hundred_thousand_rows_with_a_text_filter() -> None:
    rows = SAMPLE * (100_000 // len(SAMPLE) + 1)
    match = Filters(text="auth").matcher()
    index = FilteredIndex(match)
    index.rebuild(rows)
    assert len(index) == 3 * (len(rows) // len(SAMPLE))
    assert index[0] == 0
    assert rows[index[-1]] is ROWS["event"]


FILTERS = st.builds(
    Filters,
    text=st.sampled_from(["", "auth", "ff00", "f", "o", "zz", "^a", "c2"]),
    regex=st.booleans(),
    direction=st.sampled_from(["both", "sent", "received"]),
    kind=st.sampled_from(["all", "text", "binary", "control"]),
    hide_ping_pong=st.booleans(),
    connection_id=st.sampled_from([None, "c1", "c2"]),
)


@settings(max_examples=300, deadline=None)
@given(
    picks=st.lists(st.integers(0, len(SAMPLE) - 1), max_size=60),
    cuts=st.lists(st.integers(0, 60), max_size=10),
    filters=st.one_of(st.none(), FILTERS),
)
def test_index_built_in_chunks_equals_a_rebuild_and_a_comprehension(
    picks: list[int], cuts: list[int], filters: Filters | None
) -> None:
    rows = [SAMPLE[pick] for pick in picks]
    match = filters.matcher() if filters is not None else None
    expected = [i for i, row in enumerate(rows) if match is None or match(row)]
    index = FilteredIndex(match)
    start = 0
    for stop in [*sorted(cuts), len(rows)]:
        index.extend(rows, start, stop)
        start = max(start, min(stop, len(rows)))
    rebuilt = FilteredIndex(match)
    rebuilt.rebuild(rows)
    assert contents(index) == contents(rebuilt) == expected
    for position in range(-1, len(rows) + 1):
        before = [i for i, found in enumerate(expected) if found <= position]
        assert index.index_of(position) == (before[-1] if before else None)


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.tuples(st.booleans(), st.integers(0, 12)), max_size=30),
    filters=st.one_of(st.none(), FILTERS),
)
def test_index_kept_up_to_date_through_growth_and_trims(steps: list[tuple[bool, int]], filters: Filters | None) -> None:
    match = filters.matcher() if filters is not None else None
    rows: list[Row] = []
    index = FilteredIndex(match)
    added = 0
    for grow, n in steps:
        if grow:
            rows.extend(SAMPLE[(added + i) % len(SAMPLE)] for i in range(n))
            added += n
            index.extend(rows, len(rows) - n, len(rows))
        else:
            del rows[:n]
            index.discard_before(n)
        assert contents(index) == [i for i, row in enumerate(rows) if match is None or match(row)]


def test_parse_json_round_trips_what_json_dumps() -> None:
    value = {"a": [1, 2.5, "ü", None, {"b": False}]}
    assert parse_json(json.dumps(value)) == value


def test_keepalive_health() -> None:
    from wsinspect.inspector.store import health
    from wsinspect.model import Connection

    base = Connection(connection_id="x", path="/", state="open", connected_at=0.0, ping_observable=True)
    assert health(base, None, 100.0) == "ok"
    assert health(base, 99.5, 100.0) == "ok"  # waiting, not yet late
    assert health(base, 98.0, 100.0) == "late"
    slow = Connection(connection_id="x", path="/", state="open", connected_at=0.0, ping_observable=True, avg_rtt=1.0)
    assert health(slow, 98.0, 100.0) == "ok"  # a slow link gets four round trips of patience
    blind = Connection(connection_id="x", path="/", state="open", connected_at=0.0)
    assert health(blind, 1.0, 100.0) == "unknown"
    ended = Connection(
        connection_id="x",
        path="/",
        state="closed",
        connected_at=0.0,
        close_code=1011,
        close_reason="keepalive ping timeout",
        ping_observable=True,
    )
    assert health(ended, None, 100.0) == "timeout"
