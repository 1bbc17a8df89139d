"""OTLP metric and attribute names -> Prometheus names, the way Prometheus' OTLP translator does it.

The same metric can reach a Prometheus-compatible store two ways: scraped from this exporter, or
pushed as OTLP (`otlphttp`) and translated by the store. Dashboards and alerts only work across both
if the names agree, so this follows the translator's rules ("UnderscoreEscapingWithSuffixes"):

- the name is split into tokens at every character outside `[A-Za-z0-9:]` and re-joined with `_`
  (so `http.server.request.duration` -> `http_server_request_duration`, `a__b` -> `a_b`);
- the unit adds a suffix word (`s` -> `seconds`, `By` -> `bytes`, `x/y` -> `x_per_y`), unless that word
  is already one of the name's tokens (`istio_request_duration_milliseconds` with unit `ms` stays;
  the `_per_y` part is always added);
  `{...}` annotations and unit `1` add nothing;
- monotonic sums end in `_total` (an existing `total` token moves to the end, never doubles);
  gauges with unit `1` end in `_ratio`;
- a leading digit gets a `_` in front.
"""

from __future__ import annotations

import re
from typing import Literal

# How the translator sees a metric: only monotonic sums get `_total`, only gauges `_ratio`.
NameKind = Literal["counter", "updowncounter", "gauge", "histogram", "summary"]

# UCUM units as OTel uses them -> the Prometheus base-unit word (Prometheus' own table).
UNIT_WORDS: dict[str, str] = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "1": "",
    "%": "percent",
}
# The denominator of `x/y` units, singular: `By/s` -> `bytes_per_second`.
PER_UNIT_WORDS: dict[str, str] = {
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "y": "year",
}

_NAME_SEPARATORS = re.compile(r"[^A-Za-z0-9:]+")
_INVALID_NAME_CHARS = re.compile(r"[^A-Za-z0-9_:]+")
_INVALID_LABEL_CHARS = re.compile(r"[^A-Za-z0-9_]")


def metric_name(name: str, unit: str, kind: NameKind, namespace: str = "", add_suffixes: bool = True) -> str:
    """The Prometheus name of an OTLP metric, or "" when nothing usable is left of it.

    Histograms and summaries get `_bucket`/`_sum`/`_count` when written out, not here.
    """
    if not add_suffixes:
        return _plain_name(name, namespace)
    tokens = _tokens(name)
    main_word, per_word = unit_words(unit)
    if main_word and main_word not in tokens:
        tokens.append(main_word)
    if per_word:  # Prometheus adds this one even when the word is there already
        tokens += ["per", per_word]
    if kind == "counter":
        tokens = [token for token in tokens if token != "total"] + ["total"]
    if unit == "1" and kind == "gauge":
        tokens = [token for token in tokens if token != "ratio"] + ["ratio"]
    if namespace:
        tokens.insert(0, namespace)
    return _no_leading_digit("_".join(tokens))


def unit_words(unit: str) -> tuple[str, str]:
    """The suffix words for a unit: (`seconds`, "") for `s`, (`bytes`, `second`) for `By/s`."""
    main, _, per = unit.partition("/")
    return _unit_word(main, UNIT_WORDS), _unit_word(per, PER_UNIT_WORDS)


def label_name(key: str) -> str:
    """An attribute key as a Prometheus label name: `http.route` -> `http_route`, `1x` -> `key_1x`.

    A single leading underscore gets `key` in front (`_x` -> `key_x`), since names starting with `__`
    are reserved and Prometheus' translator keeps user labels clear of them; `__x` stays as it is.
    """
    label = _INVALID_LABEL_CHARS.sub("_", key)
    if not label:
        return ""
    if label[0].isdigit():
        return "key_" + label
    if label.startswith("_") and not label.startswith("__"):
        return "key" + label
    return label


def sanitize_name(name: str) -> str:
    """A name that is already Prometheus-style (our own `als_bridge_*`), made safe without changes."""
    return _no_leading_digit(_INVALID_NAME_CHARS.sub("_", name))


def _tokens(name: str) -> list[str]:
    return [token for token in _NAME_SEPARATORS.split(name) if token]


def _unit_word(unit: str, words: dict[str, str]) -> str:
    """The word for one side of a unit; "" for none, `{annotations}` and unit `1`."""
    unit = unit.strip()
    if not unit or "{" in unit or "}" in unit:
        return ""
    return "_".join(_tokens(words.get(unit, unit)))


def _plain_name(name: str, namespace: str) -> str:
    """`add_metric_suffixes: false`: invalid characters become `_`, nothing is added."""
    plain = "_".join(part for part in _INVALID_NAME_CHARS.split(name) if part)
    if namespace:
        return "_".join(part for part in _INVALID_NAME_CHARS.split(namespace) if part) + "_" + plain
    return _no_leading_digit(plain)


def _no_leading_digit(name: str) -> str:
    if name and name[0].isdigit():
        return "_" + name
    return name
