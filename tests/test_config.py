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


def test_capture_logs_defaults_to_info() -> None:
    config = WSInspectConfig()
    assert config.capture_logs == "INFO"
    assert config.log_level == 20


@pytest.mark.parametrize(
    ("capture_logs", "level"),
    [("warning", 30), (" Warning ", 30), ("DEBUG", 10), ("critical", 50), (15, 15), (0, 0), (None, None)],
)
def test_capture_logs_becomes_a_level_number(capture_logs: str | int | None, level: int | None) -> None:
    assert WSInspectConfig(capture_logs=capture_logs).log_level == level


def test_capture_logs_refuses_an_unknown_level_name() -> None:
    with pytest.raises(ValueError, match="capture_logs") as raised:
        WSInspectConfig(capture_logs="LOUD")
    assert "LOUD" in str(raised.value)


@pytest.mark.parametrize("capture_logs", [True, False, 1.5, b"INFO"])
def test_capture_logs_refuses_other_types(capture_logs: object) -> None:
    with pytest.raises(TypeError, match="capture_logs"):
        WSInspectConfig(capture_logs=capture_logs)  # type: ignore[arg-type]


def test_log_level_is_derived_not_an_argument() -> None:
    with pytest.raises(TypeError):
        WSInspectConfig(log_level=10)  # type: ignore[call-arg]
    assert WSInspectConfig(capture_logs="error") == WSInspectConfig(capture_logs="error")
