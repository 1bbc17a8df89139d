"""Good configs load into the typed shape the runtime reads, defaults filled in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.components import load_config, parse_config
from bridge.config import ComponentID, ConfigError
from bridge.exporters.debug.config import DebugExporterConfig
from bridge.exporters.otlp.config import OTLPExporterConfig
from bridge.exporters.otlphttp.config import OTLPHTTPExporterConfig
from bridge.processors.batch.config import BatchProcessorConfig
from bridge.receivers.envoy_als.config import EnvoyALSReceiverConfig, PeerMatch, StaticPeer

TESTDATA = Path(__file__).parent / "testdata"


def minimal(**sections: Any) -> dict[str, Any]:
    """The smallest valid config as data, with sections replaced by keyword."""
    config: dict[str, Any] = {
        "receivers": {"envoy_als": None},
        "exporters": {"debug": None},
        "service": {"pipelines": {"traces": {"receivers": ["envoy_als"], "exporters": ["debug"]}}},
    }
    config.update(sections)
    return config


def test_minimal_config_gets_every_default() -> None:
    config = load_config(TESTDATA / "valid_minimal.yaml")
    assert config.receivers == {ComponentID("envoy_als"): EnvoyALSReceiverConfig()}
    assert config.exporters == {ComponentID("debug"): DebugExporterConfig()}
    assert config.processors == {}
    assert config.connectors == {}
    traces = config.service.pipelines[ComponentID("traces")]
    assert traces.receivers == [ComponentID("envoy_als")]
    assert traces.processors == []
    assert config.service.telemetry.logs.level == "info"
    assert config.service.telemetry.logs.encoding == "console"
    assert config.warnings == []


def test_named_components_and_every_value_type() -> None:
    config = load_config(TESTDATA / "valid_named_components.yaml", environ={"TEMPO_TOKEN": "s3cret"})
    receiver = config.receivers[ComponentID("envoy_als", "mesh")]
    assert receiver == EnvoyALSReceiverConfig(
        endpoint="[::]:11800",
        max_recv_msg_size=8 * 1024 * 1024,
        reporters="server_side",
        static_peers=[StaticPeer(match=PeerMatch(authority="api.stripe.com"), service="stripe")],
    )
    assert config.processors[ComponentID("batch", "fast")] == BatchProcessorConfig(
        send_batch_size=100, timeout=0.05, send_batch_max_size=200
    )
    tempo = config.exporters[ComponentID("otlp", "tempo")]
    assert isinstance(tempo, OTLPExporterConfig)
    assert tempo.headers == {"authorization": "Bearer s3cret"}
    assert tempo.tls.cert_file == "/etc/ssl/client.pem"
    assert tempo.compression == "none"
    assert tempo.timeout == 90.0
    loki = config.exporters[ComponentID("otlphttp", "loki")]
    assert isinstance(loki, OTLPHTTPExporterConfig)
    assert loki.logs_endpoint == "https://loki.example.com/otlp/v1/logs"
    assert list(config.service.pipelines) == [ComponentID("traces"), ComponentID("logs", "loki")]
    assert config.pipeline_signal(ComponentID("logs", "loki")) == "logs"
    assert config.service.telemetry.logs.encoding == "json"


def test_unused_component_is_a_warning_not_an_error() -> None:
    config = load_config(TESTDATA / "valid_named_components.yaml", environ={"TEMPO_TOKEN": "x"})
    assert config.warnings == ["exporters.debug/unused: defined but used by no pipeline; it will not run"]


def test_component_id_round_trip() -> None:
    assert str(ComponentID("otlp")) == "otlp"
    assert str(ComponentID("otlp", "tempo")) == "otlp/tempo"
    assert ComponentID.parse("otlp/tempo/eu") == ComponentID("otlp", "tempo/eu")
    for bad in ("", "1otlp", "otlp/", "ot lp", "otlp/a b"):
        with pytest.raises(ValueError, match="invalid id"):
            ComponentID.parse(bad)


def test_parse_config_accepts_a_mapping_and_names_the_source() -> None:
    config = parse_config(minimal(), "inline")
    assert ComponentID("debug") in config.exporters
    with pytest.raises(
        ConfigError, match=r"^inline: exporters\.debug\.verbose: unknown key; did you mean 'verbosity'"
    ):
        parse_config(minimal(exporters={"debug": {"verbose": "detailed"}}), "inline")


def test_unknown_key_without_close_match_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"exporters\.debug\.colour: unknown key; valid keys: verbosity$"):
        parse_config(minimal(exporters={"debug": {"colour": "red"}}), "c.yaml")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (True, "expected an integer, got true (a boolean)"),
        (1.5, "expected an integer, got 1.5 (a number)"),
        (None, "expected an integer, got null"),
        ([1], "expected an integer, got a list"),
    ],
)
def test_int_field_is_strict(value: object, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(minimal(processors={"batch": {"send_batch_size": value}}), "c.yaml")
    assert str(caught.value) == f"c.yaml: processors.batch.send_batch_size: {problem}"


def test_bool_field_rejects_yaml_1_1_words() -> None:
    """`yes`/`on` are strings in YAML 1.2 (and in the Collector), so they are not booleans here."""
    text = "receivers: {envoy_als: }\nexporters:\n  otlp:\n    tls: {insecure: yes}\n"
    text += "service: {pipelines: {traces: {receivers: [envoy_als], exporters: [otlp]}}}\n"
    with pytest.raises(
        ConfigError, match=r"exporters\.otlp\.tls\.insecure: expected true or false, got 'yes'"
    ):
        parse_config(text, "c.yaml")


def test_nested_dataclass_given_null_takes_defaults() -> None:
    config = parse_config(minimal(exporters={"otlp": {"tls": None}, "debug": None}), "c.yaml")
    assert config.exporters[ComponentID("otlp")].tls == OTLPExporterConfig().tls


def test_component_given_as_non_mapping() -> None:
    with pytest.raises(
        ConfigError,
        match=r"exporters\.debug: expected a mapping of settings \(or nothing, for the defaults\), got 'det",
    ):
        parse_config(minimal(exporters={"debug": "detailed"}), "c.yaml")


def test_list_given_null_is_empty() -> None:
    config = parse_config(minimal(receivers={"envoy_als": {"static_peers": None}}), "c.yaml")
    assert config.receivers[ComponentID("envoy_als")].static_peers == []


def test_pipeline_may_use_a_receiver_in_several_pipelines() -> None:
    pipelines = {
        "traces": {"receivers": ["envoy_als"], "exporters": ["debug"]},
        "logs": {"receivers": ["envoy_als"], "exporters": ["debug"]},
        "traces/copy": {"receivers": ["envoy_als"], "exporters": ["debug"]},
    }
    config = parse_config(minimal(service={"pipelines": pipelines}), "c.yaml")
    assert len(config.service.pipelines) == 3


def test_receiver_listed_as_exporter_names_its_section() -> None:
    pipelines = {"traces": {"receivers": ["envoy_als"], "exporters": ["envoy_als"]}}
    with pytest.raises(ConfigError) as caught:
        parse_config(minimal(service={"pipelines": pipelines}), "c.yaml")
    assert str(caught.value) == (
        "c.yaml: service.pipelines.traces.exporters[0]: exporter 'envoy_als' is not defined in "
        "'exporters' or 'connectors'; 'envoy_als' is defined under 'receivers', which cannot be used here"
    )


@pytest.mark.parametrize(
    "endpoint",
    ["0.0.0.0:11800", "localhost:0", "[::]:11800", "[::1]:4317", "als.internal:65535"],
)
def test_valid_envoy_als_endpoints(endpoint: str) -> None:
    config = parse_config(minimal(receivers={"envoy_als": {"endpoint": endpoint}}), "c.yaml")
    assert config.receivers[ComponentID("envoy_als")].endpoint == endpoint


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        ("11800", "must be host:port, e.g. 0.0.0.0:11800"),
        (":11800", "with a host name or address"),
        ("::1:11800", "an IPv6 address is written in brackets"),
        ("localhost:http", "port 'http' is not a number from 0 to 65535"),
        ("localhost:70000", "port '70000' is not a number"),
        ("grpc://localhost:11800", "without a scheme"),
    ],
)
def test_invalid_envoy_als_endpoints(endpoint: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=r"c\.yaml: receivers\.envoy_als\.endpoint: ") as caught:
        parse_config(minimal(receivers={"envoy_als": {"endpoint": endpoint}}), "c.yaml")
    assert problem in str(caught.value)


@pytest.mark.parametrize("key", ["traces_endpoint", "metrics_endpoint", "logs_endpoint"])
def test_otlphttp_signal_endpoints_must_be_urls_when_set(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"exporters\.otlphttp\.{key}: must be an http:// or https:// URL"):
        parse_config(minimal(exporters={"otlphttp": {key: "loki:3100/v1/logs"}}), "c.yaml")


def test_static_peer_match_needs_one_key() -> None:
    peers = [{"match": {}, "service": "x"}]
    with pytest.raises(ConfigError, match=r"static_peers\[0\]\.match: set exactly one of .*; got none"):
        parse_config(minimal(receivers={"envoy_als": {"static_peers": peers}}), "c.yaml")


def test_static_peer_bad_ip() -> None:
    peers = [{"match": {"ip": "10.0.0.300"}, "service": "x"}]
    with pytest.raises(
        ConfigError, match=r"static_peers\[0\]\.match\.ip: not a valid IP address: '10.0.0.300'"
    ):
        parse_config(minimal(receivers={"envoy_als": {"static_peers": peers}}), "c.yaml")


def test_static_peer_ipv6_cidr() -> None:
    peers = [{"match": {"cidr": "fd00::/8"}, "service": "x"}]
    config = parse_config(minimal(receivers={"envoy_als": {"static_peers": peers}}), "c.yaml")
    assert config.receivers[ComponentID("envoy_als")].static_peers[0].match.cidr == "fd00::/8"


def test_key_file_without_cert_file() -> None:
    exporters = {"otlp": {"tls": {"key_file": "k.pem"}}, "debug": None}
    with pytest.raises(
        ConfigError, match=r"exporters\.otlp\.tls\.cert_file: must be set together with key_file"
    ):
        parse_config(minimal(exporters=exporters), "c.yaml")
