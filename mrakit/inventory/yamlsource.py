"""Safe YAML that remembers where every value came from, so errors can name file, line and column.

Only the plain YAML types are accepted; any other tag (``!!python/object`` and friends) is refused,
as are duplicate keys, which PyYAML would otherwise silently let the last one win.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from mrakit.errors import InventoryError

PathKey = tuple[str | int, ...]
_MAX_NODES = 2_000_000  # refuses alias bombs ("billion laughs") long before memory runs out
MAX_DEPTH = 64  # an inventory is ~6 levels deep; PyYAML's composer recurses and dies past a few hundred

_SAFE_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


def dotted(path: Sequence[str | int]) -> str:
    """("expressway", "exp-c", "peers", 1, "fqdn") -> "expressway.exp-c.peers[1].fqdn"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


@dataclass
class Located:
    """Parsed data plus the position of every value and every mapping key (1-based)."""

    data: Any
    file: str
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int] | None:
        """Position of the value at `path` (or of its key), falling back to the nearest parent."""
        probe = tuple(path)
        if key and probe in self.keys:
            return self.keys[probe]
        while probe:
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), None)

    def error(self, path: Sequence[str | int], message: str, *, key: bool = False) -> InventoryError:
        position = self.where(path, key=key)
        line, column = position if position else (None, None)
        return InventoryError(message, file=self.file, line=line, column=column, path=dotted(path) or None)


class _Builder:
    def __init__(self, located: Located) -> None:
        self.located = located
        self.count = 0
        self.constructor = yaml.SafeLoader("")
        self.open: set[int] = set()  # the collections being built: one seen again is a recursive alias

    def fail(self, node: yaml.Node, message: str) -> InventoryError:
        return InventoryError(
            message, file=self.located.file, line=node.start_mark.line + 1, column=node.start_mark.column + 1
        )

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            raise self.fail(node, "the YAML expands to too many values (alias bomb?)")
        if node.tag not in _SAFE_TAGS:
            raise self.fail(node, f"unsupported YAML tag {node.tag!r}: only plain YAML types are allowed")
        self.located.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            if id(node) in self.open:
                raise self.fail(node, "a recursive alias: this value contains itself")
            if len(path) > MAX_DEPTH:
                raise self.fail(node, f"nested more than {MAX_DEPTH} levels deep")
            self.open.add(id(node))
            try:
                return self.build_collection(node, path)
            finally:
                self.open.discard(id(node))
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise self.fail(node, f"bad value: {getattr(exc, 'problem', exc)}") from None
        if isinstance(value, float) and not math.isfinite(value):
            # .nan compares false with every bound, so the schema's minimum/maximum would let it through.
            raise InventoryError(f"{value} is not a number mrakit accepts (it must be finite)",
                                 file=self.located.file, line=node.start_mark.line + 1,
                                 column=node.start_mark.column + 1, path=dotted(path) or None)
        return value

    def build_collection(self, node: yaml.MappingNode | yaml.SequenceNode, path: PathKey) -> Any:
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise self.fail(key_node, "YAML merge keys (<<) are not supported in an inventory")
                key = self.build(key_node, (*path, "<key>"))
                if not isinstance(key, str):
                    key = str(key)
                if key in result:
                    raise InventoryError(
                        f"duplicate key {key!r}", file=self.located.file,
                        line=key_node.start_mark.line + 1, column=key_node.start_mark.column + 1,
                        path=dotted((*path, key)),
                    )
                self.located.keys[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                result[key] = self.build(value_node, (*path, key))
            self.located.values.pop((*path, "<key>"), None)
            return result
        return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]


def load_located_yaml(text: str, file: str) -> Located:
    """Parse one YAML document safely and record positions. Raises InventoryError on any problem."""
    located = Located(data=None, file=file)
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise InventoryError(
            f"not valid YAML: {exc.problem or exc.context}",
            file=file,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        raise InventoryError(f"not valid YAML: character {exc.character!r} is not allowed", file=file,
                             line=before.count("\n") + 1, column=len(before) - (before.rfind("\n") + 1) + 1) from None
    except yaml.YAMLError as exc:
        raise InventoryError(f"not valid YAML: {' '.join(str(exc).split())}", file=file) from None
    except RecursionError:
        raise _too_deep(text, file) from None
    if len(nodes) > 1:
        second = nodes[1]
        raise InventoryError(
            "the inventory must be a single YAML document", file=file, line=second.start_mark.line + 1
        )
    if not nodes or nodes[0] is None:
        raise InventoryError("the inventory is empty", file=file)
    located.data = _Builder(located).build(nodes[0], ())
    return located


def _too_deep(text: str, file: str) -> InventoryError:
    """Where the nesting passes MAX_DEPTH: the parser's events are a flat stream, so finding it
    does not recurse (the composer that failed does)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    return InventoryError(f"nested more than {MAX_DEPTH} levels deep", file=file,
                                          line=mark.line + 1 if mark else None,
                                          column=mark.column + 1 if mark else None)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        pass
    return InventoryError(f"nested more than {MAX_DEPTH} levels deep", file=file)
