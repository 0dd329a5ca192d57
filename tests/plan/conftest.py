"""Fixtures for the plan/apply tests: connections on a lab deployment, always closed (stopping the lab)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mrakit.adapters.connect import Connections, connect
from mrakit.inventory.load import load_inventory


@pytest.fixture
def lab_connections() -> Iterator[Callable[..., Connections]]:
    """lab_connections(inventory_path, **connect_kwargs) -> Connections (with the in-process lab),
    closed after the test."""
    opened: list[Connections] = []

    def open_(path: Path, **kwargs: Any) -> Connections:
        settings: dict[str, Any] = {"attempts": 3, "max_retry_seconds": 5.0, **kwargs}
        connections = connect(load_inventory(path), **settings)
        opened.append(connections)
        return connections

    yield open_
    for connections in reversed(opened):
        connections.close()
