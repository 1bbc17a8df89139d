"""The YAML 1.2 core schema, as the Collector reads it, rather than PyYAML's YAML 1.1."""

from __future__ import annotations

import pytest

from bridge.config._yaml import load_yaml, read_scalar


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("no", "no"),
        ("on", "on"),
        ("yes", "yes"),
        ("true", True),
        ("False", False),
        ("010", 10),
        ("0o17", 15),
        ("0x1f", 31),
        ("1:30", "1:30"),
        ("1_000", "1_000"),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("~", None),
        ("2024-01-01", "2024-01-01"),
        ("0.0.0.0:11800", "0.0.0.0:11800"),
    ],
)
def test_core_schema_scalars(text: str, value: object) -> None:
    assert load_yaml(f"key: {text}\n", "t.yaml") == {"key": value}


def test_merge_keys_still_work() -> None:
    data = load_yaml("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  x: 3\n", "t.yaml")
    assert data == {"base": {"x": 1, "y": 2}, "use": {"x": 3, "y": 2}}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("8080", 8080),
        ("true", True),
        ("", None),
        ("{a: 1}", "{a: 1}"),
        ("[1, 2]", "[1, 2]"),
        ("a: b: c", "a: b: c"),
    ],
)
def test_read_scalar_only_yields_scalars(text: str, value: object) -> None:
    assert read_scalar(text) == value
