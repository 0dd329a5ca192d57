"""A YAML document as a person writes it: block style, a comment on each value, and values left
out shown as comments saying why. PyYAML cannot write comments, so this renders the text itself."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml


@dataclass
class V:
    """A value with the comment that says where it came from. `value is None`: left out (comment: why)."""

    value: Any
    comment: str = ""
    flow: bool = False  # a mapping or list written on one line


@dataclass
class Doc:
    header: list[str] = field(default_factory=list)
    body: dict[str, V] = field(default_factory=dict)


def scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    # Bare when it reads back as the same string and holds nothing YAML treats specially.
    if text and all(c.isalnum() or c in "._-/@" for c in text) and yaml.safe_load(text) == text:
        return text
    return json.dumps(text)


def _flow(value: Any) -> str:
    if isinstance(value, V):
        return _flow(value.value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()
                               if not (isinstance(v, V) and v.value is None)) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return scalar(value)


def _with_comment(text: str, comment: str) -> str:
    return f"{text}  # {comment}" if comment else text


def _mapping(items: dict[str, V], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for key, item in items.items():
        if item.value is None:
            lines.append(f"{pad}# {key}: {item.comment}")
        elif item.flow or not isinstance(item.value, dict | list | tuple) or not item.value:
            lines.append(_with_comment(f"{pad}{key}: {_flow(item.value)}", item.comment))
        elif isinstance(item.value, dict):
            lines.append(_with_comment(f"{pad}{key}:", item.comment))
            lines.extend(_mapping(item.value, indent + 2))
        else:
            lines.append(_with_comment(f"{pad}{key}:", item.comment))
            lines.extend(_sequence(list(item.value), indent + 2))
    return lines


def _sequence(items: list[Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for item in items:
        entry = item if isinstance(item, V) else V(item)
        if entry.value is None:
            lines.append(f"{pad}# - {entry.comment}")
        elif isinstance(entry.value, dict) and not entry.flow:
            inner = _mapping(entry.value, indent + 2)
            first = next(i for i, line in enumerate(inner) if not line.lstrip().startswith("#"))
            inner[first] = f"{pad}- {inner[first][indent + 2:]}"
            lines.extend(inner)
        else:
            lines.append(_with_comment(f"{pad}- {_flow(entry.value)}", entry.comment))
    return lines


def render(doc: Doc) -> str:
    lines = [f"# {line}" if line else "#" for line in doc.header]
    for key, item in doc.body.items():
        lines.append("")
        lines.extend(_mapping({key: item}, 0))
    return "\n".join(lines).lstrip("\n") + "\n"
