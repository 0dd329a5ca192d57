"""Fixtures for the lab tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mrakit.adapters.connect import Connections


@pytest.fixture
def open_connections(lab_connections: Callable[..., Connections]) -> Callable[..., Connections]:
    """open_connections(inventory_path, **connect_kwargs) -> Connections, closed after the test."""
    return lab_connections
