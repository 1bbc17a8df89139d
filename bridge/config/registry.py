"""What the loader must know of each component type, handed to it by the caller.

The config package imports no component: `load_config(path, factories)` is given the factories
(`bridge.components.FACTORIES`), and reads from each only the part described by `ComponentType`:
its kind, type name, config class (whose defaults fill missing keys and whose `validate()` runs
after reading), the signals it handles, and for connectors the signal pairs it joins.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Protocol

from bridge.config.model import SIGNALS, Signal

Kind = Literal["receiver", "processor", "exporter", "connector", "extension"]
ALL_SIGNALS: frozenset[Signal] = frozenset(SIGNALS)


class ComponentType(Protocol):
    """The loader's view of a component factory (`bridge.factory`)."""

    @property
    def kind(self) -> Kind: ...

    @property
    def type(self) -> str: ...

    @property
    def config_class(self) -> builtins.type[Any]: ...

    @property
    def signals(self) -> frozenset[Signal]: ...

    @property
    def routes(self) -> frozenset[tuple[Signal, Signal]]: ...


class ComponentTypes:
    """The known types, per kind; built once per load from the factories it is given.

    A second factory for a `(kind, type)`, or signals that are not OTLP's, are bugs in the list
    of factories, raised as ValueError before any config is read.
    """

    def __init__(self, factories: Iterable[ComponentType]) -> None:
        self._by_kind: dict[str, dict[str, ComponentType]] = {}
        for factory in factories:
            table = self._by_kind.setdefault(factory.kind, {})
            if factory.type in table:
                raise ValueError(f"{factory.kind} type {factory.type!r} is already registered")
            if factory.kind == "connector":
                routes = factory.routes
                if not routes or any(a not in ALL_SIGNALS or b not in ALL_SIGNALS for a, b in routes):
                    pairs = sorted((str(a), str(b)) for a, b in routes)
                    raise ValueError(f"routes must be non-empty (signal, signal) pairs, got {pairs}")
            elif not factory.signals or not factory.signals <= ALL_SIGNALS:
                raise ValueError(
                    f"signals must be a non-empty subset of {sorted(map(str, ALL_SIGNALS))}: "
                    f"{sorted(map(str, factory.signals))}"
                )
            table[factory.type] = factory

    def config_classes(self, kind: Kind) -> Mapping[str, builtins.type[Any]]:
        """type -> config class of one kind."""
        return {name: f.config_class for name, f in self._by_kind.get(kind, {}).items()}

    def signals(self, kind: Kind, type_name: str) -> frozenset[Signal]:
        """Signals a type handles (only asked of types the loader found, so it exists)."""
        return self._by_kind[kind][type_name].signals

    def routes(self, type_name: str) -> frozenset[tuple[Signal, Signal]]:
        """The (exporter-side, receiver-side) signal pairs a connector type joins."""
        connector = self._by_kind.get("connector", {}).get(type_name)
        return connector.routes if connector is not None else frozenset()
