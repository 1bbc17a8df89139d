"""`Mesh`: workload A's client sidecar -> workload B's server sidecar -> B's app, all real Envoy.

Both sidecars send ALS to the bridge, shaped like an Istio mesh (node ids and metadata,
cluster names, metadata-exchange headers), so `als-bridge demo` and the integration tests see
what a real Envoy sends rather than what we believe it sends.

Start order is forced by the ports: B's app first, then B's sidecar (its listener ports are
read back from Envoy), then A's sidecar, whose clusters point at B's listeners.
"""

from __future__ import annotations

import dataclasses
import http.client
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, cast

import grpc

from bridge.demo import _envoy_config as cfg
from bridge.demo._apps import GRPC_METHOD, GRPC_SERVICE, KNOWN_KEY, UpstreamApp, tcp_exchange
from bridge.demo._envoy import EnvoyError, EnvoyProcess
from bridge.demo._workloads import CLIENT, SERVER, DemoWorkload

Reporters = Literal["both", "server_side"]
Which = Literal["a", "b"]
REPORTERS: tuple[Reporters, ...] = ("both", "server_side")

_TIMEOUT_S = 5.0
_GRPC_PATH = f"/{GRPC_SERVICE}/{GRPC_METHOD}"


class MeshError(RuntimeError):
    """The mesh could not start; the message says which part and carries Envoy's log tail."""


class Mesh:
    """Two Envoy sidecars and B's app on 127.0.0.1, sending ALS to `als_address`.

    `reporters="both"`: both sidecars log HTTP and TCP. `"server_side"`: only B's sidecar logs,
    like Istio's Telemetry API with `match.mode: SERVER`.

    `als_tls` gives a sidecar ("a", "b") a client certificate for its ALS connection, and the CA
    to verify the bridge with; a sidecar not in it sends ALS in plaintext. `server_als_address`
    sends B's entries to another bridge than A's.
    """

    def __init__(
        self,
        als_address: str,
        workdir: Path | None = None,
        reporters: str = "both",
        als_tls: Mapping[Which, cfg.AlsTLS] | None = None,
        server_als_address: str | None = None,
    ) -> None:
        if reporters not in REPORTERS:
            raise ValueError(f"reporters must be one of {', '.join(REPORTERS)}, not {reporters!r}")
        unknown = set(als_tls or {}) - {"a", "b"}
        if unknown:
            raise ValueError(f"als_tls is keyed by sidecar, 'a' or 'b'; got {sorted(unknown)}")
        self.reporters: Reporters = reporters
        self._sink = _parse_als_address(als_address)
        # B's sidecar may log to another bridge (two replicas, each given one side of a call)
        self._server_sink = _parse_als_address(server_als_address) if server_als_address else self._sink
        self._als_tls = dict(als_tls or {})
        self._own_workdir = workdir is None
        self._workdir_arg = workdir
        self.workdir: Path | None = None
        self._app = UpstreamApp()
        self._envoys: dict[Which, EnvoyProcess] = {}
        self._client_ports: dict[str, int] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Mesh:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start app, server sidecar, client sidecar; return when all are ready.

        If an Envoy fails, everything already started is stopped and `MeshError` carries that
        Envoy's log tail; the workdir (configs and logs) is kept for a look and named in the message.
        """
        self.workdir = self._make_workdir()
        try:
            self._app.start()
            server = self._start_envoy("b", self._server_config())
            ports = server.listener_ports()
            server_ports = cfg.ServerPorts(ports["inbound_http"], ports["inbound_grpc"], ports["inbound_tcp"])
            client = self._start_envoy("a", self._client_config(server_ports))
            self._client_ports = client.listener_ports()
        except EnvoyError as error:
            self._shutdown(keep_workdir=True)  # the message points at the config and log in it
            raise MeshError(f"{error}\n(workdir kept: {self.workdir})") from error
        except BaseException:
            self._shutdown(keep_workdir=False)
            raise

    def _make_workdir(self) -> Path:
        if self._workdir_arg is None:
            return Path(tempfile.mkdtemp(prefix="als-bridge-mesh-"))
        self._workdir_arg.mkdir(parents=True, exist_ok=True)
        return self._workdir_arg

    def _sink_of(self, which: Which) -> cfg.AlsSink:
        sink = self._server_sink if which == "b" else self._sink
        return dataclasses.replace(sink, tls=self._als_tls.get(which))

    def _server_config(self) -> cfg.Json:
        app = self._app
        return cfg.server_sidecar(SERVER, app.http_port, app.grpc_port, app.tcp_port, self._sink_of("b"))

    def _client_config(self, server: cfg.ServerPorts) -> cfg.Json:
        sink = self._sink_of("a") if self.reporters == "both" else None
        return cfg.client_sidecar(CLIENT, server, sink)

    def _start_envoy(self, which: Which, config: cfg.Json) -> EnvoyProcess:
        assert self.workdir is not None
        envoy = EnvoyProcess(f"sidecar-{which}", config, self.workdir)
        self._envoys[which] = envoy  # registered before start, so stop() ends it even if start fails
        envoy.start()
        return envoy

    def stop(self) -> None:
        """Stop the client sidecar, the server sidecar and the app (only what this Mesh started)."""
        self._shutdown(keep_workdir=False)

    def _shutdown(self, *, keep_workdir: bool) -> None:
        for which in ("a", "b"):
            envoy = self._envoys.pop(which, None)
            if envoy is not None:
                envoy.stop()
        self._app.stop()
        self._client_ports = {}
        if self._own_workdir and self.workdir is not None and not keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    # -- ports and identities ----------------------------------------------------------------

    @property
    def http_port(self) -> int:
        """Client sidecar's outbound HTTP listener (A's app would call B's port 8080 here)."""
        return self._client_port("outbound_http")

    @property
    def grpc_port(self) -> int:
        """Client sidecar's outbound gRPC (h2c) listener."""
        return self._client_port("outbound_grpc")

    @property
    def tcp_port(self) -> int:
        """Client sidecar's outbound TCP listener (tcp_proxy to B's echo server)."""
        return self._client_port("outbound_tcp")

    def _client_port(self, listener: str) -> int:
        if listener not in self._client_ports:
            raise MeshError("the mesh is not running")
        return self._client_ports[listener]

    @staticmethod
    def node_metadata(which: Which) -> dict[str, Any]:
        """The node metadata sidecar `which` ("a" client, "b" server) reports in ALS."""
        return _workload(which).node_metadata()

    @staticmethod
    def node_id(which: Which) -> str:
        return _workload(which).node_id

    @staticmethod
    def spiffe_id(which: Which) -> str:
        """The SPIFFE id sidecar `which` would have in Istio, for its ALS client certificate."""
        return _workload(which).spiffe_id

    @staticmethod
    def peer_metadata_header(which: Which) -> str:
        """The `x-envoy-peer-metadata` value sidecar `which` sends (base64 Struct)."""
        return _workload(which).peer_metadata_header()

    def envoy(self, which: Which) -> EnvoyProcess:
        """The running Envoy of sidecar `which`, for admin access and its log."""
        if which not in self._envoys:
            raise MeshError(f"sidecar {which!r} is not running")
        return self._envoys[which]

    def envoy_stats(self, which: Which) -> dict[str, Any]:
        """Admin `/stats` counters and gauges of sidecar `which`, e.g. `cluster.<name>.upstream_rq_200`."""
        return self.envoy(which).stats()

    # -- traffic -----------------------------------------------------------------------------

    def http_get(self, path: str, headers: Mapping[str, str] | None = None) -> int:
        """GET `path` through A's sidecar; returns the status code (body read and dropped)."""
        conn = http.client.HTTPConnection(cfg.HOST, self.http_port, timeout=_TIMEOUT_S)
        try:
            host = f"{cfg.HTTP_SERVICE_HOST}:{cfg.HTTP_SERVICE_PORT}"
            conn.request("GET", path, headers={"host": host, **(headers or {})})
            reply = conn.getresponse()
            reply.read()
            return reply.status
        finally:
            conn.close()

    def grpc_lookup(self, key: str, metadata: Sequence[tuple[str, str]] | None = None) -> grpc.StatusCode:
        """Call `demo.Greeter/Lookup` through A's sidecar: OK for the known key, NOT_FOUND otherwise."""
        # The authority A's app would use for B's service, as HTTP requests send in `host`.
        authority = ("grpc.default_authority", f"{cfg.HTTP_SERVICE_HOST}:{cfg.GRPC_SERVICE_PORT}")
        with grpc.insecure_channel(f"{cfg.HOST}:{self.grpc_port}", options=[authority]) as channel:
            call = channel.unary_unary(_GRPC_PATH)
            try:
                call(key.encode(), timeout=_TIMEOUT_S, metadata=metadata)
            except grpc.RpcError as error:
                return cast(grpc.StatusCode, error.code())
        return grpc.StatusCode.OK

    def tcp_roundtrip(self, payload: bytes) -> bytes:
        """Send `payload` through A's sidecar to B's echo server, half-close, return what came back."""
        return tcp_exchange(self.tcp_port, payload, _TIMEOUT_S)

    def send_sample_traffic(self) -> dict[str, object]:
        """One of each kind of call the bridge should turn into a span; returns what each got.

        HTTP 200 and 503, a no-route 404 (answered by A's sidecar, flag NR), gRPC OK and
        NOT_FOUND (trailers-only), and one TCP round trip.
        """
        return {
            "GET /status/200": self.http_get("/status/200"),
            "GET /status/503": self.http_get("/status/503"),
            "GET /nowhere": self.http_get("/nowhere"),
            f"gRPC Lookup({KNOWN_KEY})": self.grpc_lookup(KNOWN_KEY).name,
            "gRPC Lookup(nobody)": self.grpc_lookup("nobody").name,
            "TCP echo": self.tcp_roundtrip(b"ping\n"),
        }


def _workload(which: Which) -> DemoWorkload:
    if which == "a":
        return CLIENT
    if which == "b":
        return SERVER
    raise ValueError(f"which must be 'a' (client) or 'b' (server), not {which!r}")


def _parse_als_address(address: str) -> cfg.AlsSink:
    """`"127.0.0.1:PORT"` -> sink; the demo only talks to loopback."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"als_address must be HOST:PORT, not {address!r}")
    return cfg.AlsSink(host=host, port=int(port))
