"""The fields of Istio's API that our manifests in deploy/istio/ use, as a schema to check them by.

No Istio CRD can be validated by kubernetes-validate, and Istio's CRDs are not on this machine,
so this is the subset of istio/api we rely on, read from its protos (field names in the JSON
form Kubernetes uses, camelCase), at istio/api b8f8791d9:
  mesh/v1alpha1/config.proto      MeshConfig.enableEnvoyAccessLogService, defaultConfig,
                                  extensionProviders[].{name, envoyHttpAls, envoyTcpAls}
                                  (EnvoyHttpGrpcV3LogProvider, EnvoyTcpGrpcV3LogProvider)
  mesh/v1alpha1/proxy.proto       ProxyConfig.{discoveryAddress, envoyAccessLogService}, RemoteService
  networking/v1alpha3/destination_rule.proto  ConnectionPoolSettings.TCPSettings.TcpKeepalive
  telemetry/v1alpha1/telemetry.proto  Telemetry, AccessLogging, ProviderRef, WorkloadMode
  networking/v1alpha3/envoy_filter.proto  EnvoyFilter, EnvoyConfigObjectPatch, ApplyTo,
                                  PatchContext, ListenerMatch (+ FilterChainMatch, FilterMatch),
                                  Patch.Operation
  networking/v1alpha3/workload_group.proto, workload_entry.proto  WorkloadGroup, WorkloadEntry,
                                  ReadinessProbe, HTTPHealthCheckConfig
A schema is a dict of field -> schema; a list of one schema is a repeated field; a string names a
scalar ("string", "uint32", "bool", "duration", "map", "struct", or "enum:A|B|C").
"""

from __future__ import annotations

from typing import Any

Schema = Any

DURATION = "duration"
TCP_KEEPALIVE = {"probes": "uint32", "time": DURATION, "interval": DURATION}
REMOTE_SERVICE = {"address": "string", "tlsSettings": "struct", "tcpKeepalive": TCP_KEEPALIVE}
PROXY_CONFIG = {"discoveryAddress": "string", "envoyAccessLogService": REMOTE_SERVICE}
HTTP_ALS = {
    "service": "string",
    "port": "uint32",
    "logName": "string",
    "filterStateObjectsToLog": ["string"],
    "additionalRequestHeadersToLog": ["string"],
    "additionalResponseHeadersToLog": ["string"],
    "additionalResponseTrailersToLog": ["string"],
}
TCP_ALS = {"service": "string", "port": "uint32", "logName": "string", "filterStateObjectsToLog": ["string"]}
MESH_CONFIG = {
    "enableEnvoyAccessLogService": "bool",
    "defaultConfig": PROXY_CONFIG,
    "extensionProviders": [{"name": "string", "envoyHttpAls": HTTP_ALS, "envoyTcpAls": TCP_ALS}],
}
OBJECT_META = {"name": "string", "namespace": "string", "labels": "map", "annotations": "map"}

TELEMETRY_SPEC = {
    "selector": {"matchLabels": "map"},
    "accessLogging": [
        {
            "match": {"mode": "enum:CLIENT_AND_SERVER|CLIENT|SERVER"},
            "providers": [{"name": "string"}],
            "disabled": "bool",
            "filter": {"expression": "string"},
        }
    ],
}
ENVOY_FILTER_SPEC = {
    "workloadSelector": {"labels": "map"},
    "priority": "int32",
    "configPatches": [
        {
            "applyTo": "enum:INVALID|LISTENER|FILTER_CHAIN|NETWORK_FILTER|HTTP_FILTER|ROUTE_CONFIGURATION"
            "|VIRTUAL_HOST|HTTP_ROUTE|CLUSTER|EXTENSION_CONFIG|BOOTSTRAP|LISTENER_FILTER",
            "match": {
                "context": "enum:ANY|SIDECAR_INBOUND|SIDECAR_OUTBOUND|GATEWAY|WAYPOINT",
                "proxy": {"proxyVersion": "string", "metadata": "map"},
                "listener": {
                    "portNumber": "uint32",
                    "portName": "string",
                    "name": "string",
                    "listenerFilter": "string",
                    "filterChain": {
                        "name": "string",
                        "sni": "string",
                        "transportProtocol": "string",
                        "applicationProtocols": "string",
                        "destinationPort": "uint32",
                        "filter": {"name": "string", "subFilter": {"name": "string"}},
                    },
                },
            },
            "patch": {
                "operation": "enum:INVALID|MERGE|ADD|REMOVE|INSERT_BEFORE|INSERT_AFTER|INSERT_FIRST|REPLACE",
                "value": "struct",
                "filterClass": "enum:UNSPECIFIED|AUTHN|AUTHZ|STATS",
            },
        }
    ],
}
WORKLOAD_ENTRY_SPEC = {
    "address": "string",
    "ports": "map",
    "labels": "map",
    "network": "string",
    "locality": "string",
    "weight": "uint32",
    "serviceAccount": "string",
}
WORKLOAD_GROUP_SPEC = {
    "metadata": {"labels": "map", "annotations": "map"},
    "template": WORKLOAD_ENTRY_SPEC,
    "probe": {
        "initialDelaySeconds": "int32",
        "timeoutSeconds": "int32",
        "periodSeconds": "int32",
        "successThreshold": "int32",
        "failureThreshold": "int32",
        "httpGet": {
            "path": "string",
            "port": "uint32",
            "host": "string",
            "scheme": "string",
            "httpHeaders": "struct",
        },
        "tcpSocket": {"host": "string", "port": "uint32"},
        "exec": {"command": ["string"]},
    },
}

# (apiVersion, kind) -> the schema of `spec`; the group/versions Istio serves for each kind.
RESOURCES: dict[tuple[str, str], Schema] = {
    ("install.istio.io/v1alpha1", "IstioOperator"): {"meshConfig": MESH_CONFIG},
    ("telemetry.istio.io/v1", "Telemetry"): TELEMETRY_SPEC,
    ("networking.istio.io/v1alpha3", "EnvoyFilter"): ENVOY_FILTER_SPEC,
    ("networking.istio.io/v1", "WorkloadGroup"): WORKLOAD_GROUP_SPEC,
    ("networking.istio.io/v1", "WorkloadEntry"): WORKLOAD_ENTRY_SPEC,
}


def problems(value: Any, schema: Schema, path: str = "") -> list[str]:
    """Every place `value` strays from `schema`: unknown fields, wrong shapes, bad enum values."""
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return [f"{path}: want a mapping, got {type(value).__name__}"]
        out = []
        for key, sub in value.items():
            if key not in schema:
                out.append(
                    f"{path}.{key}: not a field of Istio's API here (known: {', '.join(sorted(schema))})"
                )
            else:
                out.extend(problems(sub, schema[key], f"{path}.{key}"))
        return out
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{path}: want a list, got {type(value).__name__}"]
        return [p for i, item in enumerate(value) for p in problems(item, schema[0], f"{path}[{i}]")]
    return _scalar_problems(value, schema, path)


def _scalar_problems(value: Any, kind: str, path: str) -> list[str]:
    if kind.startswith("enum:"):
        allowed = kind.removeprefix("enum:").split("|")
        return [] if value in allowed else [f"{path}: {value!r} is not one of {allowed}"]
    checks = {
        "string": lambda v: isinstance(v, str),
        "uint32": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "int32": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "duration": lambda v: isinstance(v, str) and v.endswith("s") and _is_number(v[:-1].removesuffix("m")),
        "map": lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v),
        "struct": lambda v: isinstance(v, dict),
    }
    return [] if checks[kind](value) else [f"{path}: {value!r} is not a {kind}"]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
