"""Plain helpers for the CLI convention tests: run `mrakit` with pipes or on a pseudo-terminal."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mrakit_testkit import PASSWORDS

MRAKIT = Path(sys.executable).parent / "mrakit"
SGR = re.compile(r"\x1b\[[0-9;]*m")  # a colour or bold escape


def env(**extra: str) -> dict[str, str]:
    """The lab passwords, no proxies, no NO_COLOR or MRAKIT_DEBUG from the caller, plus `extra`."""
    base = {k: v for k, v in os.environ.items()
            if not k.lower().endswith("_proxy") and k not in ("NO_COLOR", "MRAKIT_DEBUG", "REQUESTS_CA_BUNDLE")}
    base.update(PASSWORDS)
    base.update(extra)
    return base


@dataclass
class Ran:
    code: int
    out: str
    err: str


def run(*args: str | Path, cwd: Path | None = None, extra_env: Mapping[str, str] | None = None,
        timeout: float = 120) -> Ran:
    """`mrakit ARGS` with pipes (not a terminal) and stdin from /dev/null."""
    proc = subprocess.run([str(MRAKIT), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env(**dict(extra_env or {})), stdin=subprocess.DEVNULL, timeout=timeout, check=False)
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def run_on_terminal(args: Sequence[str | Path], *, cwd: Path | None = None,
                    extra_env: Mapping[str, str] | None = None, answers: Mapping[str, str] | None = None,
                    timeout: float = 120) -> tuple[int, str]:
    """`mrakit ARGS` with stdin, stdout and stderr on one pseudo-terminal; returns the exit code and
    everything written to the terminal. `answers`: text to type once the output shows the key."""
    command = [str(a) for a in args]
    if not command or command[0] != str(MRAKIT):
        command = [str(MRAKIT), *command]
    master, slave = os.openpty()
    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                            env=env(TERM="xterm", **dict(extra_env or {})), close_fds=True)
    os.close(slave)
    pending = dict(answers or {})
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"timed out; output so far:\n{b''.join(chunks).decode(errors='replace')}")
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
                text = b"".join(chunks).decode(errors="replace")
                for key in [k for k in pending if k in text]:
                    os.write(master, pending.pop(key).encode())
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
    return proc.wait(timeout=30), b"".join(chunks).decode(errors="replace")
