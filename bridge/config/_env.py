"""`${env:VAR}` / `${env:VAR:-default}` substitution in string scalars, with `$$` for a literal `$`.

The syntax and its edge cases follow the Collector's, so one config text works in both: the default
applies only when the variable is unset (an empty value is a value), and a scalar that is exactly one
reference is re-read as YAML by the caller so `${env:PORT}` can fill an integer field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bridge.config._errors import FieldError

# `$$`, or `${...}` with anything but a brace inside; `$` before anything else is kept as is.
_TOKEN = re.compile(r"\$\$|\$\{([^}]*)\}|\$\{")
_REFERENCE = re.compile(r"^env:([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)


@dataclass(frozen=True)
class Expanded:
    """The text after substitution, and whether the whole scalar was one reference."""

    text: str
    whole_reference: bool


def expand(text: str, environ: Mapping[str, str]) -> Expanded:
    """Substitute every reference in `text`; raise FieldError (empty path) on a bad or unset one."""
    if "$" not in text:
        return Expanded(text, whole_reference=False)
    whole = False
    match = _TOKEN.fullmatch(text)
    if match is not None and match.group(0) != "$$":
        whole = True
    return Expanded(_TOKEN.sub(lambda m: _replacement(m, environ), text), whole_reference=whole)


def _replacement(match: re.Match[str], environ: Mapping[str, str]) -> str:
    token = match.group(0)
    if token == "$$":
        return "$"
    if token == "${":
        raise FieldError((), "unterminated '${'; write '$$' for a literal '$'")
    body = match.group(1)
    reference = _REFERENCE.match(body)
    if reference is None:
        raise FieldError(
            (),
            f"unsupported reference '${{{body}}}'; use '${{env:NAME}}' or '${{env:NAME:-default}}', "
            "or write '$$' for a literal '$'",
        )
    name, default = reference.group(1), reference.group(2)
    value = environ.get(name)
    if value is not None:
        return value
    if default is not None:
        return default
    raise FieldError((), f"environment variable {name} is not set and '${{env:{name}}}' gives no default")
