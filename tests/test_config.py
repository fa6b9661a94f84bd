from __future__ import annotations

import pytest

from wsinspect import WSInspectConfig


def test_defaults_follow_the_contract() -> None:
    config = WSInspectConfig()
    assert (config.enabled, config.socket_path, config.max_messages) == (True, None, 100)
    assert (config.max_message_size, config.show_binary_preview) == (10240, True)
    assert "authorization" in config.redact_headers


def test_arguments_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        WSInspectConfig(False)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_messages": 0}, "max_messages must be at least 1"),
        ({"max_message_size": -1}, "max_message_size must be from 0 to"),
        ({"max_message_size": 8 * 1024 * 1024 + 1}, "max_message_size must be from 0 to"),
        ({"exclude_paths": ("(",)}, "invalid regular expression"),
    ],
)
def test_bad_values_are_refused_clearly(kwargs: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        WSInspectConfig(**kwargs)  # type: ignore[arg-type]


def test_exclude_paths_takes_a_tuple() -> None:
    with pytest.raises(TypeError, match="tuple of patterns"):
        WSInspectConfig(exclude_paths="/health")  # type: ignore[arg-type]


def test_redacted_header_names_ignore_case() -> None:
    assert WSInspectConfig(redact_headers=frozenset({"X-Secret"})).redact_headers == {"x-secret"}
