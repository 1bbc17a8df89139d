"""A mesh of real Envoy proxies configured the way Istio configures them, with Istio's default
access logging: no request or response header is logged, only filter state.

Why: users point Istio at the bridge with MeshConfig `enableEnvoyAccessLogService` or a
Telemetry `envoyHttpAls` / `envoyTcpAls` provider that lists no headers. What Envoy then sends
is what the bridge must get right, so the loggers here are what istio/istio generates:

* MeshConfig (`pilot/pkg/networking/core/accesslog.go`): on every HTTP connection manager an
  `envoy.access_loggers.http_grpc` logger, log name `http_envoy_accesslog`; on every
  `tcp_proxy` an `envoy.tcp_grpc_access_log` logger, `tcp_envoy_accesslog`; on every listener
  one more TCP logger, `listener_envoy_accesslog`, filtered to response flag `NR`. All send to
  the bootstrap cluster `envoy_accesslog_service` over the v3 API, with the filter-state keys
  `upstream_peer`, `downstream_peer` (added in 1.24) and `wasm.upstream_peer`,
  `wasm.upstream_peer_id`, `wasm.downstream_peer`, `wasm.downstream_peer_id`, and nothing else:
  no headers, no buffer or flush settings (Envoy's 16 KiB / 1 s apply).
* Telemetry provider without headers (`pilot/pkg/model/telemetry_logging.go`): the same logger
  types, log names `http_envoy_accesslog` / `tcp_envoy_accesslog` unless the provider names one,
  the cluster `outbound|<port>||<service>` with that service as authority, and the provider's
  filter-state keys, else a default: the four `wasm.*` keys up to 1.23, `upstream_peer` and
  `downstream_peer` from 1.24.

Plain Envoy cannot run Istio's peer_metadata filter, so metadata exchange is played by two
parts. The proxies really send `x-envoy-peer-metadata` / `-id` (a client on its requests, as
`upstream_propagation`; a server on its responses, as `downstream_propagation`) and strip the
peer's, as Istio does; a server proxy stores the header it received as filter state with
`set_filter_state` (a StringValue). `IstioAlsRelay` (`bridge.demo.istio_relay`) stands between
the proxies and the bridge and turns what plain Envoy logs into what Istio's proxy logs under
the same keys: the 1.24+ peer Struct or the 1.6 - 1.23 FlatNode, and on the client side the
upstream peer Istio learns from the response header (which plain Envoy cannot store).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

from bridge.demo import _envoy_config as cfg
from bridge.demo._apps import UpstreamApp
from bridge.demo._envoy import EnvoyError, EnvoyProcess
from bridge.demo.istio import IstioWorkload
from bridge.demo.istio_relay import IstioAlsRelay, ProxyFacts
from bridge.demo.mesh import MeshError

Json = cfg.Json
Protocol = Literal["http", "grpc", "tcp"]
# Istio's meshconfig ALS provider logs both generations' peer keys: the list the classic demo's
# sidecars log too (one list, in `_envoy_config`).
MESHCONFIG_KEYS = cfg.FILTER_STATE_OBJECTS_TO_LOG
WASM_KEYS = MESHCONFIG_KEYS[2:]
TELEMETRY_KEYS_124 = ("upstream_peer", "downstream_peer")
BRIDGE_SERVICE = "als-bridge.observability.svc.cluster.local"
BRIDGE_PORT = 11800


@dataclass(frozen=True, slots=True)
class AlsPath:
    """How a proxy was told to send ALS: `api` and the Istio version that generated its config."""

    api: Literal["meshconfig", "telemetry"]
    istio: str = "1.24.2"

    @property
    def modern(self) -> bool:
        """Istio 1.24+: peers under `upstream_peer` / `downstream_peer` as Structs."""
        major, minor = (int(part) for part in self.istio.split(".")[:2])
        return (major, minor) >= (1, 24)

    @property
    def filter_state_keys(self) -> tuple[str, ...]:
        if self.api == "meshconfig":
            return MESHCONFIG_KEYS if self.modern else WASM_KEYS
        return TELEMETRY_KEYS_124 if self.modern else WASM_KEYS

    @property
    def cluster(self) -> str:
        if self.api == "meshconfig":
            return cfg.ALS_CLUSTER
        return cfg.outbound_cluster(BRIDGE_PORT, BRIDGE_SERVICE)

    @property
    def downstream_key(self) -> str:
        """The key the proxy's inbound peer discovery stores the caller under."""
        return "downstream_peer" if self.modern else "wasm.downstream_peer"


@dataclass(frozen=True, slots=True)
class Inbound:
    """An inbound listener of a sidecar, in front of the app's `protocol` server."""

    name: str
    protocol: Protocol


@dataclass(frozen=True, slots=True)
class Outbound:
    """An outbound listener (or a gateway's) routing `prefix` to `host:port`: to the inbound
    listener `target` = (proxy, inbound name) of another proxy, or, with `target=None`, to the
    app's own `protocol` server as a service outside the mesh."""

    name: str
    protocol: Protocol
    host: str
    port: int
    target: tuple[str, str] | None
    prefix: str = "/"
    cluster: str = ""  # default `outbound|<port>||<host>`; a waypoint's is `inbound-vip|...`
    # a destination without a proxy of its own that workload discovery still names (ambient)
    discovered: IstioWorkload | None = None
    callers: IstioWorkload | None = None  # who calls this listener, as workload discovery names it


@dataclass(slots=True)
class Proxy:
    name: str
    workload: IstioWorkload
    als: AlsPath
    inbound: list[Inbound] = field(default_factory=list)
    outbound: list[Outbound] = field(default_factory=list)


def access_loggers(als: AlsPath) -> tuple[Json, Json, Json]:
    """The HTTP, TCP and listener loggers Istio generates for `als` (module docstring)."""
    grpc_service: Json = {"envoy_grpc": {"cluster_name": als.cluster}}
    if als.api == "telemetry":
        grpc_service["envoy_grpc"]["authority"] = BRIDGE_SERVICE

    def common(log_name: str) -> Json:
        return {
            "log_name": log_name,
            "grpc_service": grpc_service,
            "transport_api_version": "V3",
            "filter_state_objects_to_log": list(als.filter_state_keys),
        }

    http = {
        "name": "envoy.access_loggers.http_grpc",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig",
            "common_config": common(cfg.HTTP_LOG_NAME),
        },
    }
    tcp_type = "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.TcpGrpcAccessLogConfig"
    tcp = {
        "name": "envoy.tcp_grpc_access_log",
        "typed_config": {"@type": tcp_type, "common_config": common(cfg.TCP_LOG_NAME)},
    }
    listener = {
        "name": "envoy.tcp_grpc_access_log",
        "typed_config": {"@type": tcp_type, "common_config": common("listener_envoy_accesslog")},
        "filter": {"response_flag_filter": {"flags": ["NR"]}},
    }
    return http, tcp, listener


def _mx_headers(proxy: Proxy) -> list[Json]:
    """This proxy's own `x-envoy-peer-metadata` / `-id`, as its Istio version sends them."""
    return [
        {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
        for key, value in (
            (cfg.PEER_METADATA, proxy.workload.mx_header(proxy.als.istio)),
            (cfg.PEER_METADATA_ID, proxy.workload.node_id),
        )
    ]


def _store_downstream_peer(key: str) -> Json:
    """Inbound peer discovery stand-in: the caller's header into filter state `key`."""
    return {
        "name": "envoy.filters.http.set_filter_state",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.set_filter_state.v3.Config",
            "on_request_headers": [
                {
                    "object_key": key,
                    "factory_key": "envoy.string",
                    "format_string": {
                        "text_format_source": {"inline_string": f"%REQ({cfg.PEER_METADATA})%"},
                        "omit_empty_values": True,
                    },
                    "skip_if_empty": True,
                }
            ],
        },
    }


def _hcm(name: str, route: Json, filters: list[Json], logs: list[Json]) -> Json:
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
        ".HttpConnectionManager",
        "stat_prefix": name,
        "codec_type": "AUTO",
        "route_config": {
            "name": name,
            "virtual_hosts": [{"name": name, "domains": ["*"], "routes": [route]}],
        },
        "http_filters": [*filters, cfg._router_filter()],
        "access_log": logs,
    }
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}


def _tcp(name: str, cluster: str, logs: list[Json]) -> Json:
    proxy = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": name,
        "cluster": cluster,
        "access_log": logs,
    }
    return {"name": "envoy.filters.network.tcp_proxy", "typed_config": proxy}


def _listener(name: str, network_filter: Json, listener_log: Json) -> Json:
    listener = cfg._listener(name, network_filter)
    listener["access_log"] = [listener_log]
    return listener


def proxy_config(proxy: Proxy, app: UpstreamApp, ports: dict[tuple[str, str], int], als_port: int) -> Json:
    """The bootstrap of `proxy`; `ports` holds the started proxies' inbound listener ports."""
    http_log, tcp_log, listener_log = access_loggers(proxy.als)
    listeners: list[Json] = []
    clusters: list[Json] = []
    app_ports = {"http": app.http_port, "grpc": app.grpc_port, "tcp": app.tcp_port}
    for inbound in proxy.inbound:
        cluster = cfg.inbound_cluster(app_ports[inbound.protocol])
        clusters.append(
            cfg._static_cluster(cluster, app_ports[inbound.protocol], http2=inbound.protocol == "grpc")
        )
        if inbound.protocol == "tcp":
            listeners.append(_listener(inbound.name, _tcp(inbound.name, cluster, [tcp_log]), listener_log))
            continue
        route: Json = {
            "name": "default",
            "match": {"prefix": "/"},
            "route": {"cluster": cluster},
            "request_headers_to_remove": [cfg.PEER_METADATA, cfg.PEER_METADATA_ID],
            "response_headers_to_add": _mx_headers(proxy),
        }
        filters = [_store_downstream_peer(proxy.als.downstream_key)]
        listeners.append(
            _listener(inbound.name, _hcm(inbound.name, route, filters, [http_log]), listener_log)
        )
    for outbound in proxy.outbound:
        cluster = outbound.cluster or cfg.outbound_cluster(outbound.port, outbound.host)
        target = ports[outbound.target] if outbound.target else app_ports[outbound.protocol]
        clusters.append(cfg._static_cluster(cluster, target, http2=outbound.protocol == "grpc"))
        if outbound.protocol == "tcp":
            listeners.append(_listener(outbound.name, _tcp(outbound.name, cluster, [tcp_log]), listener_log))
            continue
        route = {
            "name": "default",
            "match": {"prefix": outbound.prefix},
            "route": {"cluster": cluster},
            "response_headers_to_remove": [cfg.PEER_METADATA, cfg.PEER_METADATA_ID],
        }
        if outbound.target is not None:  # no metadata exchange with a service outside the mesh
            route["request_headers_to_add"] = _mx_headers(proxy)
        listeners.append(_listener(outbound.name, _hcm(outbound.name, route, [], [http_log]), listener_log))
    clusters.append(cfg._static_cluster(proxy.als.cluster, als_port, http2=True))
    w = proxy.workload
    return {
        "node": {"id": w.node_id, "cluster": w.node_cluster, "metadata": w.node_metadata()},
        "admin": {"address": cfg._socket_address(0)},
        "static_resources": {"listeners": listeners, "clusters": clusters},
    }


class IstioMesh:
    """Start `proxies` (in order: a proxy's outbound targets must come before it), the app
    behind every inbound listener, and the relay to the bridge at `bridge_address`."""

    def __init__(self, bridge_address: str, proxies: list[Proxy]) -> None:
        self.proxies = {p.name: p for p in proxies}
        self._bridge_address = bridge_address
        self._app = UpstreamApp()
        self._relay: IstioAlsRelay | None = None
        self._envoys: dict[str, EnvoyProcess] = {}
        self._ports: dict[tuple[str, str], int] = {}
        self._workdir: Path | None = None

    def __enter__(self) -> IstioMesh:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._workdir = Path(tempfile.mkdtemp(prefix="als-bridge-istio-"))
        self._app.start()
        self._relay = IstioAlsRelay(self._bridge_address)
        self._relay.start()
        for proxy in self.proxies.values():
            config = proxy_config(proxy, self._app, self._ports, self._relay.port)
            envoy = EnvoyProcess(proxy.name, config, self._workdir)
            self._envoys[proxy.name] = envoy
            try:
                envoy.start()
            except EnvoyError as error:
                raise MeshError(str(error)) from error
            listener_ports = envoy.listener_ports()
            names = [i.name for i in proxy.inbound] + [o.name for o in proxy.outbound]
            for name in names:
                self._ports[(proxy.name, name)] = listener_ports[name]
        self._relay.set_facts(self._facts())

    def _facts(self) -> dict[str, ProxyFacts]:
        """What the relay must know of each proxy to log what Istio's proxy logs."""
        address = {key: f"{cfg.HOST}:{port}" for key, port in self._ports.items()}
        upstream_of: dict[str, dict[str, dict[str, object]]] = {p: {} for p in self.proxies}
        callers: dict[str, dict[str, dict[str, object]]] = {p: {} for p in self.proxies}
        app = {"http": self._app.http_port, "grpc": self._app.grpc_port, "tcp": self._app.tcp_port}
        for proxy in self.proxies.values():
            for outbound in proxy.outbound:
                if outbound.callers is not None:
                    own = address[(proxy.name, outbound.name)]
                    callers[proxy.name][own] = outbound.callers.mx_struct(proxy.als.istio)
                if outbound.discovered is not None:
                    upstream = f"{cfg.HOST}:{app[outbound.protocol]}"
                    upstream_of[proxy.name][upstream] = outbound.discovered.mx_struct(proxy.als.istio)
                if outbound.target is None:
                    continue
                server = self.proxies[outbound.target[0]]
                if server.workload.kind != "gateway":  # gateways send no mx on responses
                    server_md = server.workload.mx_struct(server.als.istio)
                    upstream_of[proxy.name][address[outbound.target]] = server_md
                if outbound.protocol == "tcp":
                    caller_md = proxy.workload.mx_struct(proxy.als.istio)
                    callers[server.name][address[outbound.target]] = caller_md
        return {
            p.workload.node_id: ProxyFacts(
                p.als.modern, frozenset(p.als.filter_state_keys), upstream_of[p.name], callers[p.name]
            )
            for p in self.proxies.values()
        }

    def port(self, proxy: str, listener: str) -> int:
        """The port of a proxy's listener, for the test to send traffic to."""
        return self._ports[(proxy, listener)]

    def envoy(self, proxy: str) -> EnvoyProcess:
        return self._envoys[proxy]

    def stop(self) -> None:
        """Stop the proxies (which ends their ALS streams), the relay, the app."""
        for envoy in self._envoys.values():
            envoy.stop()
        self._envoys.clear()
        if self._relay is not None:
            self._relay.stop()
            self._relay = None
        self._app.stop()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
