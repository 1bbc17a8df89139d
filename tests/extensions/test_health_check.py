"""The health_check extension on its own: what each path answers, drain, and start errors."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from bridge.extensions.health_check import HealthCheckConfig, HealthCheckExtension, HealthCheckStartError
from bridge.readiness import Readiness


def get(port: int, path: str, timeout: float = 10.0) -> tuple[int, dict[str, object]]:
    """(status, JSON body) of GET http://127.0.0.1:port/path; 4xx/5xx are answers, not errors."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def extension() -> Iterator[HealthCheckExtension]:
    readiness = Readiness()
    ext = HealthCheckExtension(
        "health_check", HealthCheckConfig(endpoint="127.0.0.1:0", drain_delay=0.5), readiness
    )
    ext.start_serving()
    try:
        yield ext
    finally:
        ext.stop_serving()


def test_liveness_answers_on_root_and_healthz_even_when_not_ready(extension: HealthCheckExtension) -> None:
    extension.readiness.expect("receiver envoy_als", "not listening yet")
    for path in ("/", "/healthz"):
        status, body = get(extension.port, path)
        assert status == 200
        assert body["status"] == "Server available"


def test_readiness_names_what_is_not_ready_until_everything_is_up(extension: HealthCheckExtension) -> None:
    readiness = extension.readiness
    readiness.expect("receiver envoy_als", "not listening yet")
    readiness.expect("exporter otlp/tempo", "not started yet")
    status, body = get(extension.port, "/readyz")
    assert status == 503
    assert body == {
        "status": "not ready",
        "not_ready": {"receiver envoy_als": "not listening yet", "exporter otlp/tempo": "not started yet"},
    }
    readiness.up("receiver envoy_als")
    status, body = get(extension.port, "/readyz")
    assert (status, body["not_ready"]) == (503, {"exporter otlp/tempo": "not started yet"})
    readiness.up("exporter otlp/tempo")
    assert get(extension.port, "/readyz") == (200, {"status": "ready"})


def test_stopping_is_not_ready_for_good(extension: HealthCheckExtension) -> None:
    extension.readiness.stopping("SIGTERM: flushing")
    extension.readiness.stopping("a second reason is not kept")
    extension.readiness.up("anything")
    assert get(extension.port, "/readyz") == (503, {"status": "not ready", "stopping": "SIGTERM: flushing"})
    assert get(extension.port, "/healthz")[0] == 200  # still alive: Kubernetes must not kill it mid-flush


def test_drain_flips_readiness_at_once_and_answers_after_the_delay(extension: HealthCheckExtension) -> None:
    answers: list[tuple[int, dict[str, object]]] = []
    started = time.monotonic()
    hook = threading.Thread(target=lambda: answers.append(get(extension.port, "/drain")))
    hook.start()
    deadline = time.monotonic() + 5
    while not extension.readiness.is_stopping and time.monotonic() < deadline:
        time.sleep(0.01)
    # while the preStop hook waits, the probes are answered (the server has a thread per request)
    assert get(extension.port, "/readyz") == (503, {"status": "not ready", "stopping": "draining (preStop)"})
    hook.join(10)
    assert answers and answers[0][0] == 200
    assert time.monotonic() - started >= 0.5


def test_unknown_path_is_404_listing_the_paths(extension: HealthCheckExtension) -> None:
    status, body = get(extension.port, "/nope")
    assert status == 404
    assert body["paths"] == ["/", "/drain", "/healthz", "/readyz"]


def test_a_custom_liveness_path(extension: HealthCheckExtension) -> None:
    ext = HealthCheckExtension(
        "health_check/x", HealthCheckConfig(endpoint="127.0.0.1:0", path="/alive"), Readiness()
    )
    ext.start_serving()
    try:
        assert get(ext.port, "/alive")[0] == 200
        assert get(ext.port, "/")[0] == 404
    finally:
        ext.stop_serving()


def test_a_port_in_use_is_a_clear_error_naming_the_extension_and_address() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ext = HealthCheckExtension(
            "health_check", HealthCheckConfig(endpoint=f"127.0.0.1:{port}"), Readiness()
        )
        with pytest.raises(
            HealthCheckStartError,
            match=rf"extensions.health_check: cannot listen on 127.0.0.1:{port}: .*in use",
        ):
            ext.start_serving()


def test_an_address_not_of_this_host_is_a_clear_error() -> None:
    ext = HealthCheckExtension("health_check", HealthCheckConfig(endpoint="192.0.2.1:13133"), Readiness())
    with pytest.raises(
        HealthCheckStartError, match=r"extensions.health_check: cannot listen on 192.0.2.1:13133: "
    ):
        ext.start_serving()


def test_shutdown_frees_the_port(extension: HealthCheckExtension) -> None:
    port = extension.port
    extension.stop_serving()
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
