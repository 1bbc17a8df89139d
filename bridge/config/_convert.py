"""Mapping -> dataclass conversion driven by type annotations, with env substitution on the way.

Every config dataclass is read the same way: keys are checked against the fields (unknown keys get
a did-you-mean), each value is converted by its annotation, missing keys take the field's default,
and the finished instance checks itself: its `validate()`, if it has one (the Collector's `Validate()`).
Errors carry the full key path, so a message can point at `exporters.otlp/tempo.tls.ca_file`.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from bridge.config._env import expand
from bridge.config._errors import FieldError, KeyPath, did_you_mean
from bridge.config._units import parse_bytesize, parse_duration
from bridge.config._yaml import read_scalar
from bridge.config.model import ComponentID

_DURATION, _BYTESIZE, _SECRET = "duration", "bytesize", "secret"


_HINTS: dict[type[Any], dict[str, Any]] = {}


def field_hints(cls: type[Any]) -> dict[str, Any]:
    """Resolved annotations of a dataclass, `Annotated` markers kept (they say Duration, Secret)."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = get_type_hints(cls, include_extras=True)
    return hints


def yaml_key(f: dataclasses.Field[Any]) -> str:
    """The key a field is written as: its name, or `metadata={"key": ...}` for a key that is no
    Python identifier (the Collector's `and` policy)."""
    return str(f.metadata.get("key", f.name))


def marker(hint: Any) -> str | None:
    """`duration`, `bytesize` or `secret` for the types of `bridge.config.types`, else None."""
    if get_origin(hint) is Annotated:
        for meta in get_args(hint)[1:]:
            if meta in (_DURATION, _BYTESIZE, _SECRET):
                return str(meta)
    return None


def optional_inner(hint: Any) -> Any | None:
    """X for `X | None`, else None. Other unions are not config types."""
    if get_origin(hint) in (Union, types.UnionType):
        rest = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(rest) == 1 and len(get_args(hint)) == 2:
            return rest[0]
        raise TypeError(f"config fields cannot be of union type {hint!r}")
    return None


def describe(value: object) -> str:
    """How a wrong value appears in a message: its text and what YAML made of it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int):
        return f"{value} (an integer)"
    if isinstance(value, float):
        return f"{value} (a number)"
    if isinstance(value, str):
        return f"{value!r} (a string)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


@dataclass(frozen=True)
class Converter:
    """Reads raw YAML data into typed values, substituting `${env:...}` from `environ`."""

    environ: Mapping[str, str]

    def convert(self, value: object, hint: Any, path: KeyPath) -> Any:
        """`value` as an instance of `hint`, or FieldError at `path`."""
        kind = marker(hint)
        if kind == _DURATION:
            return self._duration(value, path)
        if kind == _BYTESIZE:
            return self._bytesize(value, path)
        if get_origin(hint) is Annotated:  # Secret, or markers of no meaning here: the base type
            return self.convert(value, get_args(hint)[0], path)
        inner = optional_inner(hint)
        if inner is not None:
            return None if value is None else self.convert(value, inner, path)
        origin = get_origin(hint)
        if origin is Literal:
            return self._literal(value, get_args(hint), path)
        if origin is list:
            return self._list(value, get_args(hint)[0], path)
        if origin is dict:
            key_hint, value_hint = get_args(hint)
            return self._dict(value, key_hint, value_hint, path)
        if hint is ComponentID:  # a dataclass, but written as one string
            return self._component_id(value, path)
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            return self.dataclass(hint, value, path)
        if hint in (str, int, float, bool):
            return self._plain(value, hint, path)
        raise TypeError(f"the config loader cannot read values of type {hint!r} (at {path})")

    def dataclass(self, cls: type[Any], value: object, path: KeyPath) -> Any:
        """An instance of `cls` from a mapping (null = all defaults), checked by its `validate()`."""
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            wanted = "a mapping of settings (or nothing, for the defaults)"
            raise FieldError(path, f"expected {wanted}, got {describe(value)}")
        fields = {yaml_key(f): f for f in dataclasses.fields(cls) if f.init}
        hints = field_hints(cls)
        kwargs: dict[str, Any] = {}
        for key, raw in value.items():
            if key not in fields:
                text = str(key)
                hint_text = did_you_mean(text, fields) or f"; valid keys: {', '.join(fields)}"
                raise FieldError((*path, text), f"unknown key{hint_text}")
            name = fields[key].name
            kwargs[name] = self.convert(raw, hints[name], (*path, key))
        for key, f in fields.items():
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required and f.name not in kwargs:
                raise FieldError((*path, key), "required key is missing")
        instance = cls(**kwargs)
        self._check(instance, path)
        return instance

    def _check(self, instance: object, path: KeyPath) -> None:
        """Run the instance's own `validate()`, if it has one, with `path` put in front of errors.

        `validate()` raises FieldError(("key",), "problem") or ValueError (then the problem is
        reported at the dataclass itself).
        """
        validate = getattr(instance, "validate", None)
        if not callable(validate):
            return
        try:
            validate()
        except FieldError as exc:
            raise exc.within(path) from None
        except ValueError as exc:
            raise FieldError(path, str(exc)) from None

    def _scalar(self, value: object, path: KeyPath, *, as_text: bool) -> tuple[object, str]:
        """Substitute env references in a string; re-read a whole `${env:X}` as YAML unless text is wanted.

        Returns the value and a note for error messages saying where a substituted value came from.
        """
        if not isinstance(value, str) or "$" not in value:
            return value, ""
        try:
            expanded = expand(value, self.environ)
        except FieldError as exc:
            raise exc.within(path) from None
        note = f" (from {value!r})" if expanded.text != value else ""
        if expanded.whole_reference and not as_text:
            return read_scalar(expanded.text), note
        return expanded.text, note

    def _plain(self, value: object, hint: type[Any], path: KeyPath) -> Any:
        value, note = self._scalar(value, path, as_text=hint is str)
        if hint is str and isinstance(value, str):
            return value
        if hint is bool and isinstance(value, bool):
            return value
        if hint is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        wanted = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}[hint]
        advice = "; quote it" if hint is str and isinstance(value, int | float | bool) else ""
        raise FieldError(path, f"expected {wanted}, got {describe(value)}{note}{advice}")

    def _duration(self, value: object, path: KeyPath) -> float:
        return float(
            self._quantity(value, path, parse_duration, (int, float), "a duration", "such as '5s' or '250ms'")
        )

    def _bytesize(self, value: object, path: KeyPath) -> int:
        size = self._quantity(value, path, parse_bytesize, (int,), "a byte size", "such as '4MiB' or '16kB'")
        return int(size)

    def _quantity(
        self,
        value: object,
        path: KeyPath,
        parse: Callable[[str], int | float],
        number_types: tuple[type, ...],
        noun: str,
        example: str,
    ) -> int | float:
        """A non-negative amount given as a bare number or as text with a unit (`parse`)."""
        value, note = self._scalar(value, path, as_text=False)
        amount: int | float
        if isinstance(value, number_types) and isinstance(value, int | float) and not isinstance(value, bool):
            amount = value
        elif isinstance(value, str):
            try:
                amount = parse(value)
            except ValueError as exc:
                raise FieldError(path, f"{exc}{note}") from None
        else:
            raise FieldError(path, f"expected {noun} {example}, got {describe(value)}{note}")
        if amount < 0:
            raise FieldError(path, f"{noun} cannot be negative, got {describe(value)}{note}")
        return amount

    def _literal(self, value: object, allowed: tuple[Any, ...], path: KeyPath) -> Any:
        value, note = self._scalar(value, path, as_text=all(isinstance(a, str) for a in allowed))
        if value in allowed and type(value) in {type(a) for a in allowed}:
            return value
        choices = ", ".join(repr(a) for a in allowed)
        suggestion = did_you_mean(value, [str(a) for a in allowed]) if isinstance(value, str) else ""
        raise FieldError(path, f"must be one of {choices}; got {describe(value)}{note}{suggestion}")

    def _list(self, value: object, item_hint: Any, path: KeyPath) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise FieldError(path, f"expected a list, got {describe(value)}")
        return [self.convert(item, item_hint, (*path, index)) for index, item in enumerate(value)]

    def _dict(self, value: object, key_hint: Any, value_hint: Any, path: KeyPath) -> dict[Any, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise FieldError(path, f"expected a mapping, got {describe(value)}")
        result: dict[Any, Any] = {}
        for key, raw in value.items():
            if not isinstance(key, str):
                raise FieldError((*path, str(key)), f"keys must be strings, got {describe(key)}; quote it")
            converted_key: Any = key
            if key_hint is ComponentID:
                converted_key = self._component_id(key, (*path, key), substitute=False)
            elif key_hint is not str:
                raise TypeError(f"config mappings must have str or ComponentID keys, not {key_hint!r}")
            result[converted_key] = self.convert(raw, value_hint, (*path, key))
        return result

    def _component_id(self, value: object, path: KeyPath, *, substitute: bool = True) -> ComponentID:
        note = ""
        if substitute:
            value, note = self._scalar(value, path, as_text=True)
        if not isinstance(value, str):
            wanted = "a component id such as 'otlp' or 'otlp/tempo'"
            raise FieldError(path, f"expected {wanted}, got {describe(value)}")
        try:
            return ComponentID.parse(value)
        except ValueError as exc:
            raise FieldError(path, f"{exc}{note}") from None
