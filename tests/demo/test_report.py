"""`demo-report.html` from a real demo run: every service and edge in it, self-contained, and
rendered by headless Chromium (Debian's `chromium`) into a screenshot that shows the graph."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bridge.demo.boutique import EDGES, WORKLOADS
from bridge.demo.report import COLOURS
from tests.demo.conftest import DemoRun

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
)  # fmt: skip


def _report(run: DemoRun) -> str:
    assert run.returncode == 0, run.stderr[-3000:]
    return run.report.read_text(encoding="utf-8")


@pytest.mark.envoy
def test_report_names_every_service_and_edge(demo_run: DemoRun) -> None:
    text = _report(demo_run)
    for service in [*WORKLOADS, "redis-cart", "api.rates.example"]:
        assert f">{service}</text>" in text, f"{service} is not a node of the graph"
    for client, server in EDGES:
        assert html.escape(f"{client} -> {server}") in text, f"no edge {client} -> {server}"
    assert text.count('aria-label="trace waterfall"') == 3
    # Each example trace has CLIENT and SERVER spans of more than one service.
    for trace in text.split('aria-label="trace waterfall"')[1:]:
        assert "CLIENT</tspan>" in trace and "SERVER</tspan>" in trace


@pytest.mark.envoy
def test_report_needs_no_network(demo_run: DemoRun) -> None:
    text = _report(demo_run)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<script" not in text and "@import" not in text and "url(http" not in text


def _chromium() -> str | None:
    found = shutil.which("chromium")
    if found is None and os.environ.get("ALS_BRIDGE_REQUIRE_BROWSER") == "1":
        pytest.fail("chromium is required (scripts/install-browser installs it)")
    if found is None:
        pytest.skip("chromium is not installed (scripts/install-browser)")
    return found


@pytest.mark.envoy
def test_report_renders_in_headless_chromium(demo_run: DemoRun, tmp_path: Path) -> None:
    from PIL import Image

    _report(demo_run)
    chromium = _chromium()
    shot = tmp_path / "report.png"
    subprocess.run(
        [str(chromium), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={shot}", "--window-size=1300,1400", demo_run.report.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    with Image.open(shot) as image:
        raw = image.convert("RGB").tobytes()
    pixels = [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]
    assert len(pixels) == 1300 * 1400
    non_white = sum(1 for p in pixels if p != (255, 255, 255))
    assert non_white > len(pixels) * 0.03, f"only {non_white} non-white pixels: a blank page"
    assert len(set(pixels)) > 200, "too few colours for text, a graph and tables"
    # The node fills are drawn: Kubernetes, VM, gateway and external boxes all made it to the screen.
    for kind, (fill, _) in COLOURS.items():
        rgb = tuple(int(fill[i : i + 2], 16) for i in (1, 3, 5))
        assert sum(1 for p in pixels if p == rgb) > 500, f"no {kind} node on the screenshot"
