"""Filters on the fields of decoded payloads (sans-I/O): ``type == "chat" and payload.symbol = WSI``.

An expression is clauses joined by ``and``; a clause is ``PATH OP VALUE``:

- ``PATH``: dotted keys into the decoded tree (``payload.symbol``); a number picks a list's item
  (``args.0``); through a list without a number, any item may match.
- ``OP``: ``==`` (or ``=``), ``!=``, ``~`` (holds the text, ignoring case), ``<``, ``<=``, ``>``, ``>=``
  (numbers).
- ``VALUE``: JSON (``"chat"``, ``5``, ``true``, ``null``) or a bare word (``WSI``, a string). A number
  and its text are equal (``seq = 5`` and ``seq = "5"`` alike).

:func:`parse` says what is wrong, and where, before anything is filtered.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Final

__all__ = ("Clause", "FieldError", "matches", "parse")

_CLAUSE: Final = re.compile(
    r"""\s*(?P<path>[^\s=!<>~"]+)\s*(?P<op>==|!=|>=|<=|=|~|>|<)?\s*(?P<value>"(?:[^"\\]|\\.)*"?|[^\s"]+)?\s*"""
)
_AND: Final = re.compile(r"and\b\s*", re.IGNORECASE)
_OPS: Final = ("==", "!=", ">=", "<=", "=", "~", ">", "<")


class FieldError(Exception):
    """An expression that cannot be used; ``str()`` is one short line for the screen."""


@dataclass(frozen=True, slots=True)
class Clause:
    path: tuple[str, ...]
    op: str  # one of _OPS, "=" spelled "=="
    value: Any

    def __str__(self) -> str:
        return f"{'.'.join(self.path)} {self.op} {json.dumps(self.value, ensure_ascii=False)}"


def parse(expression: str) -> list[Clause]:
    """The clauses of ``expression``; raises FieldError saying what is wrong (an empty one: none)."""
    clauses: list[Clause] = []
    at = 0
    text = expression.rstrip()
    while at < len(text):
        if clauses:
            joined = _AND.match(text, at)
            if joined is None:
                raise FieldError(f"expected 'and' before {text[at : at + 20]!r}")
            at = joined.end()
            if at >= len(text):
                raise FieldError("a clause is missing after 'and'")
        match = _CLAUSE.match(text, at)
        if match is None or not match["path"]:  # pragma: no cover - the pattern matches any non-space start
            raise FieldError(f"expected a field name at {text[at : at + 20]!r}")
        path, op, raw = match["path"], match["op"], match["value"]
        if op is None:
            raise FieldError(f"after {path!r}: expected ==, !=, ~, <, <=, > or >=")
        if raw is None or raw.lower() == "and":
            raise FieldError(f"after '{path} {op}': a value is missing")
        if raw.startswith('"') and (len(raw) == 1 or not raw.endswith('"') or raw.endswith('\\"')):
            raise FieldError(f"after '{path} {op}': the quote is not closed")
        value = _value(raw)
        if op in ("<", "<=", ">", ">=") and _number(value) is None:
            raise FieldError(f"'{path} {op}' compares numbers: {raw} is not one")
        clauses.append(Clause(tuple(path.split(".")), "==" if op == "=" else op, value))
        at = match.end()
    return clauses


def matches(tree: Any, clauses: list[Clause]) -> bool:
    """Whether every clause holds of the decoded ``tree``."""
    return all(_holds(list(_at(tree, clause.path)), clause) for clause in clauses)


def _holds(found: list[Any], clause: Clause) -> bool:
    op, value = clause.op, clause.value
    if op == "!=":
        return not any(_equal(node, value) for node in found)
    if op == "==":
        return any(_equal(node, value) for node in found)
    if op == "~":
        needle = _text(value).lower()
        return any(needle in _text(node).lower() for node in found)
    limit = _number(value)
    assert limit is not None  # parse() checked it
    for node in found:
        number = _number(node)
        if number is not None and (
            (op == "<" and number < limit)
            or (op == "<=" and number <= limit)
            or (op == ">" and number > limit)
            or (op == ">=" and number >= limit)
        ):
            return True
    return False


def _at(node: Any, path: tuple[str, ...]) -> Any:
    """Every value at ``path`` in ``node`` (through lists, each item)."""
    if not path:
        yield node
        return
    key, rest = path[0], path[1:]
    if isinstance(node, dict):
        if key in node:
            yield from _at(node[key], rest)
        elif key.lstrip("-").isdigit() and int(key) in node:  # MessagePack / CBOR / protobuf keys
            yield from _at(node[int(key)], rest)
    elif isinstance(node, list | tuple):
        if key.isdigit():
            if int(key) < len(node):
                yield from _at(node[int(key)], rest)
        else:
            for item in node:
                yield from _at(item, path)


def _value(raw: str) -> Any:
    try:
        value = json.loads(raw)
    except ValueError:
        return raw  # a bare word
    return value if not isinstance(value, dict | list) else raw


def _equal(node: Any, value: Any) -> bool:
    if isinstance(node, dict | list | tuple):
        return False
    left, right = _number(node), _number(value)
    if left is not None and right is not None and not isinstance(node, bool) and not isinstance(value, bool):
        return left == right
    return _text(node) == _text(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.hex()
    return json.dumps(value, ensure_ascii=False, default=str)
