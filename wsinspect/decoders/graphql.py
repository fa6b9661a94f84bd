"""GraphQL over WebSocket: ``graphql-transport-ws`` (graphql-ws, the current protocol) and the older
``graphql-ws`` (subscriptions-transport-ws, Apollo's legacy one).

graphql-transport-ws: connection_init / connection_ack, ping / pong, subscribe / next / error /
complete. Legacy: connection_init / connection_ack / connection_error / connection_terminate, ka,
start / data / error / complete / stop. Summaries: ``subscribe OnPrice (id 1) {"symbol": "WSI"}``,
``next (id 1) {"onPrice": …}``; the operation name comes from the query when operationName is absent.
"""

from __future__ import annotations

import re
from typing import Any, Final

from .base import Decoded, compact, join_summary
from .jsonish import JsonFamilyDecoder

__all__ = ("GraphQLWSDecoder", "operation_name")

_STARTS: Final = frozenset(("subscribe", "start"))  # an operation begins (the client)
_RESULTS: Final = frozenset(("next", "data"))  # one of its results (the server)
_ENDS: Final = frozenset(("complete", "stop"))
_CONNECTION: Final = frozenset(
    ("connection_init", "connection_ack", "connection_error", "connection_terminate", "ka", "ping", "pong")
)
TYPES: Final = _STARTS | _RESULTS | _ENDS | _CONNECTION | {"error"}
# {"type": "ping"} is what many a JSON app sends too: without the subprotocol, not GraphQL.
_AMBIGUOUS: Final = frozenset(("ping", "pong"))
_KEYS: Final = frozenset(("type", "id", "payload"))
_RESULT_KEYS: Final = frozenset(("data", "errors", "extensions", "hasNext", "incremental", "label", "path"))

# Ignored tokens (whitespace, commas, comments, a byte order mark) before a definition.
_IGNORED: Final = r"(?:[\s,\ufeff]+|#[^\n\r]*)*"
_OPERATION: Final = re.compile(_IGNORED + r"(query|mutation|subscription)\b" + _IGNORED + r"([_A-Za-z][_0-9A-Za-z]*)?")


def operation_name(payload: Any) -> str | None:
    """The operation's name: ``operationName``, else the first operation's name in the query,
    else "anonymous query" (or mutation, subscription); None when there is no query."""
    if not isinstance(payload, dict):
        return None
    name = payload.get("operationName")
    if isinstance(name, str) and name:
        return name
    query = payload.get("query")
    if not isinstance(query, str):
        return None
    match = _OPERATION.match(query)
    if match is None:
        return "anonymous query"  # the shorthand "{ field }"
    return match.group(2) or f"anonymous {match.group(1)}"


class GraphQLWSDecoder(JsonFamilyDecoder):
    name = "graphql-ws"
    subprotocols: tuple[str, ...] = ("graphql-transport-ws", "graphql-ws")

    def from_json(self, value: Any, *, truncated: bool, size: int, strict: bool = False) -> Decoded | None:
        if not isinstance(value, dict):
            return None
        kind = value.get("type")
        if not isinstance(kind, str) or kind not in TYPES:
            return None
        op_id = value.get("id")
        payload = value.get("payload")
        if strict and not _looks_right(kind, value, op_id, payload, truncated):
            return None
        id_text = op_id if isinstance(op_id, str) else None if op_id is None else compact(op_id)
        shown_id = None if id_text is None else f"(id {id_text})"
        pair_id = _pair_id(op_id)
        role: str | None = None
        if kind in _STARTS:
            variables = payload.get("variables") if isinstance(payload, dict) else None
            words = [kind, operation_name(payload), shown_id, compact(variables, size_hint=size) if variables else None]
            role = "request"
        elif kind in _RESULTS:
            shown = payload
            if isinstance(payload, dict) and set(payload) == {"data"}:
                shown = payload["data"]
            words = [kind, shown_id, None if shown is None else compact(shown, size_hint=size)]
            role = "error" if isinstance(payload, dict) and payload.get("errors") else "reply"
        elif kind == "error":
            words = [kind, shown_id, _errors(payload, size)]
            role = "error"
        elif kind in _ENDS:
            words = [kind, shown_id]  # either side may end an operation: no role, but its id
        else:
            words = [kind, compact(payload, size_hint=size) if payload else None]
            pair_id = None
        return Decoded("graphql-ws", join_summary(*words), value, truncated=truncated, role=role, pair_id=pair_id)


def _pair_id(op_id: Any) -> str | None:
    if isinstance(op_id, str):
        return op_id
    if isinstance(op_id, int) and not isinstance(op_id, bool):
        return str(op_id)
    return None


def _looks_right(kind: str, value: dict[str, Any], op_id: Any, payload: Any, truncated: bool) -> bool:
    """Whether a message found by sniffing surely is GraphQL over WebSocket."""
    if kind in _AMBIGUOUS or not _KEYS.issuperset(value):
        return False
    if kind in _CONNECTION:
        return "id" not in value and (payload is None or isinstance(payload, dict | str))
    if not isinstance(op_id, str) and not (truncated and op_id is None):
        return False
    if kind in _STARTS:
        if truncated and payload is None:
            return True
        return isinstance(payload, dict) and (
            isinstance(payload.get("query"), str) or (truncated and "query" not in payload)
        )
    if kind in _RESULTS:
        if truncated and payload is None:
            return True
        return isinstance(payload, dict) and _RESULT_KEYS.issuperset(payload) and (bool(payload) or truncated)
    if kind == "error":
        return isinstance(payload, list | dict) or (truncated and payload is None)
    return "payload" not in value  # complete, stop


def _errors(payload: Any, size: int) -> str | None:
    """An error message's messages: ``"Cannot query field …"``, else the payload compact."""
    errors = payload if isinstance(payload, list) else [payload]
    messages = [error.get("message") for error in errors if isinstance(error, dict)]
    if messages and all(isinstance(message, str) for message in messages):
        return "; ".join(str(message) for message in messages)
    return None if payload is None else compact(payload, size_hint=size)
