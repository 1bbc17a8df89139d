"""`als-bridge demo` and the real-Envoy meshes behind it and the integration tests.

* `boutique.Boutique`: the demo's Online-Boutique-shaped mesh (six sidecars: an ingress gateway,
  Kubernetes pods, VMs; HTTP, gRPC, TCP, an external service) with its services and users.
* `Mesh`: two sidecars (client `a`, server `b`) in front of one app, for the integration tests
  and `als-bridge demo --classic`.

Both start real Envoy processes on 127.0.0.1 that send ALS to a bridge, so the demo and the
tests see exactly what a real Envoy sends.
"""

from bridge.demo._envoy_config import AlsTLS
from bridge.demo.mesh import Mesh, MeshError


def main(args: object) -> int:
    """`als-bridge demo` (imported lazily: the demo pulls in the whole runtime)."""
    from bridge.demo.run import main as run_main

    return run_main(args)  # type: ignore[arg-type]


__all__ = ["AlsTLS", "Mesh", "MeshError", "main"]
