"""Helpers for the lab tests: open adapters on a deployment and always close them (stopping the lab)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mrakit.adapters.connect import Connections, connect
from mrakit.inventory.load import load_inventory


@pytest.fixture
def open_connections() -> Iterator[Callable[..., Connections]]:
    """open_connections(inventory_path, **connect_kwargs) -> Connections, closed after the test."""
    opened: list[Connections] = []

    def open_(path: Path, **kwargs: Any) -> Connections:
        settings: dict[str, Any] = {"attempts": 3, "max_retry_seconds": 5.0, **kwargs}
        connections = connect(load_inventory(path), **settings)
        opened.append(connections)
        return connections

    yield open_
    for connections in reversed(opened):
        connections.close()

