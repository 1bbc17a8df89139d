"""Render the kustomize trees with the real `kubectl kustomize` and index the objects."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[2]
KUSTOMIZE = ROOT / "deploy" / "kustomize"
TREES = ("base", "overlays/jaeger", "overlays/tempo", "overlays/skywalking")
OVERLAYS = TREES[1:]


def kubectl() -> str:
    """The kubectl binary (/usr/bin/kubectl on this project's machines). Without it the tests
    skip, except under scripts/test (ALS_BRIDGE_REQUIRE_BACKENDS=1), where they fail."""
    found = shutil.which("kubectl")
    if found is None:
        message = "kubectl is not installed; the kustomize tests need `kubectl kustomize`"
        if os.environ.get("ALS_BRIDGE_REQUIRE_BACKENDS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


@dataclass(frozen=True)
class Rendered:
    tree: str
    objects: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name_prefix: str = "") -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"].startswith(name_prefix)]
        assert len(found) == 1, f"{self.tree}: want one {kind} {name_prefix!r}, got {len(found)}"
        return found[0]


@cache
def render(tree: str) -> Rendered:
    """`kubectl kustomize deploy/kustomize/<tree>` parsed; a render error fails with kubectl's message."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(KUSTOMIZE / tree)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"kubectl kustomize {tree} failed:\n{result.stderr}"
    return Rendered(tree, [o for o in yaml.safe_load_all(result.stdout) if o])
