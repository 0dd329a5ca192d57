"""Shared fixtures: a lab deployment built from the example inventory in a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from mrakit_testkit import EXAMPLE, PASSWORDS, REPO, deep_merge, write_inventory

from mrakit.inventory.load import load_inventory
from mrakit.session import Session, connect

__all__ = ["EXAMPLE", "PASSWORDS", "REPO", "deep_merge", "write_inventory"]


@dataclass
class Deployment:
    """An inventory file in tmp_path whose lab has been initialised (not started)."""

    path: Path
    data: dict[str, Any]

    @property
    def directory(self) -> Path:
        return self.path.parent


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


@pytest.fixture
def lab_connections() -> Iterator[Callable[..., Session]]:
    """lab_connections(inventory_path, **connect_kwargs) -> Session (with the in-process lab),
    closed after the test; retries are kept short."""
    opened: list[Session] = []

    def open_(path: Path, **kwargs: Any) -> Session:
        settings: dict[str, Any] = {"attempts": 3, "max_retry_seconds": 5.0, **kwargs}
        connections = connect(load_inventory(path), **settings)
        opened.append(connections)
        return connections

    yield open_
    for connections in reversed(opened):
        connections.close()


@pytest.fixture(scope="session")
def mrakit_exe() -> Path:
    """The venv's `mrakit` console script (beside the running interpreter)."""
    exe = Path(sys.executable).parent / "mrakit"
    if not exe.exists():
        pytest.skip(f"the mrakit console script is not installed beside {sys.executable}")
    return exe


@pytest.fixture(scope="session")
def run_mrakit(mrakit_exe: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the installed `mrakit` executable in a subprocess (cwd: `cwd`, default the repository;
    environment: `env`, default this process's)."""

    def run(
        *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(mrakit_exe), *map(str, args)], capture_output=True, text=True, check=False, timeout=60,
            cwd=cwd or REPO, env=env,
        )

    return run
