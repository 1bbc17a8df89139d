"""`als-bridge demo` run as a user runs it: exit 0, every edge of the mesh in the summary with
traffic on it, the VMs identified as VMs, plain lines when stdout is not a terminal, nothing left
running, Ctrl-C stops it, and `--otlp-endpoint` / `--otlp-http` receive everything."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.demo.boutique import EDGES, VMS, WORKLOADS
from tests.demo.conftest import DemoRun, demo_env, processes_mentioning


def _summary(run: DemoRun) -> str:
    assert "Summary:" in run.stdout, run.stdout + run.stderr
    return run.stdout[run.stdout.index("Summary:") :]


@pytest.mark.envoy
def test_demo_exits_0_and_its_summary_names_every_edge_with_traffic(demo_run: DemoRun) -> None:
    assert demo_run.returncode == 0, demo_run.stderr[-3000:]
    summary = _summary(demo_run)
    for client, server in EDGES:
        row = re.search(rf"^\s*{re.escape(client)} -> {re.escape(server)}\s+(\d+)\s+(\d+)", summary, re.M)
        assert row, f"no summary row for {client} -> {server}:\n{summary}"
        assert int(row.group(1)) > 0, row.group(0)


@pytest.mark.envoy
def test_summary_shows_the_errors_the_mesh_makes(demo_run: DemoRun) -> None:
    """503s from payment, NOT_FOUND from catalog, the no-route 404s: each edge that gets them fails."""
    summary = _summary(demo_run)
    for client, server in (("frontend", "catalog"), ("frontend", "checkout")):
        row = re.search(rf"^\s*{client} -> {server}\s+(\d+)\s+(\d+)", summary, re.M)
        assert row and int(row.group(2)) > 0, f"{client} -> {server} shows no errors:\n{summary}"


@pytest.mark.envoy
def test_summary_names_the_vms_as_vms_by_host_name(demo_run: DemoRun) -> None:
    summary = _summary(demo_run)
    summary = summary[summary.index("Workloads,") :]
    for vm in VMS:
        row = re.search(rf"^\s*{vm}\s+(\S+)\s+(\S+)", summary, re.M)
        assert row, summary
        assert row.group(1) == "VM"
        assert row.group(2) == f"host.name={WORKLOADS[vm].pod}"
    pods = {name for name, w in WORKLOADS.items() if w.kind == "pod"}
    for pod in pods:
        row = re.search(rf"^\s*{pod}\s+(\S+)\s+(\S+)", summary, re.M)
        assert row and row.group(1) == "Kubernetes" and row.group(2).startswith("k8s.pod.name="), summary
    gateway = re.search(r"^\s*istio-ingressgateway\s+(\S+)", summary, re.M)
    assert gateway and gateway.group(1) == "gateway"
    for external in ("api.rates.example", "redis-cart"):
        row = re.search(rf"^\s*{re.escape(external)}\s+(\S+)", summary, re.M)
        assert row and row.group(1) == "external"


@pytest.mark.envoy
def test_view_prints_plain_lines_when_stdout_is_not_a_terminal(demo_run: DemoRun) -> None:
    lines = [line for line in demo_run.stdout.splitlines() if line.startswith("t=")]
    assert len(lines) >= 2, demo_run.stdout
    assert "\x1b[" not in demo_run.stdout  # no cursor movement or colour: a log file stays readable
    assert re.search(r"spans=[1-9]\d* points=[1-9]\d*", lines[-1]), lines[-1]
    assert "istio-ingressgateway->frontend" in lines[-1]


@pytest.mark.envoy
def test_demo_leaves_no_process_behind(demo_run: DemoRun) -> None:
    assert len(demo_run.envoy_pids) == 6
    for pid in demo_run.envoy_pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert processes_mentioning(str(demo_run.workdir)) == []


@pytest.mark.envoy
def test_otlp_endpoint_and_otlp_http_receive_traces_metrics_and_logs(demo_run: DemoRun) -> None:
    got = {(r.signal, r.transport) for r in demo_run.sink.received if r.outcome == "ok"}
    for signal_ in ("traces", "metrics", "logs"):
        assert (signal_, "grpc") in got and (signal_, "http") in got, got
    services = {resource.get("service.name") for resource, _ in demo_run.sink.spans()}
    assert set(WORKLOADS) <= services


@pytest.mark.envoy
def test_ctrl_c_stops_the_demo_and_everything_it_started(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "bridge",
        "demo",
        "--duration",
        "0",
        "--report",
        str(tmp_path / "r.html"),
    ]
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=demo_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 60
        line = ""
        while "mesh up" not in line:
            line = process.stderr.readline()
            assert line or process.poll() is None, "the demo exited before the mesh was up"
            assert time.monotonic() < deadline, "the mesh did not come up in 60 s"
        pids = [int(p) for p in re.search(r"Envoy PIDs ([\d ]+)\)", line).group(1).split()]  # type: ignore[union-attr]
        time.sleep(3)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 0, stderr[-3000:]
    assert "Summary:" in stdout
    assert (tmp_path / "r.html").exists()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert processes_mentioning(str(tmp_path)) == []


def test_demo_refuses_a_rate_or_duration_it_cannot_run(capsys: pytest.CaptureFixture[str]) -> None:
    from bridge.cli import main

    assert main(["demo", "--rate", "0"]) == 2
    assert main(["demo", "--duration", "-1"]) == 2
    assert "--rate must be above 0" in capsys.readouterr().err


@pytest.mark.envoy
def test_view_redraws_in_place_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal (a pseudo-terminal here) the table is redrawn: the cursor moves back up over
    the previous frame instead of printing a new one below it."""
    import pty

    controller, terminal = pty.openpty()
    command = [
        sys.executable,
        "-m",
        "bridge",
        "demo",
        "--duration",
        "4",
        "--report",
        str(tmp_path / "r.html"),
    ]
    env = {**demo_env(tmp_path), "TERM": "xterm-256color", "COLUMNS": "140", "LINES": "40"}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=terminal, stderr=subprocess.DEVNULL)
    os.close(terminal)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the demo closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=120) == 0
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
            process.wait(10)
    output = b"".join(chunks).decode(errors="replace")
    assert output.count("the mesh as the bridge sees it") >= 3, output[-2000:]  # one per update
    assert "\x1b[1A" in output and "\x1b[2K" in output  # cursor up, erase line: redrawn in place
    assert "Summary:" in output
