"""The report as OpenMetrics text (also valid Prometheus text exposition): for node_exporter's
textfile collector. Only gauges, no timestamps, labels stable across runs (cluster, node, kind,
subject; store for relations), series in model order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from mrakit.report.model import ReportModel

PREFIX = "mrakit"


def _value(text: object) -> str:
    return str(text).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, object]]) -> str:
    return "{" + ",".join(f'{name}="{_value(value)}"' for name, value in pairs) + "}"


class _Family:
    def __init__(self, name: str, help_text: str, unit: str = "") -> None:
        self.name = f"{PREFIX}_{name}"
        self.lines = [f"# TYPE {self.name} gauge"]
        if unit:
            self.lines.append(f"# UNIT {self.name} {unit}")
        self.lines.append(f"# HELP {self.name} {help_text}")
        self.samples = 0

    def add(self, labels: Iterable[tuple[str, object]], value: float | int) -> None:
        self.lines.append(f"{self.name}{_labels(labels)} {value}")
        self.samples += 1


def render_openmetrics(model: ReportModel) -> str:
    expiry = _Family("certificate_expiry_timestamp_seconds",
                     "The certificate's notAfter, in seconds since the epoch.", "seconds")
    days = _Family("certificate_days_left", "Whole days until the certificate expires (negative: expired).")
    due = _Family("node_renewal_due_timestamp_seconds",
                  "When the node's first certificate enters the renewal window.", "seconds")
    up = _Family("node_up", "1 when the node could be read, 0 when it could not (online reports only).")
    valid = _Family("relation_valid", "1 when the validator's trust list validates the certificate, 0 when it does "
                    "not (relations that could be judged).")
    disagree = _Family("relation_handshake_disagreement",
                       "1 when a real handshake disagrees with the chain verdict of the relation.")
    findings = _Family("findings", "The doctor's findings by severity.")

    for node in model.nodes:
        for cert in node.certificates:
            labels = (("cluster", node.cluster), ("node", node.fqdn), ("kind", cert.kind), ("subject", cert.subject))
            expiry.add(labels, cert.not_after_epoch)
            days.add(labels, cert.days_left)
        if node.next_due:
            when = dt.datetime.fromisoformat(node.next_due).replace(tzinfo=dt.UTC)
            due.add((("cluster", node.cluster), ("node", node.fqdn)), int(when.timestamp()))
        if node.reachable is not None:
            up.add((("cluster", node.cluster), ("node", node.fqdn), ("product", node.product)), int(node.reachable))
    for edge in model.edges:
        if edge.verdict == "unknown":
            continue
        relation = (("cluster", edge.validator_cluster), ("node", edge.validator), ("kind", edge.kind),
                    ("subject", edge.subject), ("subject_cluster", edge.subject_cluster), ("store", edge.store))
        valid.add(relation, int(edge.verdict == "ok"))
        if edge.proofs:
            disagree.add(relation, int(edge.disagreement))
    for severity in ("error", "warning", "info"):
        findings.add((("severity", severity),), sum(1 for f in model.findings if f["severity"] == severity))
    families = (expiry, days, due, up, valid, disagree, findings)
    lines = [line for family in families if family.samples for line in family.lines]
    return "\n".join([*lines, "# EOF"]) + "\n"
