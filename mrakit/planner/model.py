"""The plan as a value: actions in phases, each with its reasons, the findings made while
planning, and the hazards that make it unsafe to apply (kept as data, so an unsafe plan can be
shown before it is refused)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mrakit.desired import Reason
from mrakit.errors import PlanError
from mrakit.findings import Finding, Severity
from mrakit.pki.certview import CertView
from mrakit.pki.load import load_certificates
from mrakit.planner.document import check_plan_document
from mrakit.planner.kinds import PHASE_PRUNE, ActionKind, Phase, Product

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Hazard:
    """What makes a plan unsafe to apply. `overridable`: --force accepts it (a large removal the
    user reviewed); a certificate the nodes would reject or break on never is."""

    node: str
    message: str
    overridable: bool = False

@dataclass(frozen=True)
class Action:
    id: str
    phase: Phase
    kind: ActionKind
    cluster: str
    node: str
    product: Product
    summary: str
    reasons: tuple[Reason, ...] = ()
    store: str | None = None
    certificate_kind: str | None = None
    subject: str | None = None
    fingerprint: str | None = None
    pem: str | None = None  # public certificate(s) only; never a key
    instructions: str = ""
    depends_on: tuple[str, ...] = ()

    @property
    def writes(self) -> bool:
        return self.kind != "manual"

    def certificates(self) -> tuple[CertView, ...]:
        return tuple(load_certificates(self.pem.encode("ascii"))) if self.pem else ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "phase": self.phase,
            "kind": self.kind,
            "cluster": self.cluster,
            "node": self.node,
            "product": self.product,
            "summary": self.summary,
            "store": self.store,
            "certificate_kind": self.certificate_kind,
            "subject": self.subject,
            "fingerprint_sha256": self.fingerprint,
            "reasons": [r.to_dict() for r in self.reasons],
            "instructions": self.instructions,
            "depends_on": list(self.depends_on),
            "pem": self.pem,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Action:
        return cls(
            id=data["id"],
            phase=Phase(int(data["phase"])),
            kind=ActionKind(data["kind"]),
            cluster=data["cluster"],
            node=data["node"],
            product=Product(data["product"]),
            summary=data["summary"],
            reasons=tuple(Reason(r["code"], r["text"]) for r in data.get("reasons", [])),
            store=data.get("store"),
            certificate_kind=data.get("certificate_kind"),
            subject=data.get("subject"),
            fingerprint=data.get("fingerprint_sha256"),
            pem=data.get("pem"),
            instructions=data.get("instructions", ""),
            depends_on=tuple(data.get("depends_on", [])),
        )


@dataclass(frozen=True)
class Plan:
    inventory_path: str
    inventory_sha256: str
    created_at: str
    node_fingerprints: Mapping[str, str]
    actions: tuple[Action, ...]
    findings: tuple[Finding, ...] = ()
    unreachable: Mapping[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    limit: tuple[str, ...] = ()  # the clusters of `plan --limit`; apply verifies only relations inside it
    hazards: tuple[Hazard, ...] = ()  # not saved: a saved plan was safe, or accepted with --force, when made

    @property
    def has_changes(self) -> bool:
        return any(a.writes for a in self.actions)

    def in_phase(self, phase: int) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.phase == phase)

    def counts(self) -> dict[str, int]:
        counts = {"trust.add": 0, "trust.remove": 0, "cert.install": 0, "manual": 0}
        for action in self.actions:
            counts[action.kind] += 1
        return counts

    def summary(self) -> str:
        counts = self.counts()
        unread = ""
        if self.unreachable:
            n = len(self.unreachable)
            unread = f"{n} node{'s' if n != 1 else ''} could not be read ({', '.join(sorted(self.unreachable))})"
        # Duplicates already exist on the nodes: something to fix even when nothing else is pending.
        pruned = {(a.node, a.fingerprint) for a in self.actions if a.phase == PHASE_PRUNE}
        duplicates = sum(1 for f in self.findings if f.code == "MRA023"
                         and (f.node, f.evidence.get("fingerprint_sha256")) not in pruned)
        dup_text = f"{duplicates} duplicate trust entr{'ies' if duplicates != 1 else 'y'} to remove" if duplicates \
            else ""
        if not self.actions:
            # Nodes that could not be read are the headline, not "no changes": nobody knows yet.
            head = f"Plan: {unread}; no changes on the others" if unread else "Plan: no changes"
            return head + (f"; {dup_text}" if dup_text else "")
        trust_nodes = len({a.node for a in self.actions if a.kind == "trust.add"})
        parts = []
        if counts["trust.add"]:
            parts.append(f"{counts['trust.add']} trust to add on {trust_nodes} node{'s' if trust_nodes != 1 else ''}")
        if counts["trust.remove"]:
            parts.append(f"{counts['trust.remove']} trust to remove")
        if counts["cert.install"]:
            n = counts["cert.install"]
            parts.append(f"{n} certificate{'s' if n != 1 else ''} to install")
        if counts["manual"]:
            n = counts["manual"]
            parts.append(f"{n} manual step{'s' if n != 1 else ''}")
        if dup_text:
            parts.append(dup_text)
        return "Plan: " + ", ".join(parts) + (f"; {unread}" if unread else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "inventory": {"path": self.inventory_path, "sha256": self.inventory_sha256},
            "created_at": self.created_at,
            "summary": self.summary(),
            "nodes": {fqdn: {"observed_fingerprint": fp} for fqdn, fp in sorted(self.node_fingerprints.items())},
            "unreachable": dict(sorted(self.unreachable.items())),
            "limit": list(self.limit),
            "actions": [a.to_dict() for a in self.actions],
            "findings": [f.to_dict() for f in self.findings],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        if not isinstance(data, Mapping) or data.get("format_version") != FORMAT_VERSION:
            version = data.get("format_version") if isinstance(data, Mapping) else None
            raise PlanError(f"unsupported plan format_version {version!r} (this mrakit writes {FORMAT_VERSION})")
        check_plan_document(dict(data))
        findings = tuple(
            Finding(
                f["code"],
                Severity(f["severity"]),
                f["message"],
                f.get("fix", ""),
                f.get("cluster"),
                f.get("node"),
                f.get("evidence", {}),
            )
            for f in data.get("findings", [])
        )
        return cls(
            inventory_path=data["inventory"]["path"],
            inventory_sha256=data["inventory"]["sha256"],
            created_at=data["created_at"],
            node_fingerprints={k: v["observed_fingerprint"] for k, v in data["nodes"].items()},
            actions=tuple(Action.from_dict(a) for a in data["actions"]),
            findings=findings,
            unreachable=dict(data.get("unreachable", {})),
            limit=tuple(str(c) for c in data.get("limit", [])),
        )
