"""Progress on stderr while plan and apply run.

Off a terminal (CI logs): one plain line per phase when it ends, with its counts and elapsed time.
On a terminal: one live line, redrawn in place, once the run has taken longer than LIVE_AFTER
seconds (short runs stay quiet), erased when the run ends. -v prints every event; -q nothing.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import IO

LIVE_AFTER = 2.0
_SPIN = "|/-\\"


class Progress:
    def __init__(self, *, stream: IO[str] | None = None, terminal: bool | None = None, verbosity: int = 0,
                 live_after: float = LIVE_AFTER) -> None:
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self.verbosity = verbosity
        self.live_after = live_after
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.phase: str | None = None
        self.phase_started = self.started
        self.done = 0
        self.failed = 0
        self.shown = False  # a live line is on the screen
        self.stop = threading.Event()
        self.ticker: threading.Thread | None = None
        if self.terminal and verbosity >= 0:
            self.ticker = threading.Thread(target=self._tick, name="mrakit-progress", daemon=True)
            self.ticker.start()

    def __call__(self, phase: str, node: str, message: str) -> None:
        """The ProgressCallback: one event of `phase` about `node`."""
        with self.lock:
            if phase != self.phase:
                self._end_phase()
                self.phase, self.phase_started, self.done, self.failed = phase, time.monotonic(), 0, 0
            self.done += 1
            self.failed += message.startswith("failed")
            if self.verbosity > 0:
                self._clear()
                self.stream.write(f"  [{phase}] {node}: {message}\n")
                self.stream.flush()

    def close(self, *, failed: bool = False) -> None:
        """End the display. After a failure the unfinished phase gets no line: the error is the last word."""
        self.stop.set()
        if self.ticker is not None:
            self.ticker.join(timeout=1)
        with self.lock:
            if not failed:
                self._end_phase()
            self._clear()
            self.phase = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close(failed=kind is not None)

    def _line(self) -> str:
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{self.phase}: {self.done} done{failed}, {time.monotonic() - self.phase_started:.1f} s"

    def _end_phase(self) -> None:
        if self.phase is None or self.verbosity < 0 or self.terminal:
            return
        self.stream.write(f"mrakit: {self._line()}\n")
        self.stream.flush()

    def _clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False

    def _tick(self) -> None:
        spin = 0
        while not self.stop.wait(0.2):
            if time.monotonic() - self.started < self.live_after:
                continue
            with self.lock:
                if self.phase is None:
                    continue
                total = time.monotonic() - self.started
                self.stream.write(f"\r\x1b[K{_SPIN[spin % 4]} {self._line()} (total {total:.0f} s)")
                self.stream.flush()
                self.shown = True
            spin += 1
