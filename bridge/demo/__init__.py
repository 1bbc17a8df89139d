"""A two-sidecar demo mesh of real Envoy processes on 127.0.0.1, and `als-bridge demo`.

`Mesh` starts an upstream app (workload B), a server sidecar for B and a client sidecar for
workload A, all sending ALS to a bridge. It backs `als-bridge demo` and the integration tests,
so both see exactly what a real Envoy sends.
"""

from bridge.demo._envoy_config import AlsTLS
from bridge.demo.mesh import Mesh, MeshError


def main(args: object) -> int:
    """`als-bridge demo` (imported lazily: the demo pulls in the whole runtime)."""
    from bridge.demo.run import main as run_main

    return run_main(args)  # type: ignore[arg-type]


__all__ = ["AlsTLS", "Mesh", "MeshError", "main"]
