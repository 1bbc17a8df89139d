"""Every deliberately bad config in testdata/ fails with the key path and problem a user needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.components import load_config
from bridge.config import ConfigError

TESTDATA = Path(__file__).parent / "testdata"
ENV = {"TEMPO_TOKEN": "t0k3n"}

# file -> (key path, fragment of the problem)
CASES: dict[str, tuple[str, str]] = {
    "bad_empty_config.yaml": ("", "the config is empty"),
    "tail_sampling_unknown_policy_type.yaml": (
        "processors.tail_sampling.policies[1].type",
        "unknown policy type 'latncy'; did you mean 'latency'? (supported: status_code, latency, "
        "probabilistic, string_attribute, numeric_attribute, and)",
    ),
    "tail_sampling_typo_in_policy_key.yaml": (
        "processors.tail_sampling.policies[0].latency.threshold",
        "unknown key; did you mean 'threshold_ms'?",
    ),
    "tail_sampling_decision_wait.yaml": (
        "processors.tail_sampling.decision_wait",
        "does not apply: every access log entry is a complete call",
    ),
    "tail_sampling_composite.yaml": (
        "processors.tail_sampling.policies[0].type",
        "'composite' is not supported: a rate budget is state of one process",
    ),
    "tail_sampling_bad_status_code.yaml": (
        "processors.tail_sampling.policies[0].status_code.status_codes[0]",
        "unknown status code 'EROR'; did you mean 'ERROR'?",
    ),
    "tail_sampling_and_inside_and.yaml": (
        "processors.tail_sampling.policies[0].and.and_sub_policy[1].type",
        "'and' is not supported inside 'and'",
    ),
    "probabilistic_sampler_missing_percentage.yaml": (
        "processors.probabilistic_sampler.sampling_percentage",
        "required key is missing",
    ),
    "probabilistic_sampler_in_metrics_pipeline.yaml": (
        "service.pipelines.metrics.processors[0]",
        "processor 'probabilistic_sampler' does not support metrics; it handles logs, traces",
    ),
    "top_level_not_a_mapping.yaml": ("", "the top level must be a mapping"),
    "typo_in_top_level_key.yaml": ("recievers", "unknown key; did you mean 'receivers'?"),
    "typo_in_exporter_key.yaml": ("exporters.otlp.timout", "unknown key; did you mean 'timeout'?"),
    "unknown_component_type.yaml": (
        "exporters.otlphtp",
        "unknown exporter type 'otlphtp'; did you mean 'otlphttp'? "
        "(known exporter types: debug, otlp, otlphttp, prometheus)",
    ),
    "bad_component_id.yaml": ("exporters.debug/", "the name after '/' must be non-empty"),
    "wrong_type_timeout.yaml": ("exporters.otlp.timeout", "not a duration: 'five seconds'"),
    "wrong_type_batch_size.yaml": (
        "processors.batch.send_batch_size",
        "expected an integer, got '1000' (a string)",
    ),
    "bad_max_recv_msg_size.yaml": ("receivers.envoy_als.max_recv_msg_size", "not a byte size: '4 megabytes'"),
    "headers_not_a_mapping.yaml": ("exporters.otlp.headers", "expected a mapping, got a list"),
    "unquoted_version_number.yaml": (
        "receivers.envoy_als.static_peers[0].version",
        "expected a string, got 1.1 (a number); quote it",
    ),
    "bad_reporters_value.yaml": (
        "receivers.envoy_als.reporters",
        "must be one of 'both', 'server_side'; got 'server' (a string); did you mean 'server_side'?",
    ),
    "bad_telemetry_level.yaml": ("service.telemetry.logs.level", "did you mean 'warn'?"),
    "missing_env_var.yaml": (
        "exporters.otlp/tempo.headers.authorization",
        "environment variable ALS_BRIDGE_TEST_UNSET_TOKEN is not set",
    ),
    "missing_service.yaml": ("service", "required key is missing"),
    "missing_pipelines.yaml": ("service.pipelines", "required key is missing"),
    "empty_pipelines.yaml": ("service.pipelines", "no pipelines"),
    "pipeline_without_receivers.yaml": ("service.pipelines.logs.receivers", "at least one receiver"),
    "pipeline_without_exporters.yaml": ("service.pipelines.logs.exporters", "at least one exporter"),
    "unknown_signal_pipeline.yaml": ("service.pipelines.trace/main", "unknown signal 'trace'"),
    "pipeline_references_undefined_exporter.yaml": (
        "service.pipelines.traces.exporters[1]",
        "exporter 'otlp/tempo' is not defined in 'exporters' or 'connectors'; defined: debug, otlp/jaeger",
    ),
    "processor_listed_as_exporter.yaml": (
        "service.pipelines.traces.exporters[1]",
        "'batch' is defined under 'processors', which cannot be used here",
    ),
    "exporter_listed_twice.yaml": ("service.pipelines.traces.exporters[1]", "'debug' is listed twice"),
    "bad_envoy_als_endpoint.yaml": ("receivers.envoy_als.endpoint", "must be host:port"),
    "bad_otlp_endpoint_with_scheme.yaml": ("exporters.otlp.endpoint", "must be host:port without a scheme"),
    "bad_otlphttp_endpoint.yaml": ("exporters.otlphttp.endpoint", "must be an http:// or https:// URL"),
    "static_peer_two_match_keys.yaml": (
        "receivers.envoy_als.static_peers[1].match",
        "set exactly one of cidr, ip, cluster, authority; got ip, authority",
    ),
    "static_peer_bad_cidr.yaml": (
        "receivers.envoy_als.static_peers[0].match.cidr",
        "has host bits set; did you mean '10.20.0.0/16'?",
    ),
    "static_peer_missing_service.yaml": (
        "receivers.envoy_als.static_peers[0].service",
        "required key is missing",
    ),
    "tls_cert_without_key.yaml": (
        "exporters.otlp/tempo.tls.key_file",
        "must be set together with cert_file",
    ),
    "batch_max_below_size.yaml": (
        "processors.batch.send_batch_max_size",
        "must be 0 (no limit) or at least send_batch_size (1000)",
    ),
}


@pytest.mark.parametrize(("name", "expected"), sorted(CASES.items()))
def test_bad_config_names_key_path_and_problem(name: str, expected: tuple[str, str]) -> None:
    path, fragment = expected
    source = str(TESTDATA / name)
    with pytest.raises(ConfigError) as caught:
        load_config(source, environ=ENV)
    error = caught.value
    prefix = f"{source}: {path}: " if path else f"{source}: "
    assert str(error).startswith(prefix), str(error)
    assert fragment in str(error)
    assert error.source == source
    assert error.problem in str(error)


def test_every_bad_fixture_has_a_case() -> None:
    """A fixture nobody asserts on proves nothing; keep the table and the folder in step."""
    bad = {p.name for p in TESTDATA.glob("*.yaml") if not p.name.startswith("valid_")}
    syntax = {"duplicate_key.yaml", "yaml_syntax_error.yaml"}  # asserted below, by line
    assert bad - syntax == set(CASES)


def test_yaml_syntax_error_names_the_line() -> None:
    source = str(TESTDATA / "yaml_syntax_error.yaml")
    with pytest.raises(
        ConfigError, match=r"yaml_syntax_error\.yaml: line \d+, column \d+: YAML syntax error"
    ):
        load_config(source)


def test_duplicate_key_is_an_error_not_a_silent_overwrite() -> None:
    source = str(TESTDATA / "duplicate_key.yaml")
    with pytest.raises(ConfigError) as caught:
        load_config(source)
    assert "line 6, column 3" in str(caught.value)
    assert "duplicate key 'otlp' (first given on line 4)" in str(caught.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    source = str(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read the file"):
        load_config(source)
