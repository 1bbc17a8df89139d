"""`redacted`: the printable config hides every secret and reads back as the same config."""

from __future__ import annotations

from pathlib import Path

import yaml

from bridge.components import load_config, parse_config
from bridge.config import REDACTED, ComponentID, redacted

TESTDATA = Path(__file__).parent / "testdata"
ENV = {"TEMPO_TOKEN": "very-secret-token"}


def test_secrets_are_redacted_everywhere() -> None:
    config = load_config(TESTDATA / "valid_named_components.yaml", environ=ENV)
    data = redacted(config)
    assert data["exporters"]["otlp/tempo"]["headers"] == {"authorization": REDACTED}
    assert "very-secret-token" not in yaml.safe_dump(data)


def test_empty_secret_is_redacted_too() -> None:
    """Whether a credential is set at all is not for the printout to tell."""
    text = (TESTDATA / "valid_named_components.yaml").read_text()
    config = parse_config(text, "c.yaml", environ={"TEMPO_TOKEN": ""})
    assert redacted(config)["exporters"]["otlp/tempo"]["headers"]["authorization"] == REDACTED


def test_values_print_as_users_write_them() -> None:
    data = redacted(load_config(TESTDATA / "valid_named_components.yaml", environ=ENV))
    assert data["receivers"]["envoy_als/mesh"]["max_recv_msg_size"] == "8MiB"
    assert data["processors"]["batch/fast"]["timeout"] == "50ms"
    assert data["exporters"]["otlp/tempo"]["timeout"] == "1m30s"
    assert data["service"]["pipelines"]["logs/loki"]["exporters"] == ["otlphttp/loki"]
    assert data["service"]["telemetry"] == {"logs": {"level": "debug", "encoding": "json"}}
    assert "connectors" not in data  # none defined: left out, like the input
    assert "warnings" not in data


def test_redacted_config_reads_back_as_the_same_config() -> None:
    original = load_config(TESTDATA / "valid_named_components.yaml", environ=ENV)
    text = yaml.safe_dump(redacted(original), sort_keys=False)
    again = parse_config(text, "printed.yaml", environ={})
    assert again.receivers == original.receivers
    assert again.processors == original.processors
    assert again.service == original.service
    tempo = again.exporters[ComponentID("otlp", "tempo")]
    assert tempo.headers == {"authorization": REDACTED}
    assert tempo.timeout == original.exporters[ComponentID("otlp", "tempo")].timeout


def test_redacted_is_plain_data() -> None:
    data = redacted(load_config(TESTDATA / "valid_minimal.yaml"))
    yaml.safe_dump(data)  # raises on anything but dicts, lists and scalars
