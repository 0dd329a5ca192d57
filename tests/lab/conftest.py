"""Fixtures for the lab tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mrakit.session import Session


@pytest.fixture
def open_connections(lab_connections: Callable[..., Session]) -> Callable[..., Session]:
    """open_connections(inventory_path, **connect_kwargs) -> Session, closed after the test."""
    return lab_connections
