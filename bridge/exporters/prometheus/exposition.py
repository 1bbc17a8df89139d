"""Writing metric families as Prometheus text 0.0.4 or OpenMetrics 1.0.0, and choosing between them.

The two formats differ in small ways that matter to a scraper:
- OpenMetrics names a counter family without `_total` and its samples with it; text 0.0.4 names
  both the same (`# TYPE x_total counter`, `x_total 1`). A counter whose name lacks `_total` (with
  `add_metric_suffixes: false`) therefore gets one added to its samples in OpenMetrics only.
- OpenMetrics escapes `"` in HELP text and ends with `# EOF`.
Values and `le`/`quantile` labels are written the same way in both, as Go's `%g` with shortest
round-trip digits (Prometheus' client library), so `le` values match the OTLP path's.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from decimal import Decimal

from bridge.exporters.prometheus.labels import Labels
from bridge.exporters.prometheus.store import Exemplar, Family, HistogramValue, Series, SummaryValue

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
_OPENMETRICS = "application/openmetrics-text"
_TEXT_RANGES = frozenset({"text/plain", "text/*", "*/*"})
_SHORTEST_EXPONENT_FROM = 6  # Go's %g with shortest precision switches to an exponent at 1e+06


def wants_open_metrics(accept: str) -> bool:
    """Whether an `Accept` header prefers OpenMetrics to plain text (by q-value; a tie goes to OpenMetrics,
    which is what a scraper listing it at all is after). Prometheus sends OpenMetrics at q=1, text at 0.5."""
    best = {True: 0.0, False: 0.0}
    for media_range in accept.split(","):
        media, *params = (part.strip() for part in media_range.split(";"))
        media = media.lower()
        if media != _OPENMETRICS and media not in _TEXT_RANGES:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                quality = _quality(value)
        is_open_metrics = media == _OPENMETRICS
        best[is_open_metrics] = max(best[is_open_metrics], quality)
    return best[True] > 0 and best[True] >= best[False]


_CHUNK_BYTES = 256 * 1024


def render(families: Iterable[Family], open_metrics: bool) -> bytes:
    """The whole exposition in one format."""
    return b"".join(render_chunks(families, open_metrics))


def render_chunks(families: Iterable[Family], open_metrics: bool) -> Iterator[bytes]:
    """The exposition in pieces of about `_CHUNK_BYTES`.

    Why pieces: Istio's histograms carry two dozen labels and a line per bucket, so ten thousand
    series make well over a hundred megabytes of text; sent as it is made, a scrape costs the
    bridge one piece of memory rather than the whole text (and its copies) at once."""
    lines: list[str] = []
    size = 0
    for family in families:
        for line in _family_lines(family, open_metrics):
            lines.append(line)
            size += len(line) + 1
            if size >= _CHUNK_BYTES:
                yield ("\n".join(lines) + "\n").encode("utf-8")
                lines, size = [], 0
    if open_metrics:
        lines.append("# EOF")
    if lines:
        yield ("\n".join(lines) + "\n").encode("utf-8")


def _family_lines(family: Family, open_metrics: bool) -> Iterator[str]:
    name, sample_name = family.name, family.name
    if family.kind == "counter" and open_metrics:
        name = family.name.removesuffix("_total")
        sample_name = name + "_total"
    if family.help:
        yield f"# HELP {name} {_escape_help(family.help, open_metrics)}"
    yield f"# TYPE {name} {family.kind}"
    # exemplars exist only in OpenMetrics: on a counter's `_total` sample and on histogram buckets
    exemplars = open_metrics and family.kind in ("counter", "histogram")
    for labels in sorted(family.series):
        series = family.series[labels]
        if isinstance(series.value, HistogramValue):
            yield from _histogram_lines(sample_name, series, series.value, exemplars)
        elif isinstance(series.value, SummaryValue):
            yield from _summary_lines(sample_name, series, series.value)
        elif exemplars and series.exemplars:
            yield _sample(sample_name, labels, series.value) + _exemplar_text(series.exemplars[-1])
        else:
            yield _sample(sample_name, labels, series.value)


def _exemplar_text(exemplar: Exemplar) -> str:
    """` # {trace_id="..",span_id=".."} value timestamp` (seconds, exact to the nanosecond)."""
    seconds, nanos = divmod(exemplar.time_unix_nano, 1_000_000_000)
    return (
        f' # {{trace_id="{exemplar.trace_id}",span_id="{exemplar.span_id}"}} '
        f"{number_text(exemplar.value)} {seconds}.{nanos:09d}"
    )


def _bucket_exemplars(bounds: tuple[float, ...], exemplars: tuple[Exemplar, ...]) -> list[Exemplar | None]:
    """Per bucket, the latest exemplar whose value lies in it (above the previous bound, at most
    its own): OpenMetrics allows one per bucket, and a value outside its bucket is invalid."""
    found: list[Exemplar | None] = [None] * (len(bounds) + 1)
    for exemplar in exemplars:  # oldest first: a later one replaces an earlier one
        found[bisect_left(bounds, exemplar.value)] = exemplar
    return found


def _histogram_lines(
    name: str, series: Series, value: HistogramValue, exemplars: bool = False
) -> Iterator[str]:
    """The series' label text is written once and reused by every bucket line (`le` goes last,
    after the sorted labels, as in `_sample`)."""
    text = _label_text(series.labels)
    bucket_open = f"{name}_bucket{{{text}," if text else f"{name}_bucket{{"
    cumulative = 0
    if exemplars and series.exemplars:
        by_bucket = _bucket_exemplars(value.bounds, series.exemplars)
        for bound, count, exemplar in zip(_bound_texts(value.bounds), value.counts, by_bucket, strict=True):
            cumulative += count
            line = f'{bucket_open}le="{bound}"}} {cumulative}'
            yield line + _exemplar_text(exemplar) if exemplar is not None else line
    else:
        for bound, count in zip(_bound_texts(value.bounds), value.counts, strict=True):
            cumulative += count
            yield f'{bucket_open}le="{bound}"}} {cumulative}'
    braced = f"{{{text}}}" if text else ""
    if value.sum is not None:
        yield f"{name}_sum{braced} {number_text(value.sum)}"
    yield f"{name}_count{braced} {value.count}"


_BOUND_TEXTS: dict[tuple[float, ...], tuple[str, ...]] = {}


def _bound_texts(bounds: tuple[float, ...]) -> tuple[str, ...]:
    """`le` values of a bucket layout, +Inf included; layouts are few, so they are kept."""
    texts = _BOUND_TEXTS.get(bounds)
    if texts is None:
        texts = tuple(number_text(b) for b in (*bounds, math.inf))
        if len(_BOUND_TEXTS) < 1000:
            _BOUND_TEXTS[bounds] = texts
    return texts


def _summary_lines(name: str, series: Series, value: SummaryValue) -> Iterator[str]:
    for quantile, quantile_value in value.quantiles:
        yield _sample(name, (*series.labels, ("quantile", number_text(quantile))), quantile_value)
    yield _sample(f"{name}_sum", series.labels, value.sum)
    yield _sample(f"{name}_count", series.labels, value.count)


def _label_text(labels: Labels) -> str:
    return ",".join(f'{key}="{escape_label_value(text)}"' for key, text in labels)


def _sample(name: str, labels: Labels, value: float) -> str:
    if not labels:
        return f"{name} {number_text(value)}"
    return f"{name}{{{_label_text(labels)}}} {number_text(value)}"


def number_text(value: float) -> str:
    """A value or bound as Go's `FormatFloat(v, 'g', -1, 64)` writes it (Prometheus' client library and
    VictoriaMetrics do): `1`, `0.005`, `1e+06`, `+Inf`. So `le="1"` here is `le="1"` in the OTLP path too.
    Integers (counts) are written as they are."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    kept = list(digits)
    while len(kept) > 1 and kept[-1] == 0:
        kept.pop()
        exponent += 1
    magnitude = len(kept) + exponent - 1  # the power of ten of the first digit
    prefix = "-" if sign else ""
    if magnitude < -4 or magnitude >= _SHORTEST_EXPONENT_FROM:
        mantissa = str(kept[0]) + ("." + "".join(map(str, kept[1:])) if len(kept) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if magnitude < 0 else '+'}{abs(magnitude):02d}"
    return prefix + format(Decimal((0, tuple(kept), exponent)), "f")


def escape_label_value(text: str) -> str:
    """Backslash, double quote and line feed escaped, as both formats require."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str, open_metrics: bool) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text.replace('"', '\\"') if open_metrics else text


def _quality(value: str) -> float:
    try:
        quality = float(value)
    except ValueError:
        return 0.0
    return quality if 0.0 <= quality <= 1.0 else 0.0
