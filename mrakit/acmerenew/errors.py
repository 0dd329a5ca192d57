"""The one error of a renewal step: which node, which step it stopped at, and why (never a secret)."""

from __future__ import annotations

from mrakit.errors import MrakitError

# The steps of one node's renewal, in order: a failure names the one it stopped at.
STAGES = ("select", "csr", "account", "order", "dns", "propagation", "validation", "finalize", "install")


class RenewalError(MrakitError):
    def __init__(self, stage: str, message: str, *, node: str | None = None) -> None:
        self.stage = stage
        self.node = node
        super().__init__(f"{node + ': ' if node else ''}stopped at {stage}: {message}")
