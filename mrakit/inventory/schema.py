"""The inventory's JSON Schema (schemas/inventory.schema.json) and error messages that say where."""

from __future__ import annotations

import difflib
import ipaddress
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from mrakit.inventory.yamlsource import Located

SCHEMA_FILE = "inventory.schema.json"


@lru_cache(maxsize=4)
def load_schema(name: str = SCHEMA_FILE) -> dict[str, Any]:
    """A schema shipped with mrakit (mrakit/schemas is the repository's schemas/ folder)."""
    text = (Path(__file__).resolve().parent.parent / "schemas" / name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@lru_cache(maxsize=4)
def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = load_schema(name)
    return jsonschema.Draft202012Validator(schema)


def _def_names(schema: dict[str, Any]) -> dict[int, str]:
    return {id(sub): key for key, sub in schema.get("$defs", {}).items()}


def _is_ip(value: object) -> bool:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def _allowed_keys(error: ValidationError) -> list[str]:
    properties = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
    return sorted(properties)


def _describe(error: ValidationError, def_names: dict[int, str]) -> tuple[list[str | int], str, bool]:
    """(path, message, point-at-key) for one schema error."""
    path: list[str | int] = list(error.absolute_path)
    value = error.instance
    kind = error.validator
    if kind == "additionalProperties" and isinstance(value, dict):
        allowed = set(_allowed_keys(error))
        extra = [k for k in value if k not in allowed]
        if extra:
            hint = f" (expected one of: {', '.join(sorted(allowed))})" if allowed else ""
            if extra[0] == "password":
                return [*path, extra[0]], (
                    "a literal password is not allowed in the inventory; use password_env (an environment "
                    "variable) or password_file"
                ), True
            if {"password_env", "password_file"} <= set(value):
                return [*path, extra[0]], "give either password_env or password_file, not both", True
            close = difflib.get_close_matches(extra[0], sorted(allowed), n=1, cutoff=0.75)
            if close:
                hint = f" (did you mean {close[0]!r}? expected one of: {', '.join(sorted(allowed))})"
            return [*path, extra[0]], f"unknown key {extra[0]!r}{hint}", True
    if kind == "unevaluatedProperties" and isinstance(value, dict):
        return path, error.message, False
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return path, f"missing required key {missing!r}", False
    if kind == "type":
        expected = error.validator_value
        expected_text = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return path, f"expected {expected_text}, got {type(value).__name__} {value!r}", False
    if kind == "enum":
        options = ", ".join(repr(v) for v in list(error.validator_value))  # type: ignore[arg-type]
        return path, f"expected one of {options}; got {value!r}", False
    if kind == "const":
        return path, f"must be {error.validator_value!r}; got {value!r}", False
    if kind in ("pattern", "type", "minLength") and path and path[-1] in ("password_env", "password_file"):
        # A password pasted here by mistake must not be printed back.
        what = "an environment variable name" if path[-1] == "password_env" else "a file path"
        return path, f"expected {what} (the value given is not shown: it may be a password)", False
    if kind == "pattern":
        field = path[-1] if path else ""
        if field == "fqdn" and _is_ip(value):
            return path, (
                f"{value!r} is an IP address; name the node by its FQDN (MRA034: certificates are checked "
                "against names, so CUCM and Expressway must be addressed by FQDN)"
            ), False
        what = def_names.get(id(error.schema), str(field) or "value")
        if isinstance(value, str) and value.startswith("*"):
            return path, f"{value!r} is a wildcard; wildcard names are not supported on Expressway (MRA004)", False
        return path, f"{value!r} is not a valid {what}", False
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[kind]
        return path, f"must be {op} {error.validator_value}; got {value!r}", False
    if kind in ("minItems", "maxItems"):
        return path, error.message.replace(str(value), "the list") if len(str(value)) > 60 else error.message, False
    if kind == "minLength":
        return path, "must not be empty", False
    if kind in ("anyOf", "oneOf") and error.context:
        deepest = max(error.context, key=lambda e: len(e.absolute_path))
        if len(deepest.absolute_path) > len(error.absolute_path):
            return _describe(deepest, def_names)
        field = path[-1] if path else ""
        what = def_names.get(id(error.schema), str(field) or "value")
        return path, f"{value!r} is not a valid {what}", False
    if kind == "not" and isinstance(value, dict):
        return path, error.message, False
    return path, error.message, False


def validate_against_schema(located: Located, name: str = SCHEMA_FILE) -> None:
    """Raise InventoryError for the first problem (by position in the file), counting the rest."""
    validator = _validator(name)
    errors = list(validator.iter_errors(located.data))
    if not errors:
        return
    def_names = _def_names(load_schema(name))
    described = []
    for error in errors:
        path, message, at_key = _describe(error, def_names)
        position = located.where(path, key=at_key) or (0, 0)
        # An unknown key is usually a typo of a required one: report it before "missing required key".
        priority = 0 if error.validator == "additionalProperties" else 1
        described.append(((priority, *position), path, message, at_key))
    described.sort(key=lambda item: item[0])
    _, path, message, at_key = described[0]
    if len(described) > 1:
        message += f" (and {len(described) - 1} more problem{'s' if len(described) > 2 else ''})"
    error = located.error(path, message, key=at_key)
    # Every problem, in file order, for `mrakit validate` to list them all.
    error.problems = tuple(located.error(p, m, key=k) for _, p, m, k in described)
    raise error
