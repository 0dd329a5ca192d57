"""Plain helpers for the CLI convention tests: run `mrakit` with pipes or on a pseudo-terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mrakit_testkit import PASSWORDS
from mrakit_testkit import run_on_terminal as on_terminal

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
    """`mrakit ARGS` on a pseudo-terminal (see mrakit_testkit.run_on_terminal)."""
    return on_terminal([str(MRAKIT), *map(str, args)], env=env(TERM="xterm", **dict(extra_env or {})), cwd=cwd,
                       answers=answers, timeout=timeout)
