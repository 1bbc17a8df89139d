"""`demo-report.html`: the service graph, a RED table per service and three example traces, drawn
from what the bridge exported to the demo's sink. One self-contained file: inline CSS and SVG,
no script, no font or image fetched, so it opens anywhere without a network.

Layout of the graph: nodes in columns by their distance from where traffic enters (the longest
path from a node nobody calls), in the order the edges name them; an edge goes from the right
side of its client to the left side of its server and is labelled with its rate and errors.
Waterfalls: a SERVER span sits under the CLIENT span it names as parent; a CLIENT span whose
parent is not in the trace (the application forwarded the incoming `traceparent` unchanged) sits
under the SERVER span of the same service that encloses it in time.
"""

from __future__ import annotations

import html
import time
from collections import defaultdict
from pathlib import Path

from bridge.demo import analysis
from bridge.demo.sink import DemoSink, SpanRecord

COLOURS = {
    analysis.KUBERNETES: ("#dbeafe", "#1d4ed8"),
    analysis.VM: ("#ffedd5", "#c2410c"),
    analysis.GATEWAY: ("#ede9fe", "#6d28d9"),
    analysis.EXTERNAL: ("#f3f4f6", "#4b5563"),
}
_NODE_W, _NODE_H, _COL_GAP, _ROW_GAP, _PAD = 210, 66, 110, 30, 24
_IDENTITY_KEYS = (
    "k8s.pod.name",
    "host.name",
    "k8s.deployment.name",
    "service.version",
    "k8s.namespace.name",
    "service.namespace",
    "service.instance.id",
)

_CSS = """
body { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; margin: 24px 32px; color: #111827; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
p.sub { color: #4b5563; margin: 0 0 12px; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 12px; }
th, td { border-bottom: 1px solid #e5e7eb; padding: 4px 12px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f9fafb; }
td.err { color: #b91c1c; font-weight: bold; }
.legend span { display: inline-block; padding: 2px 10px; margin-right: 8px; border-radius: 6px; font-size: 12px; }
svg { max-width: 100%; height: auto; }
svg text { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; }
.trace { margin-bottom: 18px; }
.res { font-size: 12px; color: #374151; }
"""


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _layers(names: list[str], graph: list[analysis.Edge]) -> dict[str, int]:
    """Column of each node: the longest path to it from a node that nobody calls."""
    layer = dict.fromkeys(names, 0)
    for _ in range(len(names)):  # relax; the demo's graph has no cycles, a cycle just stops growing
        changed = False
        for e in graph:
            if e.client != e.server and layer[e.server] < layer[e.client] + 1 <= len(names):
                layer[e.server] = layer[e.client] + 1
                changed = True
        if not changed:
            break
    return layer


def graph_svg(nodes: dict[str, analysis.Node], graph: list[analysis.Edge], seconds: float) -> str:
    names = list(nodes)
    layer = _layers(names, graph)
    columns: dict[int, list[str]] = defaultdict(list)
    for name in names:
        columns[layer[name]].append(name)
    pos: dict[str, tuple[float, float]] = {}
    rows = max(len(c) for c in columns.values()) if columns else 1
    height = _PAD * 2 + rows * _NODE_H + (rows - 1) * _ROW_GAP + 20
    for col, members in columns.items():
        block = len(members) * _NODE_H + (len(members) - 1) * _ROW_GAP
        top = (height - block) / 2
        for i, name in enumerate(members):
            pos[name] = (_PAD + col * (_NODE_W + _COL_GAP), top + i * (_NODE_H + _ROW_GAP))
    width = _PAD * 2 + (max(columns) + 1 if columns else 1) * (_NODE_W + _COL_GAP) - _COL_GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="service graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" markerHeight="9" '
        'markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#6b7280"/></marker></defs>',
    ]
    for e in graph:
        if e.client not in pos or e.server not in pos:
            continue
        (x1, y1), (x2, y2) = pos[e.client], pos[e.server]
        ax, ay, bx, by = x1 + _NODE_W, y1 + _NODE_H / 2, x2, y2 + _NODE_H / 2
        colour = "#b91c1c" if e.failed else "#6b7280"
        mid = (ax + bx) / 2
        parts.append(
            f'<path d="M {ax:.0f} {ay:.0f} C {mid:.0f} {ay:.0f}, {mid:.0f} {by:.0f}, {bx:.0f} {by:.0f}" '
            f'fill="none" stroke="{colour}" stroke-width="{1.5 + min(e.requests / max(seconds, 1), 6) / 2:.1f}" '
            f'marker-end="url(#arrow)"><title>{_esc(e.client)} -&gt; {_esc(e.server)}</title></path>'
        )
        rate = e.requests / seconds if seconds else 0.0
        label = f"{rate:.1f}/s"
        if e.failed:
            label += f" · {e.failed:.0f} err ({100 * e.error_ratio:.0f}%)"
        lx, ly = mid, (ay + by) / 2 - 6
        parts.append(
            f'<text x="{lx:.0f}" y="{ly:.0f}" font-size="11" text-anchor="middle" fill="{colour}" '
            f'stroke="#fff" stroke-width="3" paint-order="stroke">{_esc(label)}</text>'
        )
    for name, node in nodes.items():
        x, y = pos[name]
        fill, stroke = COLOURS[node.kind]
        dash = ' stroke-dasharray="5 3"' if node.kind == analysis.EXTERNAL else ""
        parts.append(
            f"<g><title>{_esc(name)}: {_esc(node.kind)}; {_esc(node.identity)}</title>"
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{_NODE_W}" height="{_NODE_H}" rx="10" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="2"{dash}/>'
            f'<text x="{x + _NODE_W / 2:.0f}" y="{y + 22:.0f}" font-size="14" font-weight="bold" '
            f'text-anchor="middle" fill="#111827">{_esc(name)}</text>'
            f'<text x="{x + _NODE_W / 2:.0f}" y="{y + 41:.0f}" font-size="11" text-anchor="middle" '
            f'fill="{stroke}">{_esc(node.kind)}</text>'
            f'<text x="{x + _NODE_W / 2:.0f}" y="{y + 57:.0f}" font-size="10" text-anchor="middle" '
            f'fill="#4b5563">{_esc(node.placement)}</text></g>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _edges_table(graph: list[analysis.Edge], seconds: float) -> str:
    rows = [
        "<table><tr><th>edge (client -&gt; server)</th><th>requests</th><th>req/s</th><th>failed</th>"
        "<th>error %</th><th>p50</th><th>p99</th></tr>"
    ]
    for e in graph:
        err = ' class="err"' if e.failed else ""
        rate = e.requests / seconds if seconds else 0.0
        rows.append(
            f"<tr><td>{_esc(e.client)} -&gt; {_esc(e.server)}</td><td>{e.requests:.0f}</td><td>{rate:.2f}</td>"
            f"<td{err}>{e.failed:.0f}</td><td{err}>{100 * e.error_ratio:.1f}</td>"
            f"<td>{analysis.fmt_ms(e.p50_s)}</td><td>{analysis.fmt_ms(e.p99_s)}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _red_table(rows: list[analysis.Red], seconds: float, nodes: dict[str, analysis.Node]) -> str:
    out = [
        "<table><tr><th>service</th><th>kind</th><th>reported by</th><th>protocol</th><th>requests</th>"
        "<th>rate (req/s)</th><th>errors</th><th>error %</th><th>duration p50</th><th>duration p99</th></tr>"
    ]
    for r in rows:
        kind = nodes[r.service].kind if r.service in nodes else ""
        err = ' class="err"' if r.errors else ""
        ratio = 100 * r.errors / r.requests if r.requests else 0.0
        p50 = analysis.fmt_ms(r.p50_ms / 1000) if r.p50_ms is not None else "-"
        p99 = analysis.fmt_ms(r.p99_ms / 1000) if r.p99_ms is not None else "-"
        rate = r.requests / seconds if seconds else 0.0
        out.append(
            f"<tr><td>{_esc(r.service)}</td><td>{_esc(kind)}</td><td>{_esc(r.reporter)}</td>"
            f"<td>{_esc(r.protocols)}</td><td>{r.requests:.0f}</td><td>{rate:.2f}</td><td{err}>{r.errors:.0f}</td>"
            f"<td{err}>{ratio:.1f}</td><td>{p50}</td><td>{p99}</td></tr>"
        )
    out.append("</table>")
    return "\n".join(out)


def _tree(spans: list[SpanRecord]) -> list[tuple[int, SpanRecord]]:
    """(depth, span) in display order; see the module docstring for where each span goes."""
    ids = {s.span_id for s in spans}
    children: dict[str, list[SpanRecord]] = defaultdict(list)
    roots: list[SpanRecord] = []
    servers = [s for s in spans if s.kind == "SERVER"]
    for s in spans:
        parent = s.parent_id if s.parent_id in ids else ""
        if not parent and s.kind == "CLIENT":
            enclosing = [
                p
                for p in servers
                if p.service == s.service and p.start_ns <= s.start_ns and s.end_ns <= p.end_ns + 1_000_000
            ]
            if enclosing:
                parent = min(enclosing, key=lambda p: p.end_ns - p.start_ns).span_id
        (children[parent] if parent else roots).append(s)
    ordered: list[tuple[int, SpanRecord]] = []

    def walk(span: SpanRecord, depth: int) -> None:
        ordered.append((depth, span))
        for child in sorted(children[span.span_id], key=lambda c: (c.start_ns, c.kind != "CLIENT")):
            walk(child, depth + 1)

    for root in sorted(roots, key=lambda r: r.start_ns):
        walk(root, 0)
    return ordered


def waterfall_svg(spans: list[SpanRecord], nodes: dict[str, analysis.Node]) -> str:
    rows = _tree(spans)
    start = min(s.start_ns for s in spans)
    total = max(max(s.end_ns for s in spans) - start, 1)
    label_w, bar_w, row_h = 430, 560, 22
    width, height = label_w + bar_w + 90, row_h * len(rows) + 28
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="trace waterfall">'
    ]
    for tick in range(5):
        x = label_w + bar_w * tick / 4
        parts.append(
            f'<line x1="{x:.0f}" y1="0" x2="{x:.0f}" y2="{height - 18}" stroke="#e5e7eb"/>'
            f'<text x="{x:.0f}" y="{height - 4}" font-size="10" text-anchor="middle" fill="#6b7280">'
            f"{total * tick / 4 / 1e6:.1f} ms</text>"
        )
    for i, (depth, s) in enumerate(rows):
        y = i * row_h + 2
        kind = nodes[s.service].kind if s.service in nodes else analysis.EXTERNAL
        fill, stroke = COLOURS[kind]
        x = label_w + bar_w * (s.start_ns - start) / total
        w = max(bar_w * (s.end_ns - s.start_ns) / total, 2)
        outline = "#b91c1c" if s.error else stroke
        peer = s.attributes.get("service.peer.name", "")
        label = f"{s.service} {s.kind} {s.name}" + (f" -> {peer}" if s.kind == "CLIENT" and peer else "")
        res = "; ".join(f"{k}={v}" for k, v in s.resource.items())
        status = s.attributes.get("http.response.status_code", "")
        grpc_status = s.attributes.get("rpc.response.status_code", "")
        detail = " ".join(
            str(v) for v in (status, grpc_status, s.attributes.get("envoy.response_flags", "")) if v
        )
        parts.append(
            f"<g><title>{_esc(label)} ({s.duration_ms:.2f} ms{', ERROR' if s.error else ''})\n{_esc(res)}</title>"
            f'<text x="{4 + depth * 14}" y="{y + 15}" font-size="12" fill="#111827">'
            f'<tspan font-weight="bold">{_esc(s.service)}</tspan> <tspan fill="{stroke}">{s.kind}</tspan> '
            f"{_esc(s.name)}{_esc(f' -> {peer}') if s.kind == 'CLIENT' and peer else ''}</text>"
            f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 7}" rx="3" fill="{fill}" '
            f'stroke="{outline}" stroke-width="{2 if s.error else 1.2}"/>'
            f'<text x="{min(x + w + 4, label_w + bar_w + 4):.1f}" y="{y + 15}" font-size="11" fill="#374151">'
            f"{s.duration_ms:.1f} ms {_esc(detail)}</text></g>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _resources(spans: list[SpanRecord]) -> str:
    seen: dict[str, dict[str, object]] = {}
    for s in spans:
        seen.setdefault(s.service, s.resource)
    items = []
    for service, resource in seen.items():
        shown = ", ".join(f"{k}={_esc(v)}" for k, v in resource.items() if k in _IDENTITY_KEYS)
        items.append(f"<li><b>{_esc(service)}</b>: {shown}</li>")
    return f'<ul class="res">{"".join(items)}</ul>'


def render(sink: DemoSink, seconds: float) -> str:
    graph = analysis.edges(sink)
    nodes = analysis.nodes(sink, graph)
    red = analysis.red(sink)
    traces = analysis.example_traces(sink)
    spans, points, logs = sink.counts()
    legend = "".join(
        f'<span style="background:{fill};border:1px solid {stroke};color:{stroke}">{kind}</span>'
        for kind, (fill, stroke) in COLOURS.items()
    )
    trace_parts = []
    for n, trace in enumerate(traces, 1):
        errors = sum(1 for s in trace if s.error)
        trace_parts.append(
            f'<div class="trace"><h3>Trace {n}: {_esc(trace[0].trace_id)} · {len(trace)} spans · '
            f"{len({s.service for s in trace})} services{f' · {errors} with status ERROR' if errors else ''}</h3>"
            f"{waterfall_svg(trace, nodes)}{_resources(trace)}</div>"
        )
    made = time.strftime("%Y-%m-%d %H:%M:%S")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>als-bridge demo report</title>
<style>{_CSS}</style></head><body>
<h1>als-bridge demo: the mesh as the bridge saw it</h1>
<p class="sub">{seconds:.0f} s of traffic through real Envoy sidecars, made {made}. Everything below comes from what the
bridge exported: {spans} spans, {points} metric points, {logs} log records.</p>
<h2>Service graph</h2>
<p class="sub">From <code>traces_service_graph_request_total</code> and <code>..._failed_total</code>; kinds from the
resources of each node's spans (<code>k8s.pod.name</code>: Kubernetes; <code>host.name</code> and no pod: VM; called by
no workload: gateway; no spans of its own: external, no sidecar). <span class="legend">{legend}</span></p>
{graph_svg(nodes, graph, seconds)}
{_edges_table(graph, seconds)}
<h2>RED per service</h2>
<p class="sub">From <code>istio_requests_total</code> and <code>istio_request_duration_milliseconds</code> as the
service's own sidecar reported them (<code>reporter="destination"</code>), or its callers' for a service without one.
Errors: HTTP 5xx and gRPC statuses other than OK. Durations estimated from the buckets, as
<code>histogram_quantile</code> does.</p>
{_red_table(red, seconds, nodes)}
<h2>Example traces</h2>
<p class="sub">CLIENT spans from the caller's sidecar and SERVER spans from the callee's, each with the resource of its
own workload (hover a row for all of it). A red outline is status ERROR.</p>
{"".join(trace_parts) or "<p>No trace with two services yet.</p>"}
</body></html>
"""


def write_report(sink: DemoSink, path: Path, seconds: float) -> Path:
    """Write through a temporary file and rename, so a browser reloading it never sees half a page."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(render(sink, seconds), encoding="utf-8")
    partial.replace(path)
    return path
