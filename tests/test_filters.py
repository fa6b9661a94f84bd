"""The timeline's filters (sans-I/O): what each filter matches, and the index of matching rows."""

from __future__ import annotations

import dataclasses
from array import array
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any
from unittest import mock

import pytest
from helpers.factories import frame
from helpers.table import Table, contents
from hypothesis import given, settings
from hypothesis import strategies as st

from wsinspect.inspector.core import filters as filters_module
from wsinspect.inspector.core.filters import FilteredIndex, FilterError, Filters
from wsinspect.model import Row, SystemEvent


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


def selected(filters: Filters, rows: Sequence[Row], table: Table | None = None) -> list[int]:
    """The positions the index finds (from the columns), checked against the per-row definition."""
    table = table or Table(rows)
    index = FilteredIndex(table.select(filters))
    index.rebuild(table)
    found = contents(index)
    match = filters.matcher()
    assert found == [i for i, row in enumerate(rows) if match(row)]
    return found


def matching(filters: Filters) -> set[str]:
    names = list(ROWS)
    return {names[i] for i in selected(filters, list(ROWS.values()))}


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
    for _ in range(6):
        filters = filters.cycle_kind()
        kinds.append(filters.kind)
    assert kinds == ["text", "binary", "control", "logs", "all", "text"]
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
TEXT = Filters(kind="text")  # rows_of's "t" rows


def rows_of(marks: str) -> list[Row]:
    """Rows from a string: "t" a text frame (matches TEXT), anything else a binary frame."""
    return [("c1", frame("text", "x")) if mark == "t" else ("c1", frame("binary", b"x")) for mark in marks]


def table_of(marks: str) -> Table:
    return Table(rows_of(marks))


def index_for(table: Table, filters: Filters | None = TEXT) -> FilteredIndex:
    return FilteredIndex(table.select(filters))


def test_the_selection_of_filters() -> None:
    assert Filters().selection(Table().number_of) is None
    assert Filters(regex=True).selection(Table().number_of) is None
    every = Filters(text="a").selection(Table().number_of)
    assert every is not None
    assert (every.codes, every.owner) == (None, None)
    assert every.search is not None
    only = Filters(direction="sent", connection_id="c2").selection(Table().number_of)
    assert only is not None
    assert (only.owner, only.search) == (2, None)
    assert only.codes is not None
    assert [code for code in range(256) if only.codes[code]] == [1, 3, 5, 7, 9]
    with pytest.raises(FilterError):
        Filters(text="[", regex=True).selection(Table().number_of)


def test_index_with_a_selection() -> None:
    table = table_of("tbbtbt")
    index = index_for(table)
    assert len(index) == 0
    assert index.index_of(3) is None
    index.extend(table, 0, 2)
    assert contents(index) == [0]
    index.extend(table, 2, 6)
    assert contents(index) == [0, 3, 5]
    assert (index[-1], index[-3]) == (5, 0)
    for bad in (3, -4, 100):
        with pytest.raises(IndexError):
            index[bad]
    assert [index.index_of(p) for p in range(-1, 8)] == [None, 0, 0, 0, 1, 1, 2, 2, 2]


def test_index_extend_skips_what_it_has_and_clamps() -> None:
    table = table_of("tbtt")
    index = index_for(table)
    index.extend(table, 0, 3)
    index.extend(table, 0, 3)  # already tested
    index.extend(table, 1, 100)  # overlaps, and stops at the end of rows
    index.extend(table, 3, 2)  # empty
    index.extend(table, -5, 4)
    assert contents(index) == [0, 2, 3]
    table.add(rows_of("bt"))
    index.extend(table, 0, len(table.rows))  # catch up
    assert contents(index) == [0, 2, 3, 5]


def test_index_extend_with_a_gap() -> None:
    table = table_of("tttttt")
    index = index_for(table)
    index.extend(table, 0, 2)
    index.extend(table, 4, 6)
    assert contents(index) == [0, 1, 4, 5]
    everything = FilteredIndex(None)
    everything.extend(table, 0, 2)
    everything.extend(table, 4, 6)
    assert contents(everything) == [0, 1, 4, 5]
    assert [everything.index_of(p) for p in range(7)] == [0, 1, 1, 1, 2, 3, 3]
    everything.discard_before(1)
    assert contents(everything) == [0, 3, 4]
    everything.rebuild(table)
    assert contents(everything) == [0, 1, 2, 3, 4, 5]


def test_index_without_a_selection_flags_its_rows_anew_after_each_gap() -> None:
    index = FilteredIndex(None)
    six = table_of("bbbbbb")
    index.extend(six, 0, 2)
    index.extend(six, 4, 6)
    assert contents(index) == [0, 1, 4, 5]
    index.rebuild(table_of("bbb"))
    assert contents(index) == [0, 1, 2]
    index.extend(six, 4, 6)  # another gap, the same length of rows: nothing of the first one stays
    assert contents(index) == [0, 1, 2, 4, 5]


def test_index_without_a_selection_starting_later() -> None:
    table = table_of("bbbbb")
    index = FilteredIndex(None)
    index.extend(table, 2, 4)
    assert contents(index) == [2, 3]
    assert [index.index_of(p) for p in range(6)] == [None, None, 0, 1, 1, 1]


def test_index_with_a_selection_starting_later() -> None:
    table = table_of("tbttt")
    index = index_for(table)
    index.extend(table, 2, 4)
    assert contents(index) == [2, 3]
    assert [index.index_of(p) for p in range(6)] == [None, None, 0, 1, 1, 1]
    index.discard_before(1)  # below the first row it tested
    assert contents(index) == [1, 2]
    table.trim(1)
    index.extend(table, 0, 4)
    assert contents(index) == [1, 2, 3]


def test_index_rebuild() -> None:
    table = table_of("tbt")
    index = index_for(table)
    index.extend(table, 0, 3)
    index.discard_before(1)
    index.rebuild(table_of("bbtt"))
    assert contents(index) == [2, 3]
    index.rebuild(Table())
    assert len(index) == 0
    assert index.index_of(0) is None


def test_index_discard_before() -> None:
    table = table_of("tbtbtt")
    index = index_for(table)
    index.extend(table, 0, 6)
    index.discard_before(0)
    index.discard_before(-2)
    assert contents(index) == [0, 2, 4, 5]
    table.trim(3)
    index.discard_before(3)
    assert contents(index) == [1, 2]
    assert [index.index_of(p) for p in range(-1, 4)] == [None, None, 0, 1, 1]
    table.add(rows_of("tb"))
    index.extend(table, 3, 5)
    assert contents(index) == [1, 2, 3]
    table.trim(len(table.rows))
    index.discard_before(10)  # more than it holds (the store was cleared)
    assert len(index) == 0
    table.add(rows_of("bt"))
    index.extend(table, 0, 2)
    assert contents(index) == [1]


def test_index_without_a_selection() -> None:
    table = table_of("tbtbt")
    index = FilteredIndex(None)
    assert len(index) == 0
    assert index.index_of(0) is None
    with pytest.raises(IndexError):
        index[0]
    index.extend(table, 0, 3)
    index.extend(table, 1, 5)
    assert contents(index) == [0, 1, 2, 3, 4]
    assert (index[-1], index[-5]) == (4, 0)
    for bad in (5, -6):
        with pytest.raises(IndexError):
            index[bad]
    assert [index.index_of(p) for p in (-1, 0, 4, 9)] == [None, 0, 4, 4]
    table.trim(2)
    index.discard_before(2)
    assert contents(index) == [0, 1, 2]
    assert index.index_of(2) == 2
    index.discard_before(7)
    assert len(index) == 0
    assert index.index_of(0) is None
    table.trim(len(table.rows))
    table.add(rows_of("bb"))
    index.extend(table, 0, 2)
    assert contents(index) == [0, 1]
    index.rebuild(table_of("bbb"))
    assert contents(index) == [0, 1, 2]


class Huge(Sequence[Row]):
    """A billion rows that must not be looked at."""

    def __len__(self) -> int:
        return 1_000_000_000

    def __getitem__(self, i: Any) -> Any:
        raise AssertionError("rows read without a selection")

    def __iter__(self) -> Iterator[Row]:
        raise AssertionError("rows read without a selection")


class HugeTable:
    rows = Huge()
    owner_limit = 1

    @property
    def codes(self) -> bytearray:
        raise AssertionError("codes read without a selection")

    @property
    def owners(self) -> array[int]:
        raise AssertionError("owners read without a selection")


def test_index_without_a_selection_stores_nothing_per_row() -> None:
    index = FilteredIndex(None)
    index.rebuild(HugeTable())
    assert len(index) == 1_000_000_000
    assert index[-1] == 999_999_999
    assert index.index_of(123_456_789) == 123_456_789
    index.discard_before(500_000_000)
    assert (len(index), index[0]) == (500_000_000, 0)


class Unreadable(Sequence[Row]):
    """Rows of a length, none of which may be read."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: Any) -> Any:
        raise AssertionError("a row read")

    def __iter__(self) -> Iterator[Row]:
        raise AssertionError("a row read")


def test_the_columns_alone_never_read_a_row() -> None:
    filters = Filters(direction="sent", kind="control", hide_ping_pong=True, connection_id="c1")
    table = Table([*SAMPLE, ("c1", frame("close", "again"))])
    table.rows = Unreadable(len(SAMPLE))  # type: ignore[assignment]
    index = index_for(table, filters)
    index.rebuild(table)
    assert contents(index) == [list(ROWS).index("close")]
    table.rows = Unreadable(len(SAMPLE) + 1)  # type: ignore[assignment]  # one more row came
    index.extend(table, len(SAMPLE), len(SAMPLE) + 1)
    assert contents(index) == [list(ROWS).index("close"), len(SAMPLE)]


@pytest.mark.parametrize("kind", [list, tuple, deque])
@pytest.mark.parametrize("filters", [TEXT, Filters(text="x"), Filters(text="x", kind="text")])
def test_index_over_other_sequences(kind: Any, filters: Filters) -> None:
    table = table_of("btbtt")
    table.rows = kind(table.rows)
    index = index_for(table, filters)
    index.extend(table, 0, 2)
    index.extend(table, 2, 5)
    assert contents(index) == [1, 3, 4]
    index.rebuild(table)
    assert contents(index) == [1, 3, 4]


def test_index_with_a_real_filter_follows_a_trimmed_store() -> None:
    filters = Filters(text="auth")
    match = filters.matcher()
    table = Table()
    index = index_for(table, filters)
    trimmed = 0
    for batch in range(30):
        table.add(SAMPLE)
        index.extend(table, len(table.rows) - len(SAMPLE), len(table.rows))
        if len(table.rows) > 100:
            cut = batch % 7 + 20
            table.trim(cut)
            trimmed += cut
            index.discard_before(cut)
        assert contents(index) == [i for i, row in enumerate(table.rows) if match(row)]
    assert trimmed


def test_index_rebuild_over_a_hundred_thousand_rows_with_a_text_filter() -> None:
    table = Table(SAMPLE * (100_000 // len(SAMPLE) + 1))
    index = index_for(table, Filters(text="auth"))
    index.rebuild(table)
    assert len(index) == 3 * (len(table.rows) // len(SAMPLE))
    assert index[0] == 0
    assert table.rows[index[-1]] is ROWS["event"]


@pytest.mark.parametrize(
    "filters",
    [
        Filters(direction="received"),
        Filters(kind="binary", connection_id="c2"),
        Filters(text="auth", connection_id="c1"),
    ],
)
def test_index_over_many_blocks_of_rows_trimmed_and_grown(filters: Filters) -> None:
    # Far more rows than a block of the index holds, or than it reads of the owners at once: its
    # counts per block, the blocks it drops after a trim and the matches it decodes again must
    # agree with the plain definition.
    match = filters.matcher()
    table = Table()
    index = index_for(table, filters)
    for step in range(12):
        table.add(SAMPLE * (2_000 + 97 * step))
        index.extend(table, 0, len(table.rows))
        if step % 3 == 2:
            cut = len(table.rows) // 3 + step
            table.trim(cut)
            index.discard_before(cut)
        expected = [i for i, row in enumerate(table.rows) if match(row)]
        assert len(index) == len(expected)
        for i in (0, 1, len(expected) // 2, len(expected) - 1, -1):
            assert index[i] == expected[i]
        for position in (0, 5_000, len(table.rows) - 1):
            before = sum(found <= position for found in expected)
            assert index.index_of(position) == (before - 1 if before else None)
    assert contents(index) == expected
    rebuilt = index_for(table, filters)
    rebuilt.rebuild(table)
    assert len(table.rows) > 2 * filters_module._OWNERS_AT_ONCE
    assert contents(rebuilt) == expected


# Each filter off half the time, so each is often alone.
FILTERS = st.builds(
    Filters,
    text=st.just("") | st.sampled_from(["auth", "ff00", "f", "o", "zz", "^a", "c2"]),
    regex=st.booleans(),
    direction=st.just("both") | st.sampled_from(["sent", "received"]),
    kind=st.just("all") | st.sampled_from(["text", "binary", "control"]),
    hide_ping_pong=st.booleans(),
    connection_id=st.none() | st.sampled_from(["c1", "c2", "c3"]),
)
BLOCKS = st.sampled_from([1, 2, 3, 5, 4096])  # the index's block size: small ones to cross many


def small_blocks(size: int) -> Any:
    """The index counting its matches per ``size`` rows, and reading as many owners at once."""
    return mock.patch.multiple(filters_module, _BLOCK=size, _OWNERS_AT_ONCE=size)


@settings(max_examples=300, deadline=None)
@given(
    picks=st.lists(st.integers(0, len(SAMPLE) - 1), max_size=60),
    cuts=st.lists(st.integers(0, 60), max_size=10),
    filters=st.one_of(st.none(), FILTERS),
    block=BLOCKS,
)
def test_index_built_in_chunks_equals_a_rebuild_and_a_comprehension(
    picks: list[int], cuts: list[int], filters: Filters | None, block: int
) -> None:
    rows = [SAMPLE[pick] for pick in picks]
    table = Table(rows)
    match = filters.matcher() if filters is not None else None
    expected = [i for i, row in enumerate(rows) if match is None or match(row)]
    with small_blocks(block):
        index = index_for(table, filters)
        start = 0
        for stop in [*sorted(cuts), len(rows)]:
            index.extend(table, start, stop)
            start = max(start, min(stop, len(rows)))
        rebuilt = index_for(table, filters)
        rebuilt.rebuild(table)
        assert contents(index) == contents(rebuilt) == expected
        for position in range(-1, len(rows) + 1):
            before = [i for i, found in enumerate(expected) if found <= position]
            assert index.index_of(position) == (before[-1] if before else None)


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(st.tuples(st.booleans(), st.integers(0, 12)), max_size=30),
    filters=st.one_of(st.none(), FILTERS),
    block=BLOCKS,
)
def test_index_kept_up_to_date_through_growth_and_trims(
    steps: list[tuple[bool, int]], filters: Filters | None, block: int
) -> None:
    match = filters.matcher() if filters is not None else None
    table = Table()
    added = 0
    with small_blocks(block):
        index = index_for(table, filters)
        for grow, n in steps:
            if grow:
                table.add(SAMPLE[(added + i) % len(SAMPLE)] for i in range(n))
                added += n
                index.extend(table, len(table.rows) - n, len(table.rows))
            else:
                table.trim(n)
                index.discard_before(n)
            expected = [i for i, row in enumerate(table.rows) if match is None or match(row)]
            assert contents(index) == expected
            assert [index.index_of(p) for p in range(len(table.rows))] == [
                sum(found <= p for found in expected) - 1 if expected and expected[0] <= p else None
                for p in range(len(table.rows))
            ]


@pytest.mark.parametrize(
    "filters",
    [
        Filters(direction="sent"),
        Filters(kind="control"),
        Filters(hide_ping_pong=True),
        Filters(connection_id="c1"),
        Filters(connection_id="c2", direction="received"),
        Filters(text="auth"),
    ],
)
def test_index_extended_in_pieces_of_every_size(filters: Filters) -> None:
    rows = SAMPLE * 2
    match = filters.matcher()
    expected = [i for i, row in enumerate(rows) if match(row)]
    for block in (1, 2, 3, 5, 4096):
        with small_blocks(block):
            for piece in range(1, len(rows) + 1):
                table = Table(rows)
                index = index_for(table, filters)
                for start in range(0, len(rows), piece):
                    index.extend(table, start, start + piece)
                assert contents(index) == expected


# Rows of any kind, direction, payload and connection (none: the inspector's own), and events.
CONNECTIONS = st.sampled_from([None, "c1", "c2", "c3", "c4"])
PAYLOADS = st.sampled_from(["", "auth", "Auth OK", "zoë", "ff00", "bye", None])
FRAMES = st.builds(
    lambda kind, payload, direction, code: frame(
        kind,
        payload.encode() if isinstance(payload, str) and kind in ("binary", "ping", "pong") else payload,
        direction=direction,
        close_code=code if kind == "close" else None,
    ),
    st.sampled_from(["text", "binary", "ping", "pong", "close"]),
    PAYLOADS,
    st.sampled_from(["sent", "received"]),
    st.sampled_from([None, 1000, 4001]),
)
EVENT_ROWS = st.builds(event, st.sampled_from(["connect /ws/auth", "closed: 1000", "accepted"]))
RANDOM_ROWS = st.lists(st.tuples(CONNECTIONS, st.one_of(FRAMES, EVENT_ROWS)), max_size=80)
# Connection numbers sharing their low bytes, so the index must compare every byte of them.
WIDE_NUMBERS = {"c1": 1, "c2": 257, "c3": 0x10101, "c4": 0x1_0000_0001}


@settings(max_examples=400, deadline=None)
@given(rows=RANDOM_ROWS, filters=FILTERS, wide=st.booleans(), block=BLOCKS)
def test_the_columns_select_what_the_per_row_definition_does(
    rows: list[Row], filters: Filters, wide: bool, block: int
) -> None:
    table = Table(rows, WIDE_NUMBERS if wide else None)
    with small_blocks(block):
        selected(filters, rows, table)


@settings(max_examples=100, deadline=None)
@given(rows=RANDOM_ROWS, filters=FILTERS, number=st.sampled_from([0, 1, 255, 256, 257, 65_536, 2**40]))
def test_a_connection_number_any_width(rows: list[Row], filters: Filters, number: int) -> None:
    table = Table(rows, {"c1": number + 1, "c2": number + 257, "c3": number + 65_537})  # low bytes shared
    selected(dataclasses.replace(filters, connection_id="c1"), rows, table)
