"""Every rendered object against the Kubernetes OpenAPI schemas, offline (kubernetes-validate
ships them), strictly: an unknown or misspelt field is an error, not ignored."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.kustomize import TREES, render

# The oldest Kubernetes the manifests target (matchLabelKeys in topology spread: 1.27+, on by
# default from 1.27; PDB unhealthyPodEvictionPolicy: 1.27 beta) and the newest schemas shipped.
VERSIONS = ("1.30.0", kubernetes_validate.utils.latest_version())


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The schemas must come from the package: any connection attempt fails the test."""

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("kubernetes-validate tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("tree", TREES)
def test_every_rendered_object_is_valid(tree: str, version: str) -> None:
    for obj in render(tree).objects:
        kubernetes_validate.validate(obj, version, strict=True)


def test_the_validator_rejects_a_misspelt_field() -> None:
    deployment = next(o for o in render("base").objects if o["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[0], strict=True)
