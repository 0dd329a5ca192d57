"""Per-node renewal state, next to the inventory, so an interrupted renewal resumes where it stopped."""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from mrakit.errors import MrakitError
from mrakit.inventory.model import Inventory

STATE_FOLDER = ".mrakit-acme"


def state_dir(inventory: Inventory) -> Path:
    return inventory.base_dir / STATE_FOLDER


@dataclass(frozen=True)
class NodeState:
    """Where one node's renewal stands. `stage` is the last step done: csr, order, issued or installed.
    Holds public material only (the CSR and the order URL), never a key."""

    cluster: str
    node: str
    kind: str
    stage: str
    names: tuple[str, ...] = ()
    csr_pem: str = ""
    order_url: str = ""
    certificate_file: str = ""
    updated_at: str = ""

    @property
    def finished(self) -> bool:
        return self.stage == "installed"

    def advance(self, stage: str, **changes: Any) -> NodeState:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        return replace(self, stage=stage, updated_at=now, **changes)


def _path(directory: Path, node: str, kind: str) -> Path:
    return directory / (f"{node}.json" if kind == "server" else f"{node}-{kind}.json")


def load_state(directory: Path, node: str, kind: str) -> NodeState | None:
    path = _path(directory, node, kind)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return NodeState(**{**data, "names": tuple(data.get("names", ()))})
    except (ValueError, TypeError) as exc:
        raise MrakitError(f"{path}: not a mrakit renewal state file ({exc}); remove it to start that node over") \
            from None


def save_state(directory: Path, state: NodeState) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    path = _path(directory, state.node, state.kind)
    data = asdict(state)
    data["names"] = list(state.names)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(temporary, path)  # a crash never leaves half a state file
