"""The YAML reader of fund lists: safe, bounded, and imported only when a YAML file is read.

PyYAML's import costs about 25 ms, which every run that reads a TOML preset or a CSV list
would otherwise pay at start-up.
"""

from __future__ import annotations

from typing import Any

import yaml

from factorxray.errors import UsageError
from factorxray.universe import MAX_YAML_DEPTH, MAX_YAML_VALUES, _short_error


def read_yaml(text: str, source: str) -> Any:
    """The YAML document, refused when its aliases would expand past :data:`MAX_YAML_VALUES`.

    BaseLoader keeps every scalar as text (tickers such as ON, NO or 1301 stay strings) and
    builds no Python objects. The document is composed first (a graph in which an alias
    is the node it names, so this costs only the file's size), its expanded size counted,
    and only then constructed.

    Raises
    ------
    UsageError
        Invalid YAML, nested too deeply, or expanding too far (one line, naming ``source``).
    """
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text)  # reading starts here: control characters are refused
        node = loader.get_single_node()
        if node is not None:
            _check_yaml_size(node, source)
        return loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise UsageError(f"{source}: invalid YAML: {_short_error(exc)}") from None
    except RecursionError:
        raise UsageError(f"{source}: invalid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


class _DeepYaml(yaml.YAMLError):
    """Nesting past :data:`MAX_YAML_DEPTH`."""


class _BoundedLoader(yaml.BaseLoader):
    """BaseLoader that stops composing past :data:`MAX_YAML_DEPTH` levels of nesting."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _DeepYaml(f"nested more than {MAX_YAML_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _check_yaml_size(root: yaml.Node, source: str) -> None:
    """Refuse a document that expands to more than :data:`MAX_YAML_VALUES` values, or loops."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            total = 1 + sum(sizes[id(child)] for child in _children(node))
            if total > MAX_YAML_VALUES:
                raise UsageError(
                    f"{source}: the YAML expands to more than {MAX_YAML_VALUES:,} values once "
                    "its aliases (*name) are followed; write the funds out instead"
                )
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in active:
            raise UsageError(f"{source}: the YAML has an alias inside its own anchor (a loop)")
        active.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
