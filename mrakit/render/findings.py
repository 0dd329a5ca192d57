"""Text rendering of findings, grouped by severity and node."""

from __future__ import annotations

from collections.abc import Sequence

from mrakit.findings import Finding, sort_findings


def render_findings(findings: Sequence[Finding], *, indent: str = "") -> str:
    if not findings:
        return f"{indent}no findings"
    lines: list[str] = []
    for finding in sort_findings(findings):
        where = "/".join(p for p in (finding.cluster, finding.node) if p) or "inventory"
        lines.append(f"{indent}{finding.severity.value.upper():<8}{finding.code:<8}{where}: {finding.message}")
        if finding.fix:
            lines.append(f"{indent}{'':<16}fix: {finding.fix}")
    return "\n".join(lines)


def summary_line(findings: Sequence[Finding]) -> str:
    counts = {"error": 0, "warning": 0, "info": 0}
    for finding in findings:
        counts[finding.severity.value] += 1
    return f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info"
