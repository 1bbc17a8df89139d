"""Durations and byte sizes, as written in YAML and as printed back."""

from __future__ import annotations

import pytest

from bridge.components import parse_config
from bridge.config import ComponentID, ConfigError
from bridge.config._units import format_bytesize, format_duration, parse_bytesize, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5s", 5.0),
        ("250ms", 0.25),
        ("1m30s", 90.0),
        ("2h", 7200.0),
        ("1.5s", 1.5),
        ("1h2m3s", 3723.0),
        ("300us", 0.0003),
        ("300µs", 0.0003),
        ("10ns", 1e-8),
        ("5", 5.0),
        ("0.2", 0.2),
        ("0", 0.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "5x", "5 s", "1s2", "-1s", "1d", "five seconds", "1m-30s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0s"),
        (0.2, "200ms"),
        (5.0, "5s"),
        (90.0, "1m30s"),
        (7200.0, "2h"),
        (1.5, "1.5s"),
        (3723.5, "3723.5s"),
    ],
)
def test_format_duration_reads_back(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("4MiB", 4 * 1024**2),
        ("512KiB", 512 * 1024),
        ("1GiB", 1024**3),
        ("16kB", 16_000),
        ("16KB", 16_000),
        ("1MB", 1_000_000),
        ("100B", 100),
        ("100", 100),
        ("1.5KiB", 1536),
        ("4 MiB", 4 * 1024**2),
    ],
)
def test_parse_bytesize(text: str, size: int) -> None:
    assert parse_bytesize(text) == size


@pytest.mark.parametrize("text", ["", "MiB", "4XB", "4MB/s", "-1", "four"])
def test_parse_bytesize_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a byte size"):
        parse_bytesize(text)


def test_bytesize_must_be_whole_bytes() -> None:
    with pytest.raises(ValueError, match="not a whole number of bytes"):
        parse_bytesize("1.1KiB")


@pytest.mark.parametrize(
    ("size", "printed"), [(4 * 1024**2, "4MiB"), (1536, 1536), (0, 0), (1024**3, "1GiB")]
)
def test_format_bytesize(size: int, printed: str | int) -> None:
    assert format_bytesize(size) == printed


def config_with(receiver: dict[str, object], batch: dict[str, object]) -> dict[str, object]:
    return {
        "receivers": {"envoy_als": receiver},
        "processors": {"batch": batch},
        "exporters": {"debug": None},
        "service": {
            "pipelines": {
                "traces": {"receivers": ["envoy_als"], "processors": ["batch"], "exporters": ["debug"]}
            }
        },
    }


@pytest.mark.parametrize(("timeout", "seconds"), [(2, 2.0), (0.5, 0.5), ("1m", 60.0)])
def test_duration_field_accepts_numbers_and_strings(timeout: object, seconds: float) -> None:
    config = parse_config(config_with({}, {"timeout": timeout}), "c.yaml")
    assert config.processors[ComponentID("batch")].timeout == seconds


@pytest.mark.parametrize(
    ("timeout", "problem"),
    [
        (-1, "a duration cannot be negative, got -1 (an integer)"),
        (True, "expected a duration such as '5s' or '250ms', got true (a boolean)"),
        ("soon", "not a duration: 'soon'"),
    ],
)
def test_duration_field_errors(timeout: object, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config_with({}, {"timeout": timeout}), "c.yaml")
    assert str(caught.value).startswith(f"c.yaml: processors.batch.timeout: {problem}")


@pytest.mark.parametrize(("size", "expected"), [(1024, 1024), ("16MiB", 16 * 1024**2)])
def test_bytesize_field(size: object, expected: int) -> None:
    config = parse_config(config_with({"max_recv_msg_size": size}, {}), "c.yaml")
    assert config.receivers[ComponentID("envoy_als")].max_recv_msg_size == expected


@pytest.mark.parametrize(
    ("size", "problem"),
    [
        (1.5, "expected a byte size such as '4MiB' or '16kB', got 1.5 (a number)"),
        (0, "must be greater than 0"),
        (-5, "a byte size cannot be negative"),
    ],
)
def test_bytesize_field_errors(size: object, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config_with({"max_recv_msg_size": size}, {}), "c.yaml")
    assert str(caught.value).startswith(f"c.yaml: receivers.envoy_als.max_recv_msg_size: {problem}")
