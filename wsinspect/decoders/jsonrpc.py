"""JSON-RPC 2.0: requests, notifications, results, errors, and batches of them.

Summaries: ``request subtract (id 3) [42, 23]``, ``notification update [1, 2]``,
``result (id 3) 19``, ``error (id 3) -32601 Method not found``, ``batch of 3: request sum (id 1), …``.
A request's id pairs it with its reply; a batch pairs by its requests' ids, sorted and joined.
"""

from __future__ import annotations

from typing import Any, Final

from .base import Decoded, compact, join_summary
from .jsonish import JsonFamilyDecoder

__all__ = ("JsonRpcDecoder",)

_KEYS: Final = frozenset(("jsonrpc", "method", "params", "id", "result", "error"))
_SHOWN_IN_BATCH: Final = 8
_PAIRED_IDS: Final = 100


class JsonRpcDecoder(JsonFamilyDecoder):
    name = "json-rpc"
    subprotocols: tuple[str, ...] = ("jsonrpc", "json-rpc", "jsonrpc2", "jsonrpc-2.0")

    def from_json(self, value: Any, *, truncated: bool, size: int, strict: bool = False) -> Decoded | None:
        if isinstance(value, dict):
            message = _message(value, truncated, strict, size)
            if message is None:
                return None
            summary, role, pair_id = message
            return Decoded("json-rpc", join_summary(summary), value, truncated=truncated, role=role, pair_id=pair_id)
        if not isinstance(value, list) or not value:
            return None
        messages = []
        for index, item in enumerate(value):
            # Only the first few show in the summary: the others are only checked.
            shown = index < _SHOWN_IN_BATCH
            message = _message(item, truncated, strict, size if shown else None) if isinstance(item, dict) else None
            if message is None:
                return None
            messages.append(message)
        roles = {role for _, role, _ in messages}
        ids = sorted(pair_id for _, _, pair_id in messages if pair_id is not None)
        batch_role: str | None = None
        if roles <= {"request", "notification"}:
            batch_role = "request" if "request" in roles else "notification"
        elif roles <= {"reply", "error"}:
            batch_role = "reply"
        # A batch pairs by all its ids (a few: a huge batch does not pair).
        batch_id = ",".join(ids) if batch_role in ("request", "reply") and 0 < len(ids) <= _PAIRED_IDS else None
        if batch_id is None and batch_role != "notification":
            batch_role = None
        summary = join_summary(
            f"batch of {len(value)}:", ", ".join(summary for summary, _, _ in messages[:_SHOWN_IN_BATCH])
        )
        return Decoded("json-rpc", summary, value, truncated=truncated, role=batch_role, pair_id=batch_id)


def _message(
    value: dict[str, Any], truncated: bool, strict: bool, size: int | None
) -> tuple[str, str | None, str | None] | None:
    """One message's summary, role and pair id, or None when it is no JSON-RPC message.

    ``size``: the payload's size, for the summary; None for no summary (an empty one).
    """
    version = value.get("jsonrpc")
    if strict and (version != "2.0" or not _KEYS.issuperset(value)):
        return None
    if version is not None and not isinstance(version, str):
        return None
    msg_id = value.get("id", _MISSING)
    if msg_id is not _MISSING and msg_id is not None and not isinstance(msg_id, str | int | float):
        return None
    id_text = _id_text(msg_id)
    shown_id = None if id_text is None else f"(id {id_text})"
    if "method" in value:
        method = value["method"]
        params = value.get("params")
        if not isinstance(method, str) or "result" in value or "error" in value:
            return None
        if strict and "params" in value and not isinstance(params, list | dict):
            return None
        shown = _show(params, size) if params is not None else None
        if msg_id is _MISSING:
            return join_summary("notification", method, shown), "notification", None
        return join_summary("request", method, shown_id, shown), "request", id_text
    if "result" in value and "error" not in value:
        if msg_id is _MISSING and not truncated:
            return None
        return join_summary("result", shown_id, _show(value["result"], size)), "reply", id_text
    if "error" in value and "result" not in value:
        error = value["error"]
        if msg_id is _MISSING and not truncated:
            return None
        if isinstance(error, dict):
            code, text = error.get("code"), error.get("message")
            if strict and (not isinstance(code, int) or not isinstance(text, str)) and not truncated:
                return None
            detail = join_summary(None if code is None else compact(code), text if isinstance(text, str) else None)
        elif strict:
            return None
        else:
            detail = _show(error, size)
        return join_summary("error", shown_id, detail), "error", id_text
    # A truncated message may have lost what made it one; then a 2.0 version tag still says so.
    if truncated and version == "2.0":
        return join_summary("json-rpc", _show(value, size)), None, None
    return None


def _show(value: Any, size: int | None) -> str:
    return "" if size is None else compact(value, size_hint=size)


class _Missing:
    __slots__ = ()


_MISSING: Final = _Missing()


def _id_text(msg_id: Any) -> str | None:
    if isinstance(msg_id, str):
        return msg_id
    if msg_id is _MISSING or msg_id is None or isinstance(msg_id, bool):
        return None
    return compact(msg_id)
