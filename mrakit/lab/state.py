"""The lab's persistent state: every node of an inventory, saved (0600: it holds node keys) on
every change, so the lab survives restarts and separate processes see the same deployment."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mrakit.errors import MrakitError
from mrakit.lab.model import CucmNode, ExpresswayNode

STATE_FILE = "state.json"
NODES_DIR = "nodes"
REQUEST_LOG = "requests.jsonl"


class LabState:
    """All nodes of one lab. Use `mutate()` to change nodes: it locks, and saves on exit."""

    def __init__(self, directory: Path, expressway: dict[str, ExpresswayNode], cucm: dict[str, CucmNode],
                 scenario: str = "fresh") -> None:
        self.directory = directory
        self.expressway = expressway
        self.cucm = cucm
        self.scenario = scenario
        self.replication_due: dict[str, float] = {}  # CUCM node -> when its trust reaches its cluster
        self.lock = threading.RLock()

    @property
    def path(self) -> Path:
        return self.directory / STATE_FILE

    @classmethod
    def exists(cls, directory: Path) -> bool:
        return (directory / STATE_FILE).exists()

    @classmethod
    def load(cls, directory: Path) -> LabState:
        path = directory / STATE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            nodes = {name: json.loads((directory / NODES_DIR / f"{name}.json").read_text(encoding="utf-8"))
                     for name in data["nodes"]}
        except FileNotFoundError:
            raise MrakitError(f"no lab state in {directory}; run `mrakit lab init -i INVENTORY` first") from None
        except (OSError, ValueError, KeyError) as exc:
            raise MrakitError(f"{path}: the lab state is unreadable ({exc}); run `mrakit lab init` again") from None
        state = cls(
            directory,
            {k: ExpresswayNode.from_json(v["expressway"]) for k, v in nodes.items() if "expressway" in v},
            {k: CucmNode.from_json(v["cucm"]) for k, v in nodes.items() if "cucm" in v},
            data.get("scenario", "fresh"),
        )
        state.replication_due = {k: float(v) for k, v in data.get("replication_due", {}).items()}
        return state

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "replication_due": dict(self.replication_due),
            "expressway": {k: v.to_json() for k, v in self.expressway.items()},
            "cucm": {k: v.to_json() for k, v in self.cucm.items()},
        }

    def _write(self, path: Path, data: Any) -> None:
        tmp = path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, path)

    def _node_json(self, name: str) -> dict[str, Any]:
        if name in self.expressway:
            return {"expressway": self.expressway[name].to_json()}
        return {"cucm": self.cucm[name].to_json()}

    def save(self, nodes: Iterable[str] | None = None) -> None:
        """Save the named nodes (all when None) and the lab's own small record. One file per node
        (0600: node keys are in them), so a write on one node does not rewrite the whole fleet."""
        with self.lock:
            (self.directory / NODES_DIR).mkdir(parents=True, exist_ok=True)
            for name in self.node_names() if nodes is None else nodes:
                self._write(self.directory / NODES_DIR / f"{name}.json", self._node_json(name))
            self._write(self.path, {"scenario": self.scenario, "replication_due": dict(self.replication_due),
                                    "nodes": self.node_names()})

    @contextmanager
    def mutate(self, *nodes: str) -> Iterator[None]:
        """Lock, change, save: only `nodes` when named, else everything."""
        with self.lock:
            yield
            self.save(nodes or None)

    def node_names(self) -> list[str]:
        return [*self.expressway, *self.cucm]
