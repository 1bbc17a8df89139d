"""The `extensions:` section and `service.extensions`, with the health_check extension: every
deliberately bad config in testdata/ fails naming the key path and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.components import load_config
from bridge.config import ComponentID, ConfigError
from bridge.extensions.health_check import HealthCheckConfig

TESTDATA = Path(__file__).parent / "testdata"

CASES: dict[str, tuple[str, str]] = {
    "typo_in_health_check_key.yaml": (
        "extensions.health_check.endpont",
        "unknown key; did you mean 'endpoint'?",
    ),
    "bad_health_check_endpoint.yaml": ("extensions.health_check.endpoint", "must be host:port"),
    "health_check_path_taken.yaml": (
        "extensions.health_check.path",
        "/readyz is taken by the extension itself",
    ),
    "health_check_drain_delay_too_long.yaml": (
        "extensions.health_check.drain_delay",
        "must be between 0s and 120s; got 600.0s",
    ),
    "unknown_extension_type.yaml": (
        "extensions.healthcheck",
        "unknown extension type 'healthcheck'; did you mean 'health_check'? (known extension types: health_check)",
    ),
    "undefined_extension.yaml": (
        "service.extensions[1]",
        "extension 'health_check/probes' is not defined under 'extensions'",
    ),
    "extension_listed_twice.yaml": ("service.extensions[1]", "extension 'health_check' is listed twice"),
}


@pytest.mark.parametrize(("name", "expected"), sorted(CASES.items()))
def test_bad_config_names_key_path_and_problem(name: str, expected: tuple[str, str]) -> None:
    path, fragment = expected
    source = str(TESTDATA / name)
    with pytest.raises(ConfigError) as caught:
        load_config(source, environ={})
    assert str(caught.value).startswith(f"{source}: {path}: "), str(caught.value)
    assert fragment in str(caught.value)


def test_every_bad_fixture_has_a_case() -> None:
    bad = {p.name for p in TESTDATA.glob("*.yaml") if not p.name.startswith("valid_")}
    assert bad == set(CASES)


def test_defaults_are_the_collectors() -> None:
    config = load_config(TESTDATA / "valid_health_check_unlisted.yaml", environ={})
    health = config.extensions[ComponentID("health_check")]
    assert health == HealthCheckConfig()
    assert (health.endpoint, health.path, health.drain_delay) == ("0.0.0.0:13133", "/", 5.0)


def test_an_extension_not_listed_in_service_is_a_warning_not_an_error() -> None:
    config = load_config(TESTDATA / "valid_health_check_unlisted.yaml", environ={})
    assert config.service.extensions == []
    assert config.warnings == [
        "extensions.health_check: defined but not listed in service.extensions; it will not run"
    ]


def test_print_config_shows_the_extension_and_reads_back_the_same() -> None:
    import yaml

    from bridge.components import parse_config
    from bridge.config import redacted

    config = load_config(TESTDATA / "valid_health_check_unlisted.yaml", environ={})
    printed = redacted(config)
    assert printed["extensions"] == {
        "health_check": {"endpoint": "0.0.0.0:13133", "path": "/", "drain_delay": "5s"}
    }
    assert parse_config(yaml.safe_dump(printed), "<printed>", environ={}) == config


def test_validate_summary_names_the_extensions() -> None:
    from bridge.cli import summary

    config = load_config(TESTDATA / "valid_health_check_unlisted.yaml", environ={})
    config.service.extensions.append(ComponentID("health_check"))
    assert summary(config).endswith("; extensions: health_check")
