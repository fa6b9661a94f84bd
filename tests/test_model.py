"""The session model's close codes: their RFC 6455 / IANA names and how a close is described."""

from __future__ import annotations

import pytest

from wsinspect.model import close_code_name, describe_close, short_handler

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


@pytest.mark.parametrize(
    ("handler", "short"),
    [
        ("chat.handlers.chat_room", "chat_room"),  # a function: its name
        ("chat_room", "chat_room"),
        ("chat.listeners.Shouting.on_receive", "Shouting.on_receive"),  # an event method: with its class
        ("app.ChatController.chat", "chat"),  # another method: its name
        ("Litestar Channels: sport.results", "Litestar Channels: sport.results"),  # no qualified name
    ],
)
def test_a_handlers_short_name_says_what_runs(handler: str, short: str) -> None:
    assert short_handler(handler) == short
