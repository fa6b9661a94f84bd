"""Filters on decoded fields: the expression language, its errors, and what matches."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsinspect.inspector.core.fields import FieldError, matches, parse

TREE = {
    "type": "chat",
    "payload": {"symbol": "WSI", "seq": 5, "price": 101.5, "live": True},
    "args": ["join", {"room": "lobby"}],
    7: "a msgpack key",
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('type == "chat"', True),
        ("type = chat", True),
        ("type = Chat", False),
        ("type ~ CH", True),
        ("type != chat", False),
        ("type = chat and payload.symbol = WSI", True),
        ("type = chat AND payload.symbol = XYZ", False),
        ("payload.seq = 5", True),
        ('payload.seq = "5"', True),
        ("payload.seq = 5.0", True),
        ("payload.price > 100", True),
        ("payload.price <= 101.5", True),
        ("payload.price < 100", False),
        ("payload.live = true", True),
        ("args.0 = join", True),
        ("args.room = lobby", True),  # through a list: any item
        ("args.5 = x", False),
        ("payload.missing != x", True),
        ("payload.missing = x", False),
        ("payload = x", False),  # a map is not a value
        ("7 ~ msgpack", True),
        ("", True),
    ],
)
def test_what_matches(expression: str, expected: bool) -> None:
    assert matches(TREE, parse(expression)) is expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("type", "after 'type': expected ==, !=, ~, <, <=, > or >="),
        ("type ==", "after 'type ==': a value is missing"),
        ('type == "chat', "after 'type ==': the quote is not closed"),
        ("a = 1 b = 2", "expected 'and' before 'b = 2'"),
        ("a = 1 and", "a clause is missing after 'and'"),
        ("a = 1 and and", "after 'and': expected ==, !=, ~, <, <=, > or >="),
        ("price > cheap", "'price >' compares numbers: cheap is not one"),
    ],
)
def test_what_is_wrong_is_said(expression: str, message: str) -> None:
    with pytest.raises(FieldError) as raised:
        parse(expression)
    assert str(raised.value) == message


@given(st.text(max_size=60))
def test_any_text_parses_or_says_why(expression: str) -> None:
    try:
        clauses = parse(expression)
    except FieldError as exc:
        message = str(exc)
    else:
        message = ""
        matches(TREE, clauses)  # and matching never raises
    assert "\n" not in message


def test_a_field_filter_indexes_with_the_other_filters_and_rejects_a_bad_expression() -> None:
    from helpers.factories import frame
    from helpers.table import Table, contents

    from wsinspect.inspector.core.filters import FilteredIndex, FilterError, Filters

    table = Table(
        [
            ("c1", frame("text", '{"type": "chat", "seq": 1}', direction="received")),
            ("c1", frame("text", '{"type": "chat", "seq": 2}')),
            ("c1", frame("text", '{"type": "ping"}')),
            ("c2", frame("text", "not json")),
            ("c1", frame("binary", b"\x81\xa4type\xa4chat")),  # msgpack, not decoded without a decoder
        ]
    )
    selection = Filters(fields="type = chat", direction="sent").selection(table.number_of)
    index = FilteredIndex(selection)
    index.rebuild(table)
    assert contents(index) == [1]
    decode_all = Filters(fields="type = chat").selection(table.number_of, lambda cid, f: {"type": "chat"})
    index = FilteredIndex(decode_all)
    index.rebuild(table)
    assert contents(index) == [0, 1, 2, 3, 4]  # every frame decodes to a chat here
    assert Filters(fields="type = chat").describe() == ["where type = chat"]
    with pytest.raises(FilterError, match="invalid field filter: after 'type ==': a value is missing"):
        Filters(fields="type ==").selection(table.number_of)
