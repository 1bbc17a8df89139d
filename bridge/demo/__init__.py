"""A two-sidecar demo mesh of real Envoy processes on 127.0.0.1.

`Mesh` starts an upstream app (workload B), a server sidecar for B and a client sidecar for
workload A, all sending ALS to a bridge. It backs `als-bridge demo` and the integration tests,
so both see exactly what a real Envoy sends.
"""

from bridge.demo.mesh import Mesh, MeshError

__all__ = ["Mesh", "MeshError"]
