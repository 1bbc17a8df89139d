"""`${env:...}` substitution: defaults, embedding, `$$`, typed re-reading, and its errors."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.components import parse_config
from bridge.config import ComponentID, ConfigError

BASE = """
receivers:
  envoy_als:
    endpoint: {endpoint}
processors:
  batch:
    send_batch_size: {size}
    timeout: {timeout}
exporters:
  otlp:
    headers:
      authorization: {auth}
    tls:
      insecure: {insecure}
service:
  pipelines:
    traces:
      receivers: [envoy_als]
      processors: [batch]
      exporters: [otlp]
"""


def load(environ: dict[str, str], **values: str) -> Any:
    fields = {"endpoint": "0.0.0.0:11800", "size": "8192", "timeout": "200ms", "auth": "none"}
    fields.update(insecure="false")
    fields.update(values)
    return parse_config(BASE.format(**fields), "env.yaml", environ=environ)


def test_whole_value_reference() -> None:
    config = load({"ALS_ENDPOINT": "127.0.0.1:9000"}, endpoint="${env:ALS_ENDPOINT}")
    assert config.receivers[ComponentID("envoy_als")].endpoint == "127.0.0.1:9000"


def test_embedded_reference() -> None:
    config = load({"TOKEN": "abc"}, auth='"Bearer ${env:TOKEN}"')
    assert config.exporters[ComponentID("otlp")].headers == {"authorization": "Bearer abc"}


def test_default_used_only_when_unset() -> None:
    config = load({}, endpoint="0.0.0.0:${env:PORT:-4000}")
    assert config.receivers[ComponentID("envoy_als")].endpoint == "0.0.0.0:4000"
    config = load({"TOKEN": ""}, auth='"Bearer ${env:TOKEN:-fallback}"')
    assert config.exporters[ComponentID("otlp")].headers["authorization"] == "Bearer "


def test_default_may_contain_colons() -> None:
    config = load({}, endpoint="${env:ALS_ENDPOINT:-0.0.0.0:11800}")
    assert config.receivers[ComponentID("envoy_als")].endpoint == "0.0.0.0:11800"


def test_dollar_dollar_is_a_literal_dollar() -> None:
    config = load({"X": "no"}, auth='"pa$$${env:X}$$word ${env:X} $$${env:X}}"')
    assert config.exporters[ComponentID("otlp")].headers["authorization"] == "pa$no$word no $no}"


def test_escaped_reference_is_not_substituted() -> None:
    config = load({}, auth='"$${env:NOT_A_REFERENCE}"')
    assert config.exporters[ComponentID("otlp")].headers["authorization"] == "${env:NOT_A_REFERENCE}"


def test_lone_dollar_is_kept() -> None:
    config = load({}, auth='"costs $5"')
    assert config.exporters[ComponentID("otlp")].headers["authorization"] == "costs $5"


def test_whole_reference_is_reread_as_yaml_for_typed_fields() -> None:
    config = load(
        {"SIZE": "100", "TIMEOUT": "2", "INSECURE": "true"},
        size="${env:SIZE}",
        timeout="${env:TIMEOUT}",
        insecure="${env:INSECURE}",
    )
    assert config.processors[ComponentID("batch")].send_batch_size == 100
    assert config.processors[ComponentID("batch")].timeout == 2.0
    assert config.exporters[ComponentID("otlp")].tls.insecure is True


def test_whole_reference_keeps_its_text_for_string_fields() -> None:
    """`0123` would read as the integer 123; a string field gets the variable's exact text."""
    config = load({"AUTH": "0123"}, auth="${env:AUTH}")
    assert config.exporters[ComponentID("otlp")].headers["authorization"] == "0123"


def test_embedded_reference_is_not_reread() -> None:
    with pytest.raises(ConfigError) as caught:
        load({"N": "100"}, size='"1${env:N}"')
    assert (
        "processors.batch.send_batch_size: expected an integer, got '1100' (a string) (from '1${env:N}')"
        in str(caught.value)
    )


def test_wrong_type_from_env_names_the_reference() -> None:
    with pytest.raises(ConfigError) as caught:
        load({"SIZE": "lots"}, size="${env:SIZE}")
    assert str(caught.value) == (
        "env.yaml: processors.batch.send_batch_size: expected an integer, got 'lots' (a string) "
        "(from '${env:SIZE}')"
    )


def test_missing_variable_names_key_path_and_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load({}, auth='"Bearer ${env:OTLP_TOKEN}"')
    assert str(caught.value) == (
        "env.yaml: exporters.otlp.headers.authorization: environment variable OTLP_TOKEN is not set "
        "and '${env:OTLP_TOKEN}' gives no default"
    )


@pytest.mark.parametrize(
    ("auth", "problem"),
    [
        ('"${TOKEN}"', "unsupported reference '${TOKEN}'"),
        ('"${file:/etc/token}"', "unsupported reference '${file:/etc/token}'"),
        ('"${env:1BAD}"', "unsupported reference '${env:1BAD}'"),
        ('"${env:TOKEN"', "unterminated '${'"),
    ],
)
def test_malformed_references(auth: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=r"exporters\.otlp\.headers\.authorization: ") as caught:
        load({"TOKEN": "x"}, auth=auth)
    assert problem in str(caught.value)


def test_references_in_pipeline_lists() -> None:
    text = BASE.format(endpoint="0.0.0.0:1", size="1", timeout="1s", auth="x", insecure="false")
    text = text.replace("exporters: [otlp]", "exporters: ['${env:EXPORTER:-otlp}']")
    config = parse_config(text, "env.yaml", environ={})
    assert config.service.pipelines[ComponentID("traces")].exporters == [ComponentID("otlp")]


def test_environ_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALS_BRIDGE_TEST_TOKEN", "from-process")
    text = BASE.format(
        endpoint="0.0.0.0:1", size="1", timeout="1s", auth="${env:ALS_BRIDGE_TEST_TOKEN}", insecure="false"
    )
    loaded = parse_config(text, "env.yaml")
    assert loaded.exporters[ComponentID("otlp")].headers["authorization"] == "from-process"
