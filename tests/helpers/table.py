"""Rows and the columns the inspector's Store keeps of them, without a Store: what the filters'
index reads (:class:`Table`), and what an index holds (:func:`contents`)."""

from __future__ import annotations

from array import array
from collections.abc import Iterable

from wsinspect.inspector.core.filters import FilteredIndex, Filters, Selection
from wsinspect.inspector.core.rows import code_of as row_code
from wsinspect.inspector.core.store import search_text
from wsinspect.model import Row

__all__ = ("Table", "contents")


class Table:
    """Rows and their columns as the Store keeps them (what the index reads), grown and trimmed
    together. ``numbers`` gives the connections their numbers (others get the next free one)."""

    def __init__(self, rows: Iterable[Row] = (), numbers: dict[str, int] | None = None) -> None:
        self.numbers = dict(numbers or {"c1": 1, "c2": 2})
        self.rows: list[Row] = []
        self.codes = bytearray()
        self.owners = array("q")
        self.texts: list[str] = []
        self.add(rows)

    @property
    def owner_limit(self) -> int:
        return max(self.numbers.values(), default=0) + 1

    def number_of(self, connection_id: str) -> int:
        return self.numbers.setdefault(connection_id, self.owner_limit)

    def add(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self.rows.append(row)
            self.codes.append(row_code(row))
            self.owners.append(0 if row[0] is None else self.number_of(row[0]))
            self.texts.append(search_text(row[1]))

    def trim(self, count: int) -> None:
        del self.rows[:count], self.codes[:count], self.owners[:count], self.texts[:count]

    def select(self, filters: Filters | None) -> Selection | None:
        return filters.selection(self.number_of) if filters is not None else None


def contents(index: FilteredIndex) -> list[int]:
    return [index[i] for i in range(len(index))]
