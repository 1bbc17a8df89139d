"""Field errors and the value checks several component configs share.

This module imports nothing of the bridge's, so any config dataclass may import it without
pulling in the loader (and without the import cycles that would make).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

PathPart = str | int
KeyPath = tuple[PathPart, ...]


def format_path(path: Sequence[PathPart]) -> str:
    """Render a key path the way users write it: `exporters.otlp/tempo.tls`, `...exporters[1]`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


class FieldError(ValueError):
    """A problem at a key path relative to the value being checked.

    Raised by the converter and by component `validate()` methods, which do not know where their
    config sits in the file; each caller on the way up prefixes its own part of the path.
    """

    def __init__(self, path: Sequence[PathPart], problem: str) -> None:
        self.path: KeyPath = tuple(path)
        self.problem = problem
        where = format_path(self.path)
        super().__init__(f"{where}: {problem}" if where else problem)

    def within(self, prefix: Sequence[PathPart]) -> FieldError:
        """The same problem, seen from `prefix` up."""
        return FieldError((*prefix, *self.path), self.problem)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`; did you mean 'x'?` for the closest choice, or `` when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def host_port_problem(endpoint: str) -> str | None:
    """Why `endpoint` is not `host:port` (`[v6]:port` for IPv6; port 0 = any free port), or None."""
    if "://" in endpoint:
        return "must be host:port without a scheme"
    if endpoint.startswith("["):
        host, bracket_colon, port = endpoint[1:].partition("]:")
        if not bracket_colon:
            return "must be host:port; an IPv6 address is written [::1]:4317"
    else:
        host, colon, port = endpoint.rpartition(":")
        if not colon:
            return "must be host:port, e.g. 0.0.0.0:11800"
        if ":" in host:
            return "must be host:port; an IPv6 address is written in brackets: [::1]:4317"
    if not host or any(c.isspace() or c == "/" for c in host):
        return "must be host:port with a host name or address before the ':'"
    if not port.isdigit() or int(port) > 65535:
        return f"port {port!r} is not a number from 0 to 65535"
    return None


def check_host_port(key: str, endpoint: str, advice: str = "") -> None:
    """FieldError at `key` unless `endpoint` is host:port; `advice` follows the problem."""
    problem = host_port_problem(endpoint)
    if problem:
        raise FieldError((key,), f"{problem}{advice}; got {endpoint!r}")


def http_url_problem(url: str) -> str | None:
    """Why `url` is not an http(s) URL with a host, or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        return f"is not a valid URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL, e.g. http://localhost:4318"
    if not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    return None


def check_cert_key_pair(cert_file: str, key_file: str, role: str) -> None:
    """A certificate without its key (or the reverse) is useless: name the missing one.

    `role` is `client` or `server`, for the message. The one pairing check every TLS config uses.
    """
    if bool(cert_file) != bool(key_file):
        present, absent = ("cert_file", "key_file") if cert_file else ("key_file", "cert_file")
        raise FieldError((absent,), f"must be set together with {present} (a {role} certificate needs both)")
