"""Reproducible fault injection for the lab: latency, 503s, connection resets, hangs, down nodes."""

from __future__ import annotations

import random
import threading
import zlib
from dataclasses import dataclass

from mrakit.inventory.model import FaultProfile, LabSettings


@dataclass(frozen=True)
class FaultDecision:
    delay_s: float = 0.0
    error: bool = False
    reset: bool = False
    hang: bool = False


class FaultInjector:
    """One seeded random stream per node, so a run with the same seed sees the same faults."""

    def __init__(self, settings: LabSettings) -> None:
        self.settings = settings
        self._streams: dict[str, random.Random] = {}
        self._lock = threading.Lock()

    def profile(self, node: str) -> FaultProfile:
        return self.settings.node_faults.get(node, self.settings.faults)

    def is_down(self, node: str) -> bool:
        return self.profile(node).down

    def decide(self, node: str) -> FaultDecision:
        profile = self.profile(node)
        with self._lock:
            rng = self._streams.get(node)
            if rng is None:
                rng = self._streams[node] = random.Random(self.settings.seed ^ zlib.crc32(node.encode()))
            jitter = rng.uniform(-profile.jitter_ms, profile.jitter_ms) if profile.jitter_ms else 0.0
            roll = rng.random()
        delay = max(0.0, profile.latency_ms + jitter) / 1000
        if roll < profile.hang_rate:
            return FaultDecision(delay, hang=True)
        roll -= profile.hang_rate
        if roll < profile.reset_rate:
            return FaultDecision(delay, reset=True)
        roll -= profile.reset_rate
        if roll < profile.error_rate:
            return FaultDecision(delay, error=True)
        return FaultDecision(delay)
