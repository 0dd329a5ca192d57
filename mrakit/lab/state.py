"""The lab's persistent state: every node of an inventory, saved (0600: it holds node keys) on
every change, so the lab survives restarts and separate processes see the same deployment."""

from __future__ import annotations

import contextlib
import fcntl
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
LOCK_FILE = "state.lock"


_Stamp = tuple[int, int, int]  # inode, mtime (ns), size: a file replaced by another process differs


def _stamp(path: Path) -> _Stamp | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


class StateLock:
    """The lab state's lock: re-entrant for the threads of this process (an RLock) and exclusive
    between processes (flock on `state.lock` in the state folder; the kernel drops it when the
    process dies). Taking it first re-reads every node another process saved meanwhile, so a change
    is always made to the newest state and no process's write is lost to another's older copy."""

    def __init__(self, state: LabState) -> None:
        self.state = state
        self._rlock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    def acquire(self, *, refresh: bool | tuple[str, ...] = True) -> None:
        """`refresh`: True re-reads every node another process changed, a tuple only those nodes
        (a request touches one node: a 300-node lab need not stat 300 files per request)."""
        self._rlock.acquire()
        self._depth += 1
        if self._depth > 1:
            return
        try:
            self.state.directory.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.state.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            if refresh is not False:
                self.state.refresh(None if refresh is True else refresh)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = None
        self._rlock.release()

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class LabState:
    """All nodes of one lab. Use `mutate()` to change nodes: it locks (threads and processes),
    re-reads what other processes saved, and saves on exit."""

    def __init__(self, directory: Path, expressway: dict[str, ExpresswayNode], cucm: dict[str, CucmNode],
                 scenario: str = "fresh") -> None:
        self.directory = directory
        self.expressway = expressway
        self.cucm = cucm
        self.scenario = scenario
        self.replication_due: dict[str, float] = {}  # CUCM node -> when its trust reaches its cluster
        self.lock = StateLock(self)
        self._seen: dict[Path, _Stamp | None] = {}  # the version of each file this object holds

    @property
    def path(self) -> Path:
        return self.directory / STATE_FILE

    @classmethod
    def exists(cls, directory: Path) -> bool:
        return (directory / STATE_FILE).exists()

    @classmethod
    def load(cls, directory: Path) -> LabState:
        path = directory / STATE_FILE
        # Each file's stamp is taken before it is read: a save by another process in between makes
        # the next refresh read it again, instead of being taken for what was read.
        seen: dict[Path, _Stamp | None] = {path: _stamp(path)}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            nodes = {}
            for name in data["nodes"]:
                node_path = directory / NODES_DIR / f"{name}.json"
                seen[node_path] = _stamp(node_path)
                nodes[name] = json.loads(node_path.read_text(encoding="utf-8"))
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
        state._seen = seen
        return state

    def _node_path(self, name: str) -> Path:
        return self.directory / NODES_DIR / f"{name}.json"

    def refresh(self, names: Iterable[str] | None = None) -> None:
        """Re-read, in place, every node of `names` (default: all) and the lab's record whose file
        another process replaced since this object last read or wrote it. In place: the lab's
        handlers hold the node objects."""
        for name in self.node_names() if names is None else names:
            path = self._node_path(name)
            stamp = _stamp(path)
            if stamp is None or stamp == self._seen.get(path):
                continue
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise MrakitError(f"{path}: the lab state is unreadable ({exc})") from None
            if name in self.expressway and "expressway" in data:
                vars(self.expressway[name]).update(vars(ExpresswayNode.from_json(data["expressway"])))
            elif name in self.cucm and "cucm" in data:
                vars(self.cucm[name]).update(vars(CucmNode.from_json(data["cucm"])))
            self._seen[path] = stamp
        stamp = _stamp(self.path)
        if stamp is not None and stamp != self._seen.get(self.path):
            try:
                record = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise MrakitError(f"{self.path}: the lab state is unreadable ({exc})") from None
            self.scenario = record.get("scenario", self.scenario)
            self.replication_due = {k: float(v) for k, v in record.get("replication_due", {}).items()}
            self._seen[self.path] = stamp

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "replication_due": dict(self.replication_due),
            "expressway": {k: v.to_json() for k, v in self.expressway.items()},
            "cucm": {k: v.to_json() for k, v in self.cucm.items()},
        }

    def _write(self, path: Path, data: Any) -> None:
        """Whole files only: a new file (exclusive, 0600, no symlink followed) renamed over the old,
        so a reader in another process sees the old state or the new, never half of one."""
        tmp = path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()  # left by a process of the same pid that was killed mid-write
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, path)
        self._seen[path] = _stamp(path)

    def _node_json(self, name: str) -> dict[str, Any]:
        if name in self.expressway:
            return {"expressway": self.expressway[name].to_json()}
        return {"cucm": self.cucm[name].to_json()}

    def save(self, nodes: Iterable[str] | None = None) -> None:
        """Save the named nodes (all when None) and the lab's own small record. One file per node
        (0600: node keys are in them), so a write on one node does not rewrite the whole fleet."""
        self.lock.acquire(refresh=False)  # writes what the caller holds; mutate() re-read it first
        try:
            (self.directory / NODES_DIR).mkdir(parents=True, exist_ok=True)
            for name in self.node_names() if nodes is None else nodes:
                self._write(self.directory / NODES_DIR / f"{name}.json", self._node_json(name))
            self._write(self.path, {"scenario": self.scenario, "replication_due": dict(self.replication_due),
                                    "nodes": self.node_names()})
        finally:
            self.lock.release()

    def sync(self, *nodes: str) -> None:
        """See what other processes saved to `nodes` (all when none are named): the lab calls this
        before serving a request."""
        self.lock.acquire(refresh=nodes or True)
        self.lock.release()

    @contextmanager
    def mutate(self, *nodes: str) -> Iterator[None]:
        """Lock, re-read what other processes saved, change, save: only `nodes` when named, else
        everything."""
        self.lock.acquire(refresh=nodes or True)
        try:
            yield
            self.save(nodes or None)
        finally:
            self.lock.release()

    def node_names(self) -> list[str]:
        return [*self.expressway, *self.cucm]
