"""The demo's terminal output: a live view redrawn in place (rich), or one plain line per update
when stdout is not a terminal (CI logs, `| tee`), and the summary at the end.

Every figure comes from what the bridge exported to the demo's sink (edges, latency) or from
the bridge's own counters (entries received, items exported).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TextIO

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from bridge.demo import analysis
from bridge.demo.sink import DemoSink
from bridge.telemetry import SELF

DEMO_EXPORTER = "otlp/demo"


@dataclass
class Counters:
    """The bridge's own counters at one moment."""

    at: float
    entries: float
    spans: float
    points: float
    logs: float

    @staticmethod
    def now() -> Counters:
        def exported(signal: str) -> float:
            return SELF.get("als_bridge_exported_items_total", exporter=DEMO_EXPORTER, signal=signal)

        entries = SELF.get("als_bridge_entries_received_total")
        return Counters(time.monotonic(), entries, exported("traces"), exported("metrics"), exported("logs"))


@dataclass
class Frame:
    """One update: the edges with their rates, and the counters."""

    elapsed: float
    edges: list[analysis.Edge]
    counters: Counters
    entries_per_s: float
    visits: int


@dataclass
class Tracker:
    """Turns successive snapshots into rates (per second since the previous update)."""

    sink: DemoSink
    started: float = field(default_factory=time.monotonic)
    _last: Counters | None = None
    _last_requests: dict[tuple[str, str], float] = field(default_factory=dict)

    def frame(self, visits: int) -> Frame:
        counters = Counters.now()
        graph = analysis.edges(self.sink)
        last = self._last
        dt = counters.at - last.at if last else 0.0
        for edge in graph:
            key = (edge.client, edge.server)
            if dt > 0:
                edge.rate = max(0.0, edge.requests - self._last_requests.get(key, 0.0)) / dt
            self._last_requests[key] = edge.requests
        entries_per_s = (counters.entries - last.entries) / dt if last and dt > 0 else 0.0
        self._last = counters
        return Frame(counters.at - self.started, graph, counters, entries_per_s, visits)


def edge_table(edges: list[analysis.Edge], title: str, with_rate: bool) -> Table:
    caption = "req/s: the last second; p50/p99: since the start (the bridge's service-graph histograms)"
    table = Table(
        title=title, box=box.SIMPLE_HEAD, title_justify="left", caption=caption if with_rate else None
    )
    table.add_column("edge (client -> server)")
    if with_rate:
        table.add_column("req/s", justify="right")
    for name in ("requests", "errors", "error %", "p50", "p99"):
        table.add_column(name, justify="right")
    for e in edges:
        row = [f"{e.client} -> {e.server}"]
        if with_rate:
            row.append(f"{e.rate:.1f}")
        style = "red" if e.failed else None
        row += [
            f"{e.requests:.0f}",
            f"{e.failed:.0f}",
            f"{100 * e.error_ratio:.1f}",
            analysis.fmt_ms(e.p50_s),
            analysis.fmt_ms(e.p99_s),
        ]
        table.add_row(*row, style=style)
    return table


def footer(frame: Frame) -> Text:
    c = frame.counters
    return Text(
        f"{frame.elapsed:5.0f} s   ALS entries {c.entries:.0f} ({frame.entries_per_s:.0f}/s)   exported: "
        f"{c.spans:.0f} spans, {c.points:.0f} metric points, {c.logs:.0f} log records   visits {frame.visits}"
    )


def plain_line(frame: Frame) -> str:
    """One line per update: the counters, then every edge with its requests, errors and p99."""
    c = frame.counters
    parts = [
        f"t={frame.elapsed:.0f}s entries={c.entries:.0f} ({frame.entries_per_s:.0f}/s) "
        f"spans={c.spans:.0f} points={c.points:.0f} logs={c.logs:.0f}"
    ]
    for e in frame.edges:
        parts.append(
            f"{e.client}->{e.server} {e.requests:.0f} req {100 * e.error_ratio:.0f}% err "
            f"p99 {analysis.fmt_ms(e.p99_s)}"
        )
    return " | ".join(parts)


class View:
    """`live=True`: a rich Live table redrawn in place; else plain lines every `plain_every` s."""

    def __init__(self, tracker: Tracker, out: TextIO, live: bool, plain_every: float = 5.0) -> None:
        self.tracker = tracker
        self.out = out
        self.live = live
        self.plain_every = plain_every
        self._live: Live | None = None
        self._last_plain = 0.0

    def start(self) -> None:
        if self.live:
            console = Console(file=self.out)
            self._live = Live(Text("waiting for the first metrics..."), console=console, auto_refresh=False)
            self._live.start()

    def update(self, visits: int) -> None:
        frame = self.tracker.frame(visits)
        if self._live is not None:
            table = edge_table(
                frame.edges, "als-bridge demo: the mesh as the bridge sees it (Ctrl-C stops)", True
            )
            self._live.update(Group(table, footer(frame)), refresh=True)
        elif frame.elapsed - self._last_plain >= self.plain_every or not self._last_plain:
            self._last_plain = frame.elapsed or 1e-9
            print(plain_line(frame), file=self.out, flush=True)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def summary(sink: DemoSink, out: TextIO, seconds: float, terminal: bool) -> None:
    """The summary tables: every edge, and every node with its kind and how it was identified."""
    console = Console(file=out, width=None if terminal else 140, no_color=not terminal)
    graph = analysis.edges(sink)
    console.print(
        edge_table(
            graph, f"Summary: {seconds:.0f} s of traffic, edges from the bridge's service graph", False
        )
    )
    table = Table(
        title="Workloads, as the bridge identified them (span resources)",
        box=box.SIMPLE_HEAD,
        title_justify="left",
    )
    for name in ("service", "kind", "identity"):
        table.add_column(name)
    for node in analysis.nodes(sink, graph).values():
        table.add_row(node.name, node.kind, node.identity)
    console.print(table)
    c = Counters.now()
    console.print(
        f"exported to the demo's sink: {c.spans:.0f} spans, {c.points:.0f} metric points, "
        f"{c.logs:.0f} log records, from {c.entries:.0f} ALS entries"
    )
