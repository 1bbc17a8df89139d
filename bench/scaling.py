"""How `service.workers: N` scales: the end-to-end benchmark once per worker count, flat out.

    .venv/bin/python -m bench.scaling                     # workers 1 and 2, ~2 min, table + JSON
    .venv/bin/python -m bench.scaling --workers 1 2 4     # on a machine with the cores for it

Each run is `bench.bench` without the SDK baseline: the load generator offers as much as the
bridge takes, so entries/s (wall) is the bridge's capacity with N processes on one port
(SO_REUSEPORT spreads the generator's connections over them). Alongside it: the cores the
bridge used (its CPU seconds over the wall window) and entries per CPU-second, which should stay
flat when the work splits cleanly. Scaling efficiency is (entries/s with N) / (N x entries/s
with 1). The generator and the sink run on the same machine: on 2 cores they take part of the
second core, so the figure there is a floor, not the bridge's limit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench import arguments, run_bridge  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "scaling.json"


def _bench_args(workers: int, args: argparse.Namespace) -> argparse.Namespace:
    """`bench.bench`'s settings for one run: flat out, no SDK baseline."""
    return arguments(
        [
            f"--workers={workers}",
            f"--entries={args.entries}",
            f"--duration={args.duration}",
            f"--streams={args.streams}",
            f"--batch={args.batch}",
            f"--compression={args.compression}",
            "--no-baseline",
        ]
    )


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for workers in args.workers:
        with tempfile.TemporaryDirectory(prefix="als-scaling-") as tmp:
            result = run_bridge(_bench_args(workers, args), Path(tmp))
        cores = result["cpu_seconds"] / max(result["window_seconds"], 1e-9)
        rows.append(
            {
                "workers": workers,
                "entries_per_second": result["entries_per_second"],
                "entries_per_cpu_second": result["entries_per_cpu_second"],
                "bridge_cores_used": round(cores, 2),
                "accounted": result["accounted"],
                "peak_rss_mib_all_workers": result["peak_rss_mib_all_workers"],
            }
        )
    base = rows[0]["entries_per_second"] / rows[0]["workers"]
    for row in rows:
        row["efficiency"] = round(row["entries_per_second"] / (row["workers"] * base), 2) if base else 0.0
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--entries", type=int, default=600_000)
    parser.add_argument("--duration", type=float, default=25.0)
    parser.add_argument("--streams", type=int, default=48)
    parser.add_argument("--batch", type=int, default=0, help="entries per message (0: fill 16 KiB)")
    parser.add_argument("--compression", choices=("gzip", "none"), default="gzip")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rows = run(args)
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "runs": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'workers':>7} {'entries/s':>10} {'per CPU-s':>10} {'cores used':>10} {'efficiency':>10}")
    for r in rows:
        print(
            f"{r['workers']:>7} {r['entries_per_second']:>10.0f} {r['entries_per_cpu_second']:>10.0f}"
            f" {r['bridge_cores_used']:>10.2f} {r['efficiency']:>10.2f}"
        )
    print(f"({os.cpu_count()} cores; the generator and the sink share them)  written to {args.out}")
    return 0 if all(r["accounted"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
