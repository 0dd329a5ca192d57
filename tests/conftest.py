"""Shared fixtures: a lab deployment built from the example inventory in a temporary folder."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "inventory.example.yaml"
PASSWORDS = {"MRAKIT_EXPRESSWAY_PASSWORD": "lab-exp-secret-7f3a", "MRAKIT_CUCM_PASSWORD": "lab-ccm-secret-91c2"}


@dataclass
class Deployment:
    """An inventory file in tmp_path whose lab has been initialised (not started)."""

    path: Path
    data: dict[str, Any]

    @property
    def directory(self) -> Path:
        return self.path.parent


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


@pytest.fixture
def lab_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The lab's passwords in the environment variables the example inventory names."""
    for name, value in PASSWORDS.items():
        monkeypatch.setenv(name, value)
    return dict(PASSWORDS)


@pytest.fixture
def make_deployment(tmp_path: Path, lab_env: dict[str, str]) -> Callable[..., Deployment]:
    """make_deployment(scenario="fresh", **overrides) -> an initialised lab deployment."""
    from mrakit.lab.seed import init_lab

    counter = iter(range(1000))

    def make(scenario: str = "fresh", overrides: dict[str, Any] | None = None) -> Deployment:
        directory = tmp_path / f"deployment{next(counter)}"
        directory.mkdir()
        data = yaml.safe_load(EXAMPLE.read_text())
        data = deep_merge(data, overrides or {})
        path = write_inventory(directory, data)
        init_lab(path, scenario)
        return Deployment(path, data)

    return make


@pytest.fixture
def environ_without_proxies() -> Iterator[None]:
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.lower().endswith("_proxy")}
    yield
    os.environ.update(saved)
