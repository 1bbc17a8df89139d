"""`als-bridge` / `python -m bridge`: exit codes, what goes to stdout and to stderr."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

import bridge
from bridge.cli import main
from bridge.config import REDACTED, ComponentID, Config

REPO = Path(__file__).parents[1]
TESTDATA = REPO / "tests" / "config" / "testdata"
GOOD = str(TESTDATA / "valid_minimal.yaml")
NAMED = str(TESTDATA / "valid_named_components.yaml")
TYPO = str(TESTDATA / "typo_in_exporter_key.yaml")


@pytest.fixture
def fake_module(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Stand-ins for `bridge.service` / `bridge.demo` that record the call instead of running."""

    def install(name: str, function: str, result: int) -> list[Any]:
        calls: list[Any] = []

        def record(arg: Any) -> int:
            calls.append(arg)
            return result

        module = types.ModuleType(f"bridge.{name}")
        setattr(module, function, record)
        monkeypatch.setitem(sys.modules, f"bridge.{name}", module)
        monkeypatch.setattr(bridge, name, module, raising=False)
        return calls

    return install


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--config", GOOD]) == 0
    out, err = capsys.readouterr()
    assert out == f"{GOOD}: ok\n1 pipeline: traces: envoy_als -> debug\n"
    assert err == ""


def test_validate_summarises_every_pipeline_and_warns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPO_TOKEN", "x")
    assert main(["validate", "--config", NAMED]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[1] == (
        "2 pipelines: traces: envoy_als/mesh -> batch/fast -> otlp/tempo, debug; "
        "logs/loki: envoy_als/mesh -> batch/fast -> otlphttp/loki"
    )
    assert (
        err == f"{NAMED}: warning: exporters.debug/unused: defined but used by no pipeline; it will not run\n"
    )


def test_validate_error_goes_to_stderr_with_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--config", TYPO]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"{TYPO}: exporters.otlp.timout: unknown key; did you mean 'timeout'?\n"


def test_validate_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["validate", "--config", str(tmp_path / "none.yaml")]) == 1
    assert "cannot read the file" in capsys.readouterr().err


def test_print_config_is_redacted_yaml(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPO_TOKEN", "hunter2")
    assert main(["print-config", "--config", NAMED]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    data = yaml.safe_load(out)
    assert data["exporters"]["otlp/tempo"]["headers"]["authorization"] == REDACTED
    assert data["exporters"]["debug"] == {"verbosity": "normal"}  # defaults filled in


def test_top_level_config_runs_the_service(fake_module: Any) -> None:
    calls = fake_module("service", "run", 0)
    assert main(["--config", GOOD]) == 0
    assert len(calls) == 1
    assert isinstance(calls[0], Config)
    assert ComponentID("envoy_als") in calls[0].receivers


def test_run_subcommand_returns_the_service_exit_code(fake_module: Any) -> None:
    calls = fake_module("service", "run", 3)
    assert main(["run", "--config", GOOD]) == 3
    assert len(calls) == 1


def test_run_does_not_start_with_a_bad_config(fake_module: Any, capsys: pytest.CaptureFixture[str]) -> None:
    calls = fake_module("service", "run", 0)
    assert main(["run", "--config", TYPO]) == 1
    assert calls == []
    assert "did you mean 'timeout'" in capsys.readouterr().err


def test_demo_gets_its_options(fake_module: Any) -> None:
    calls = fake_module("demo", "main", 0)
    argv = ["demo", "--reporters", "server_side", "--requests", "5", "--verbosity", "detailed", "--logs"]
    assert main(argv) == 0
    assert (calls[0].reporters, calls[0].requests, calls[0].verbosity, calls[0].logs) == (
        "server_side",
        5,
        "detailed",
        True,
    )
    assert main(["demo"]) == 0
    defaults = calls[1]
    assert (defaults.reporters, defaults.verbosity, defaults.logs, defaults.classic) == (
        "both",
        None,
        False,
        False,
    )
    assert (defaults.duration, defaults.report, defaults.otlp_endpoint, defaults.otlp_http) == (
        60.0,
        "demo-report.html",
        None,
        None,
    )
    argv = [
        "demo",
        "--duration",
        "0",
        "--otlp-endpoint",
        "127.0.0.1:4317",
        "--otlp-http",
        "http://127.0.0.1:4318",
    ]
    assert main(argv) == 0
    assert (calls[2].duration, calls[2].otlp_endpoint, calls[2].otlp_http) == (
        0.0,
        "127.0.0.1:4317",
        "http://127.0.0.1:4318",
    )


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["validate"]) == 2
    assert "--config FILE is required" in capsys.readouterr().err
    assert main(["demo", "--reporters", "all"]) == 2
    assert main(["frobnicate"]) == 2


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("als-bridge ")


def run_module(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def test_python_m_bridge_validate_ok() -> None:
    result = run_module("validate", "--config", "config.example.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("config.example.yaml: ok\n3 pipelines: traces: envoy_als -> batch -> ")
    # the example shows the samplers without putting them in a pipeline, and says so
    assert result.stderr.splitlines() == [
        f"config.example.yaml: warning: processors.{name}: defined but used by no pipeline; it will not run"
        for name in ("probabilistic_sampler", "tail_sampling")
    ]


def test_python_m_bridge_validate_error() -> None:
    result = run_module("validate", "--config", TYPO)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"{TYPO}: exporters.otlp.timout: unknown key; did you mean 'timeout'?\n"


def test_python_m_bridge_missing_env_var() -> None:
    path = str(TESTDATA / "missing_env_var.yaml")
    result = run_module("validate", "--config", path)
    assert result.returncode == 1
    assert "exporters.otlp/tempo.headers.authorization: environment variable ALS_BRIDGE_TEST_UNSET_TOKEN" in (
        result.stderr
    )
    result = run_module("validate", "--config", path, env={"ALS_BRIDGE_TEST_UNSET_TOKEN": "set"})
    assert result.returncode == 0, result.stderr


def test_python_m_bridge_usage_error() -> None:
    result = run_module("validate", "--nope")
    assert result.returncode == 2
    assert "usage: als-bridge" in result.stderr
