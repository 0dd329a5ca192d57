"""(interim, replaced by the session branch)"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from mrakit.adapters.connect import Connections, connect
from mrakit.inventory.model import Inventory

Session = Connections


@contextmanager
def session_for(inventory: Inventory, given: Session | None, *, environ: Mapping[str, str] | None = None,
                **options: Any) -> Iterator[Session]:
    if given is not None:
        yield given
        return
    with connect(inventory, environ=environ, **options) as own:
        yield own
