"""`bench.floor` runs end to end and its budget adds up (structure only, no timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_measures_each_part_and_the_budget_adds_up(tmp_path: Path) -> None:
    out = tmp_path / "floor.json"
    cmd = [sys.executable, "-m", "bench.floor", "--quick", "--entries", "6000", "--streams", "4"]
    done = subprocess.run([*cmd, "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())

    receive, parse, export, budget = (report[k] for k in ("receive", "receive_parse", "export", "budget"))
    # the generator stops near its target; the parse server's count equals its acknowledged entries
    # (bench.floor fails otherwise)
    assert receive["entries"] > 5000 and parse["entries"] > 5000
    assert receive["messages"] > 0 and parse["messages"] > 0
    for part in (receive, parse):
        assert part["us_per_entry"] > 0
    assert export["otlp_bytes_per_entry"] > 100  # a span's worth of OTLP, not an empty request
    assert export["gzip_us_per_entry"] > 0 and export["none_us_per_entry"] > 0
    assert export["spans_received"] == export["spans_sent"] > 0  # the sink got every request
    for compression in ("none", "gzip"):
        floor = parse["us_per_entry"] + export[f"{compression}_us_per_entry"]
        assert budget[f"floor_{compression}_us_per_entry"] == round(floor, 2)
        assert budget[f"left_for_conversion_{compression}_us"] == round(
            budget["goal_us_per_entry"] - floor, 2
        )
    assert budget["goal_us_per_entry"] == round(1e6 / 60_000, 2)
    assert budget["conversion_us_per_entry"] > 0
    assert "left for the conversion" in done.stdout
