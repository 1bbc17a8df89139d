"""YAML reading with the YAML 1.2 core schema and no duplicate keys.

PyYAML implements YAML 1.1, where `no`, `on` and `off` are booleans, `010` is octal and `1:30` is 90;
the Collector's Go YAML library does not do that, and users copy configs between the two. So this
loader resolves only the 1.2 core forms (null, true/false, decimal/0o/0x ints, floats) and reads
everything else as a string. PyYAML also keeps the last of two equal keys without a word, which
silently drops the first of two `otlp:` exporters; here that is an error naming the line.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode

from bridge.config._errors import ConfigError

_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_MERGE = re.compile(r"^(?:<<)$")


class _CoreSchemaLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema scalars and a duplicate-key check."""

    yaml_implicit_resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = (key_node.tag, key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConstructorError(
                    None,
                    None,
                    f"duplicate key {key_node.value!r} (first given on line {seen[key]})",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _construct_int(loader: yaml.SafeLoader, node: Node) -> int:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    base = 16 if text.startswith("0x") else 8 if text.startswith("0o") else 10
    return int(text, base)


_CoreSchemaLoader.add_implicit_resolver("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""])
_CoreSchemaLoader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))
_CoreSchemaLoader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
_CoreSchemaLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))
_CoreSchemaLoader.add_implicit_resolver("tag:yaml.org,2002:merge", _MERGE, ["<"])
_CoreSchemaLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def load_yaml(text: str, source: str) -> object:
    """Parse a whole document; syntax errors become a ConfigError naming the line and column."""
    try:
        return yaml.load(text, Loader=_CoreSchemaLoader)  # a SafeLoader: no object tags
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        problem = ": ".join(p for p in (exc.context, exc.problem) if p) or "not valid YAML"
        raise ConfigError(source, (), f"{where}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, (), f"YAML syntax error: {exc}") from None


def read_scalar(text: str) -> object:
    """Read `text` as one YAML scalar, as the Collector does with a value that is exactly `${env:X}`.

    Anything that is not a plain scalar (a mapping, a list, invalid YAML) stays the text it was, so
    an environment variable can give a number or a boolean but never restructure the config.
    """
    try:
        value = yaml.load(text, Loader=_CoreSchemaLoader)  # a SafeLoader: no object tags
    except yaml.YAMLError:
        return text
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return text
