"""One apply at a time per deployment, from one machine: an OS lock on a file beside the inventory.

flock(2) belongs to the open file: the kernel drops it when the process ends, however it ends
(SIGKILL included), so there is never a stale lock to clean up. The holder writes who it is into
the file, so a second apply can say whom it is waiting for. The file itself stays (removing it
would let two processes lock two different files).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mrakit.errors import LockedError, MrakitError
from mrakit.files import os_problem


def lock_path(inventory_path: str | os.PathLike[str]) -> Path:
    """`.NAME.mrakit-lock` beside the inventory file NAME."""
    inventory = Path(os.path.abspath(inventory_path))
    return inventory.with_name(f".{inventory.name}.mrakit-lock")


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "a process that has not written its name yet"
    return (f"pid {info.get('pid')} on {info.get('host', '?')} (`{info.get('command', '?')}`, "
            f"since {info.get('since', '?')})")


@contextmanager
def deployment_lock(inventory_path: str | os.PathLike[str], *, wait: float = 0.0,
                    on_wait: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Hold the deployment's lock for the block. Another holder: wait up to `wait` seconds (telling
    `on_wait` once whom for), then raise LockedError naming the holder."""
    path = lock_path(inventory_path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise MrakitError(f"cannot create the apply lock {path}: {os_problem(exc)}") from None
    try:
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(fd)
                if time.monotonic() >= deadline:
                    hint = f"waited {wait:g} s" if wait else "or pass --wait SECONDS to wait for it"
                    raise LockedError(
                        f"another mrakit apply holds {inventory_path}: {holder}; let it finish ({hint})") from None
                if not told and on_wait is not None:
                    on_wait(f"waiting for the apply lock of {inventory_path}, held by {holder}")
                    told = True
                time.sleep(0.2)
        command = " ".join(["mrakit", *sys.argv[1:]])[:300]
        record = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
                  "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode("utf-8"), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # still locked here: no one reads a half-cleared name
    finally:
        os.close(fd)  # releases the lock
