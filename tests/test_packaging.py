"""The xds-protos trap: its stale `opentelemetry/proto` copy must never reach the bridge.

`xds-protos` ships `opentelemetry/proto/**` from an old OTLP release; installed beside
`opentelemetry-proto` it overwrites those modules (`ResourceMetrics` loses `scope_metrics`)
and every OTLP export breaks. The bridge keeps xds-protos out of its dependencies and loads
the Envoy ALS descriptors into a private pool. These tests fail if that ever regresses.
"""

from __future__ import annotations

import os
import subprocess
import venv
from importlib.metadata import requires
from pathlib import Path

import pytest
from google.protobuf import descriptor_pool

ROOT = Path(__file__).resolve().parent.parent


def test_opentelemetry_proto_is_the_real_one() -> None:
    from opentelemetry.proto.metrics.v1 import metrics_pb2

    fields = {f.name for f in metrics_pb2.ResourceMetrics.DESCRIPTOR.fields}
    assert "scope_metrics" in fields, f"a stale opentelemetry/proto is installed (xds-protos?): {fields}"


def test_runtime_dependencies_exclude_the_envoy_python_api_packages() -> None:
    deps = [d.split(";")[0].strip().lower() for d in requires("als-bridge") or [] if "extra ==" not in d]
    assert not [d for d in deps if d.startswith(("xds-protos", "envoy-data-plane"))], deps


def test_als_messages_live_in_a_private_descriptor_pool() -> None:
    from bridge.receivers.envoy_als import _protos

    assert _protos.StreamAccessLogsMessage.DESCRIPTOR.file.pool is not descriptor_pool.Default()
    with pytest.raises(KeyError):
        descriptor_pool.Default().FindMessageTypeByName("envoy.service.accesslog.v3.StreamAccessLogsMessage")


def test_plain_pip_install_into_a_fresh_venv_gives_a_working_bridge(tmp_path: Path) -> None:
    """`pip install .` (not editable, no extras) in a new venv: decode ALS and build OTLP metrics."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(ROOT)],
        check=True,
        env=env,
        timeout=600,
    )
    check = (
        "from bridge.receivers.envoy_als import _protos\n"
        "m = _protos.StreamAccessLogsMessage(); m.identifier.node.id = 'sidecar~1~p.ns~ns.svc'\n"
        "m.http_logs.log_entry.add().request.path = '/x'\n"
        "back = _protos.StreamAccessLogsMessage.FromString(m.SerializeToString())\n"
        "assert back.http_logs.log_entry[0].request.path == '/x'\n"
        "from opentelemetry.proto.metrics.v1.metrics_pb2 import ResourceMetrics\n"
        "ResourceMetrics(scope_metrics=[])\n"
        "import bridge.service\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [str(python), "-c", check], capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    validate = subprocess.run(
        [str(env_dir / "bin" / "als-bridge"), "validate", "--config", str(ROOT / "config.example.yaml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert validate.returncode == 0, validate.stderr


@pytest.mark.slow
def test_building_the_wheel_gives_no_deprecation_warning(tmp_path: Path) -> None:
    """`pip wheel .` as a packager runs it: the build backend (setuptools, in an isolated build
    environment) must not warn that our metadata uses a deprecated form (e.g. a license table)."""
    pip = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "pip"
    if not pip.exists():
        pip = ROOT / ".venv" / "bin" / "pip"
    result = subprocess.run(
        [str(pip), "wheel", str(ROOT), "--no-deps", "--no-cache-dir", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert list(tmp_path.glob("als_bridge-*.whl")), output
    warnings = [
        line
        for line in output.splitlines()
        if "Deprecat" in line or "BuildBackendWarning" in line or "SetuptoolsWarning" in line
    ]
    assert warnings == [], "\n".join(warnings)
