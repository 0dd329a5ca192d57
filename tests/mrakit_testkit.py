"""What the test folders share, importable by name (tests/ is on sys.path through its conftest)."""

from __future__ import annotations

import contextlib
import copy
import fcntl
import io
import os
import select
import struct
import subprocess
import termios
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "inventory.example.yaml"
PASSWORDS = {"MRAKIT_EXPRESSWAY_PASSWORD": "lab-exp-secret-7f3a", "MRAKIT_CUCM_PASSWORD": "lab-ccm-secret-91c2"}


def write_inventory(directory: Path, data: dict[str, Any], name: str = "inventory.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def run_on_terminal(command: Sequence[str | Path], *, env: Mapping[str, str], cwd: Path | None = None,
                    answers: Mapping[str, str] | None = None, timeout: float = 120) -> tuple[int, str]:
    """COMMAND with stdin, stdout and stderr on one pseudo-terminal; returns the exit code and
    everything written to the terminal. `answers`: text to type once the output shows the key."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))

    def controlling_terminal() -> None:  # in the child: its own session, the pty as its terminal
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([str(c) for c in command], stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                            env=dict(env), close_fds=True, preexec_fn=controlling_terminal)
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
                    time.sleep(0.5)  # let the program switch its terminal mode and start reading
                    os.write(master, pending.pop(key).encode())
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
    return proc.wait(timeout=30), b"".join(chunks).decode(errors="replace")

@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*args: str | Path) -> CliResult:
    """`mrakit ARGS…` in this process (the lab starts in-process too): exit code, stdout, stderr."""
    from mrakit.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return CliResult(code, out.getvalue(), err.getvalue())


def cli(capsys: Any, *args: str) -> tuple[int, str, str]:
    """Run `mrakit ARGS` in this process under pytest's capsys; (exit code, stdout, stderr)."""
    import pytest

    from mrakit.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else (0 if code is None else 1)), out, err
