"""Fixtures for the doctor and probe tests: copies of initialised lab deployments."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _doctorkit import Deployment, TemplateCache, deep_merge


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> TemplateCache:
    return TemplateCache(tmp_path_factory.mktemp("doctor-templates"))


@pytest.fixture
def deploy(templates: TemplateCache, tmp_path: Path, lab_env: dict[str, str]) -> Callable[..., Deployment]:
    """deploy(scenario="fresh", overrides=None) -> a private copy of an initialised lab deployment."""
    counter = itertools.count()

    def make(scenario: str = "fresh", overrides: dict[str, Any] | None = None) -> Deployment:
        return templates.copy(scenario, overrides, tmp_path / f"deployment{next(counter)}")

    return make


@pytest.fixture
def applied(templates: TemplateCache, tmp_path: Path, lab_env: dict[str, str]) -> Callable[..., Deployment]:
    """applied(scenario="fresh", overrides=None) -> a private copy of a deployment after `plan` and
    `apply`, with CUCM replication immediate (every subscriber already holds the publisher's trust)."""
    counter = itertools.count()

    def make(scenario: str = "fresh", overrides: dict[str, Any] | None = None) -> Deployment:
        merged = deep_merge({"lab": {"replication_delay_ms": 0}}, overrides or {})
        return templates.copy(scenario, merged, tmp_path / f"applied{next(counter)}", applied=True)

    return make
