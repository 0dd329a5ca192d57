"""One rooted exception hierarchy: every error mrakit raises on purpose is a MrakitError.

The CLI turns a MrakitError into a one-line message and exit code 1; anything else is a bug.
Messages never contain secrets: callers build them from names, never from credential values.
"""

from __future__ import annotations

import re

# C0, DEL, C1, and the Unicode line separators and bidirectional overrides: text that came from a
# file or a certificate must not break a one-line message (or forge a line of a report).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with every control character escaped (\\xNN, \\uNNNN): safe to print on one line."""
    return _UNPRINTABLE.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


class MrakitError(Exception):
    """Base of every error mrakit raises on purpose."""


class PkiError(MrakitError):
    """A certificate, key or CSR could not be read, parsed or produced."""


class InventoryError(MrakitError):
    """The inventory is invalid. Carries where: file, line, column and the dotted field path."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        path: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.problems: tuple[InventoryError, ...] = ()  # every problem found, when there were several
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        field = f"{self.path}: " if self.path else ""
        return printable(f"{where}{field}{self.message}")


class AdapterError(MrakitError):
    """A management API call failed. `node` names the node (never a credential)."""

    def __init__(self, message: str, *, node: str | None = None, status: int | None = None) -> None:
        self.node = node
        self.status = status
        super().__init__(message)


class AuthError(AdapterError):
    """The node refused the credentials (HTTP 401/403)."""


class NodeUnreachable(AdapterError):
    """The node could not be reached after the bounded retries."""


class UnsupportedOperation(AdapterError):
    """The adapter has no way to do this on this product (a manual step is needed)."""


class StalePlanError(MrakitError):
    """A saved plan no longer matches the inventory or the observed state of its nodes."""

    def __init__(self, message: str, *, changed_nodes: tuple[str, ...] = ()) -> None:
        self.changed_nodes = changed_nodes
        super().__init__(message)


class UnsafePlanError(MrakitError):
    """A plan would do something the safety rules forbid without --force."""


class PlanError(MrakitError):
    """A saved plan file is damaged, tampered with or does not belong to this inventory."""


class LockedError(MrakitError):
    """Another mrakit process holds the lock this one needs (the message names the holder)."""
