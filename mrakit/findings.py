"""A finding: one rule that fires on one node, with its evidence and the fix. Shared by
`cert show`, `validate`, `desired`, `plan` reasons and `doctor`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    message: str
    fix: str = ""
    cluster: str | None = None
    node: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def located(self, *, cluster: str | None, node: str | None) -> Finding:
        return Finding(self.code, self.severity, self.message, self.fix, cluster, node, self.evidence)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "cluster": self.cluster,
            "node": self.node,
            "message": self.message,
            "fix": self.fix,
            "evidence": dict(self.evidence),
        }


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.severity.rank, f.cluster or "", f.node or "", f.code, f.message))
