"""What the test folders share, importable by name (tests/ is on sys.path through its conftest)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "inventory.example.yaml"
PASSWORDS = {"MRAKIT_EXPRESSWAY_PASSWORD": "lab-exp-secret-7f3a", "MRAKIT_CUCM_PASSWORD": "lab-ccm-secret-91c2"}


def write_inventory(directory: Path, data: dict[str, Any], name: str = "inventory.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
