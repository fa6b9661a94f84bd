"""The timeline's filters (sans-I/O): what each filter matches, and the index of matching rows."""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from factories import frame
from hypothesis import given, settings
from hypothesis import strategies as st

from wsinspect.inspector.filters import FilteredIndex, FilterError, Filters
from wsinspect.model import Frame, Row, SystemEvent


def event(text: str) -> SystemEvent:
    return SystemEvent(100.0, "info", text)


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
