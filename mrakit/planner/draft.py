"""The plan while it is being built: what every planning step reads (inventory, desired,
observed, --limit) and adds to (actions, findings, hazards)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from mrakit.desired import DesiredState, NodeDesired, Reason, short_name
from mrakit.findings import Finding
from mrakit.inventory.model import CertificateFile, Inventory
from mrakit.observe import NodeObservation, ObservedState
from mrakit.pki.certview import CertView, utc_text
from mrakit.planner.kinds import ActionKind, Phase, Product
from mrakit.planner.model import Action, Hazard


def action_id(phase: int, kind: str, node: str, detail: str) -> str:
    digest = hashlib.sha256(f"{phase}|{kind}|{node}|{detail}".encode()).hexdigest()[:12]
    return f"{phase}-{kind}-{node}-{digest}"


def label(cluster: str, node: str) -> str:
    return f"{cluster}/{short_name(node)}"


def describe_certificate(cert: CertView) -> str:
    """One certificate as an install shows it, before and after: subject, serial, not-after, fingerprint."""
    return (f'"{cert.display_name}" serial {cert.serial_hex}, not after {utc_text(cert.not_after)}, '
            f"sha256 {cert.fingerprint_sha256}")


def replaces(current: tuple[CertView, ...]) -> tuple[Reason, ...]:
    """What an install replaces on the node (a `replaces` reason), so a reviewer sees old → new."""
    return (Reason("replaces", describe_certificate(current[0])),) if current else ()


@dataclass
class Draft:
    inventory: Inventory
    desired: DesiredState
    observed: ObservedState
    limit: set[str] | None
    max_removal_ratio: float
    actions: list[Action] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    hazards: list[Hazard] = field(default_factory=list)
    # (validator node, store, fingerprint) -> id of the action adding it
    added: dict[tuple[str, str, str], str] = field(default_factory=dict)
    replacing: set[str] = field(default_factory=set)  # CUCM same-name uploads: last in phase 1

    @classmethod
    def start(cls, inventory: Inventory, desired: DesiredState, observed: ObservedState, *,
              limit: Sequence[str] | None, max_removal_ratio: float | None) -> Draft:
        ratio = inventory.defaults.max_removal_ratio if max_removal_ratio is None else max_removal_ratio
        return cls(inventory, desired, observed, set(limit) if limit else None, ratio)

    def in_scope(self, cluster: str) -> bool:
        return self.limit is None or cluster in self.limit

    def readable(self, fqdn: str) -> NodeObservation | None:
        """The node's observation when it could be read, else None."""
        obs = self.observed.nodes.get(fqdn)
        return obs if obs is not None and obs.ok else None

    def readable_nodes(self) -> list[tuple[NodeDesired, NodeObservation]]:
        return [(node, obs) for node in self.desired.nodes if (obs := self.readable(node.node)) is not None]

    def prerequisites(self, subject: str, kind: str) -> tuple[str, ...]:
        """Ids of the trust additions every validator of `subject`'s `kind` certificate needs first."""
        deps = []
        for rel in self.desired.relations:
            if rel.subject != subject or rel.kind != kind:
                continue
            for (node, store, _fp), added_id in self.added.items():
                if node == rel.validator and store == rel.store:
                    deps.append(added_id)
        return tuple(dict.fromkeys(deps))

    def cert_action(self, cluster: str, node: str, product: Product, kind: str, cert_file: CertificateFile,
                    action_kind: ActionKind, summary: str, *, detail: str = "", reasons: tuple[Reason, ...] = (),
                    instructions: str = "", depends_on: tuple[str, ...] = ()) -> Action:
        """An action about one certificate file; installs carry its PEM (public), manual steps do not."""
        fingerprint = cert_file.leaf.fingerprint_sha256
        action = Action(
            id=action_id(Phase.CERTS, action_kind, node, f"{kind}|{detail}|{fingerprint}"),
            phase=Phase.CERTS, kind=action_kind, cluster=cluster, node=node, product=product,
            certificate_kind=kind, subject=cert_file.leaf.subject, fingerprint=fingerprint,
            pem="".join(c.pem for c in cert_file.certificates) if action_kind == ActionKind.CERT_INSTALL else None,
            reasons=reasons, depends_on=depends_on, summary=summary, instructions=instructions)
        self.actions.append(action)
        return action

    def manual(self, cluster: str, node: str, product: Product, summary: str, instructions: str, *,
               detail: str, depends_on: tuple[str, ...], reasons: tuple[Reason, ...] = ()) -> None:
        self.actions.append(Action(
            id=action_id(Phase.CERTS, ActionKind.MANUAL, node, detail), phase=Phase.CERTS, kind=ActionKind.MANUAL,
            cluster=cluster, node=node, product=product, summary=summary, instructions=instructions,
            depends_on=depends_on, reasons=reasons))
