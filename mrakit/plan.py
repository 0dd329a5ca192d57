"""Desired vs observed → a Plan: the actions, in phases, each with its reasons.

Phases, make-before-break: (1) add trust everywhere it is needed; (2) install certificates,
rolling one peer at a time, each after every node that validates it trusts its chain; (3) verify
(done by apply, not an action); (4) prune, only when the inventory says `prune: true`.

`compute_plan` is pure; `plan` connects, observes and calls it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from mrakit.adapters.base import CUCM_SERVICE_OF_KIND
from mrakit.desired import (
    DesiredState,
    DesiredTrust,
    NodeDesired,
    Reason,
    TrustRelation,
    copies_into_client_store,
    desired_for,
)
from mrakit.errors import UnsafePlanError
from mrakit.findings import Finding, Severity
from mrakit.inventory.eku import client_certificate_ekus, server_certificate_ekus
from mrakit.inventory.model import CertificateFile, CucmCluster, Inventory
from mrakit.observe import NodeObservation, ObservedState, ProgressCallback, observe
from mrakit.pki.certview import CertView
from mrakit.pki.chain import ChainReason, complete_chain, verify_chain
from mrakit.pki.load import load_certificates
from mrakit.rules.context import CheckContext
from mrakit.rules.registry import PLAN_CHECKS, Judgement, judge_offline, run_checks

FORMAT_VERSION = 1
ActionKind = Literal["trust.add", "trust.remove", "cert.install", "manual"]
PHASE_TRUST, PHASE_CERTS, PHASE_PRUNE = 1, 2, 4  # phase 3, verification, is apply's, not an action's


@dataclass(frozen=True)
class Action:
    id: str
    phase: int
    kind: ActionKind
    cluster: str
    node: str
    product: str
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
            phase=int(data["phase"]),
            kind=data["kind"],
            cluster=data["cluster"],
            node=data["node"],
            product=data["product"],
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
        from mrakit.errors import PlanError
        from mrakit.plancheck import check_plan_document

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


def _is_renewal_of(newer: CertView, older: CertView, needed: tuple[str, ...] = ()) -> bool:
    """`newer` renews `older`: same subject and names, issued no earlier (CAs round notBefore, so the
    same second counts), valid now, and good for every purpose the node needs (`needed`, by its
    version; else every purpose `older` had). A re-issue that lost an EKU the version still needs
    (the 2026 clientAuth change before X15.4) is not a renewal to keep."""
    keeps_purposes = all(newer.allows_purpose(eku) for eku in (needed or older.ekus or ("serverAuth", "clientAuth")))
    return (
        newer.subject_name == older.subject_name
        and set(newer.dns_sans) == set(older.dns_sans)
        and (newer.not_before > older.not_before
             # The same second (CAs round notBefore) counts only for the same issuer: a move to a new
             # CA within that second is the inventory's wish, not an older certificate.
             or (newer.not_before == older.not_before and newer.issuer_name == older.issuer_name
                 and newer.authority_key_identifier == older.authority_key_identifier))
        and newer.is_valid_at(dt.datetime.now(dt.UTC))
        and keeps_purposes
    )


def _exact(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe_certificate(cert: CertView) -> str:
    """One certificate as an install shows it, before and after: subject, serial, not-after, fingerprint."""
    return (f'"{cert.display_name}" serial {cert.serial_hex}, not after {_exact(cert.not_after)}, '
            f"sha256 {cert.fingerprint_sha256}")


def _replaces(current: tuple[CertView, ...]) -> tuple[Reason, ...]:
    """What an install replaces on the node (a `replaces` reason), so a reviewer sees old → new."""
    return (Reason("replaces", describe_certificate(current[0])),) if current else ()


def _action_id(phase: int, kind: str, node: str, detail: str) -> str:
    digest = hashlib.sha256(f"{phase}|{kind}|{node}|{detail}".encode()).hexdigest()[:12]
    return f"{phase}-{kind}-{node}-{digest}"


def _label(cluster: str, node: str) -> str:
    return f"{cluster}/{_short(node)}"


def _short(fqdn: str) -> str:
    return fqdn.split(".", 1)[0]


class _Planner:
    def __init__(
        self,
        inventory: Inventory,
        desired: DesiredState,
        observed: ObservedState,
        *,
        limit: Sequence[str] | None,
        force: bool,
        max_removal_ratio: float | None,
    ) -> None:
        self.inventory = inventory
        self.desired = desired
        self.observed = observed
        self.limit = set(limit) if limit else None
        self.force = force
        self.ratio = inventory.defaults.max_removal_ratio if max_removal_ratio is None else max_removal_ratio
        self.actions: list[Action] = []
        self.findings: list[Finding] = []
        self._pool: list[CertView] | None = None
        # (validator node, store, fingerprint) -> id of the action adding it
        self.added: dict[tuple[str, str, str], str] = {}
        self.replacing: set[str] = set()  # CUCM same-name uploads: last in phase 1

    def in_scope(self, cluster: str) -> bool:
        return self.limit is None or cluster in self.limit

    def prune_enabled(self, node: NodeDesired) -> bool:
        cluster = self.inventory.expressway.get(node.cluster) if node.product == "expressway" else None
        if cluster is not None and cluster.prune is not None:
            return cluster.prune
        return self.inventory.defaults.prune

    # phase 1 -------------------------------------------------------------------------------
    def lagging_subscribers(self, node: NodeDesired, store: str, fingerprint: str) -> list[str]:
        """CUCM subscribers that can be read and do not hold an entry their publisher has: trust that
        did not replicate (a replication that timed out, say)."""
        if node.product != "cucm":
            return []
        lagging = []
        for subscriber in self.inventory.cucm[node.cluster].subscribers:
            obs = self.observed.nodes.get(subscriber.fqdn)
            if obs is not None and obs.ok and obs.trust_readable and fingerprint not in {
                    c.fingerprint_sha256 for c in obs.trust.get(store, ())}:
                lagging.append(subscriber.fqdn)
        return lagging

    def trust_additions(self, node: NodeDesired, obs: NodeObservation) -> None:
        for store in sorted({t.store for t in node.trust}):
            present = {c.fingerprint_sha256 for c in obs.trust.get(store, ())}
            for entry in node.trust_in(store):
                lagging = self.lagging_subscribers(node, store, entry.fingerprint)
                if entry.fingerprint in present and not lagging:
                    continue
                if entry.fingerprint in present:
                    # On the publisher but not on every subscriber: uploading it again on the publisher
                    # replicates it again, and apply waits for that.
                    entry = replace(entry, reasons=(*entry.reasons, Reason(
                        "MRA032", f"not on {', '.join(lagging)} yet: trust reaches the subscribers only by "
                                  "replication from the publisher")))
                action_id = _action_id(PHASE_TRUST, "trust.add", node.node, f"{store}|{entry.fingerprint}")
                where = store if node.product == "cucm" else "trusted CA list"
                same_name = [c for c in obs.trust.get(store, ()) if node.product == "cucm"
                             and c.subject_name == entry.cert.subject_name and c != entry.cert]
                if same_name:
                    self.cucm_same_name(node, store, entry, same_name[0], action_id)
                    continue
                self.added[(node.node, store, entry.fingerprint)] = action_id
                self.actions.append(
                    Action(
                        id=action_id,
                        phase=PHASE_TRUST,
                        kind="trust.add",
                        cluster=node.cluster,
                        node=node.node,
                        product=node.product,
                        store=store,
                        subject=entry.subject,
                        fingerprint=entry.fingerprint,
                        pem=entry.cert.pem,
                        reasons=entry.reasons,
                        summary=f'add "{entry.cert.display_name}" to the {where} of {_label(node.cluster, node.node)}',
                    )
                )

    def cucm_same_name(self, node: NodeDesired, store: str, entry: DesiredTrust, old: CertView,
                       action_id: str) -> None:
        """CUCM keeps one trust certificate per subject name: a same-name upload replaces the entry when
        it starts later and is not stored otherwise. A CA renewed under its old name therefore cannot sit
        beside the old one (no make-before-break on CUCM): the replacement is planned after every other
        trust addition, and said so; an upload CUCM would not store is a manual step."""
        label = _label(node.cluster, node.node)
        new = entry.cert
        if new.not_before > old.not_before:
            why = (f'CUCM keeps one certificate per name: this replaces "{old.display_name}" (valid from '
                   f"{old.not_before:%Y-%m-%d %H:%M:%S}Z, {old.fingerprint_sha256[:16]}…) in {store} on every node "
                   f"of {node.cluster}; what is still signed by the old CA stops validating there until it is "
                   "re-issued (installs in phase 2)")
            self.added[(node.node, store, entry.fingerprint)] = action_id
            self.replacing.add(action_id)
            self.actions.append(Action(
                id=action_id, phase=PHASE_TRUST, kind="trust.add", cluster=node.cluster, node=node.node,
                product=node.product, store=store, subject=entry.subject, fingerprint=entry.fingerprint,
                pem=new.pem, reasons=(*entry.reasons, Reason("CUCM002", why)),
                summary=f'replace "{old.display_name}" with the newer "{new.display_name}" (valid from '
                        f"{new.not_before:%Y-%m-%d}) in the {store} of {label}"))
            self.findings.append(Finding(
                "CUCM002", Severity.WARNING, f"{label}: {why}",
                fix="plan the certificates signed by the old CA to be re-issued by the new one in the same change",
                cluster=node.cluster, node=node.node,
                evidence={"replaced": old.fingerprint_sha256, "by": new.fingerprint_sha256, "store": store}))
            return
        manual_id = _action_id(PHASE_TRUST, "manual", node.node, f"{store}|{entry.fingerprint}")
        self.added[(node.node, store, entry.fingerprint)] = manual_id
        self.actions.append(Action(
            id=manual_id, phase=PHASE_TRUST, kind="manual", cluster=node.cluster, node=node.node,
            product=node.product, store=store, subject=entry.subject, fingerprint=entry.fingerprint,
            reasons=(*entry.reasons, Reason(
                "CUCM002", f'{store} already holds "{old.display_name}" of the same name, valid from '
                           f"{old.not_before:%Y-%m-%d %H:%M:%S}Z, no earlier than this one: CUCM would accept the "
                           "upload and not store it")),
            summary=f'add "{new.display_name}" to the {store} of {label} by hand, after removing the same-name entry',
            instructions=(f"On {node.node}: delete the {store} entry {old.subject!r} (SHA-256 "
                          f"{old.fingerprint_sha256}) with `set cert delete {store.replace('-trust', '')} <file>` "
                          "(CLI; REST path unverified), then upload the certificate below to "
                          f"{store}; what the old entry validated fails until then.")))

    # phase 2 -------------------------------------------------------------------------------
    def cert_action(self, cluster: str, node: str, product: str, kind: str, cert_file: CertificateFile,
                    action_kind: ActionKind, summary: str, *, detail: str = "", reasons: tuple[Reason, ...] = (),
                    instructions: str = "", depends_on: tuple[str, ...] = ()) -> Action:
        """An action about one certificate file; installs carry its PEM (public), manual steps do not."""
        fingerprint = cert_file.leaf.fingerprint_sha256
        action = Action(
            id=_action_id(PHASE_CERTS, action_kind, node, f"{kind}|{detail}|{fingerprint}"),
            phase=PHASE_CERTS, kind=action_kind, cluster=cluster, node=node, product=product,
            certificate_kind=kind, subject=cert_file.leaf.subject, fingerprint=fingerprint,
            pem="".join(c.pem for c in cert_file.certificates) if action_kind == "cert.install" else None,
            reasons=reasons, depends_on=depends_on, summary=summary, instructions=instructions)
        self.actions.append(action)
        return action

    def manual(self, cluster: str, node: str, product: str, summary: str, instructions: str, *,
               detail: str, depends_on: tuple[str, ...], reasons: tuple[Reason, ...] = ()) -> None:
        self.actions.append(Action(
            id=_action_id(PHASE_CERTS, "manual", node, detail), phase=PHASE_CERTS, kind="manual", cluster=cluster,
            node=node, product=product, summary=summary, instructions=instructions, depends_on=depends_on,
            reasons=reasons))

    def keeps_newer(self, cluster: str, node: str, kind: str, current: tuple[CertView, ...],
                    cert_file: CertificateFile) -> bool:
        """Never roll a node back to an older certificate of the same identity (INV001). A certificate
        handed in for a renewal (--certificates) is what the user asked for now: it is installed."""
        needed: tuple[str, ...] = ()
        expressway = self.inventory.expressway.get(cluster)
        if expressway is not None:
            needed = (client_certificate_ekus(expressway) if kind == "client" else
                      server_certificate_ekus(expressway, has_client_certificate=bool(
                          self.observed.nodes[node].certificates.get("client"))))
        if cert_file.renewal or not current or not _is_renewal_of(current[0], cert_file.leaf, needed):
            return False
        self.findings.append(Finding(
            "INV001", Severity.WARNING,
            f"{node} presents a newer {kind} certificate (serial {current[0].serial_hex}, valid from "
            f"{_exact(current[0].not_before)}) than {cert_file.path.name} names (serial {cert_file.leaf.serial_hex}, "
            f"from {_exact(cert_file.leaf.not_before)}); mrakit keeps it",
            fix=f"update the inventory to name the installed certificate instead of {cert_file.path}",
            cluster=cluster, node=node,
            evidence={"installed": current[0].fingerprint_sha256, "named": cert_file.leaf.fingerprint_sha256}))
        return True

    def installs(self, node: NodeDesired, obs: NodeObservation) -> None:
        for kind, cert_file in (("server", node.server_certificate), ("client", node.client_certificate)):
            if cert_file is None:
                continue
            current = obs.certificates.get(kind, ())
            if (current and current[0] == cert_file.leaf) or self.keeps_newer(
                    node.cluster, node.node, kind, current, cert_file):
                continue
            text = f"{kind} certificate of {_label(node.cluster, node.node)}"
            deps = self.prerequisites(node.node, kind)
            reasons = (Reason("inventory",
                              f"the desired {kind} certificate is {cert_file.path.name} "
                              f"({cert_file.leaf.display_name}, {cert_file.leaf.fingerprint_sha256[:16]}…)"),
                       *_replaces(current))
            capabilities = obs.capabilities
            if kind == "client" and (capabilities is None or not capabilities.separate_client_certificate):
                key = f" {cert_file.key_path}" if cert_file.key_path else ""
                self.cert_action(
                    node.cluster, node.node, node.product, kind, cert_file, "manual", f"install the {text} by hand",
                    reasons=reasons, depends_on=deps,
                    instructions=(f"On {node.node}: Maintenance > Security > Client certificate: upload "
                                  f"{cert_file.path} with its private key{key} (no REST call is known for the "
                                  "X15.5 client certificate), after the trust additions of phase 1 are in place."))
                continue
            if node.product == "expressway" and obs.pending_csr_key != cert_file.leaf.public_key_fingerprint_sha256:
                self.cert_action(
                    node.cluster, node.node, node.product, kind, cert_file, "manual",
                    f"the {text} in {cert_file.path.name} was not issued for a CSR pending on the box",
                    detail="csr", reasons=reasons, depends_on=deps,
                    instructions=(f"The Expressway only installs a certificate for the CSR it generated (its key "
                                  f"never leaves the box). Run `mrakit csr -i INVENTORY --peer {node.node}` (on-box "
                                  "CSR), have it signed, name the signed file in the inventory, and run apply again."))
                continue
            install = self.cert_action(node.cluster, node.node, node.product, kind, cert_file, "cert.install",
                                       f"install {cert_file.path.name} as the {text}", reasons=reasons,
                                       depends_on=deps)
            if kind == "server":
                self.client_store_route(node, obs, cert_file, install)
            self.manual(node.cluster, node.node, node.product,
                        f"restart {_label(node.cluster, node.node)} so the new certificate takes effect",
                        f"On {node.node}: Maintenance > Restart options > Restart (a server certificate installed "
                        "other than through ACME takes effect after a restart).",
                        detail=f"restart|{cert_file.leaf.fingerprint_sha256}", depends_on=(install.id,))

    def client_store_route(self, node: NodeDesired, obs: NodeObservation, cert_file: CertificateFile,
                           install: Action) -> None:
        """X15.5: the client store holds a copy of the server certificate (made by the upgrade) until it is
        replaced; no REST call is known for it. Say what to do once the new server certificate is in."""
        cluster = self.inventory.expressway.get(node.cluster)
        if (cluster is None or node.client_certificate is not None or not cluster.split_client_certificate
                or cluster.role != "control"):
            return
        current = obs.certificates.get("client", ())
        readable = obs.capabilities is not None and obs.capabilities.separate_client_certificate
        if readable and current[:1] != obs.certificates.get("server", ())[:1]:
            return  # the client store holds a certificate of its own: not a copy to refresh
        if not copies_into_client_store(cluster, cert_file.leaf):
            return  # serverAuth-only: refused before any change (MRA001), as the C presents it as client too
        how = (f"On {node.node}: Maintenance > Security > Client certificate > Upload server certificate file as "
               f"client certificate, once {cert_file.path.name} is installed (it has serverAuth and clientAuth; "
               "no REST call is known for the client store, which until then holds the server certificate copied "
               "at the upgrade). The edge peers already trust its chain (phase 1).")
        self.manual(node.cluster, node.node, node.product,
                    f"copy the new server certificate into the client store of {_label(node.cluster, node.node)}",
                    how, detail=f"client-store|{cert_file.leaf.fingerprint_sha256}", depends_on=(install.id,),
                    reasons=(Reason("MRA001", "X15.5 keeps server and client certificates apart; this peer's client "
                                              "store holds the copy of the server certificate the upgrade made, and "
                                              "presents it as TLS client (traversal zone, SSH tunnels)"),))

    def cucm_installs(self) -> None:
        """Identity installs on the server they are about (the platform API is per server); a
        multi-server certificate once, on the publisher, which distributes it. Each waits for the
        chain in that server's own trust unit (CUCM001: CUCM refuses the install otherwise)."""
        for cucm in self.inventory.cucm.values():
            if not self.in_scope(cucm.name):
                continue
            for server in cucm.nodes:
                obs = self.observed.nodes.get(server.fqdn)
                if obs is None or not obs.ok:
                    continue
                for kind, cert_file in cucm.certificates_of(server).items():
                    multi = cucm.multi_server(kind, server)
                    if multi and server is not cucm.publisher:
                        continue
                    self.cucm_install(cucm, server.fqdn, kind, cert_file, obs, multi)

    def cucm_install(self, cucm: CucmCluster, fqdn: str, kind: str, cert_file: CertificateFile,
                     obs: NodeObservation, multi: bool) -> None:
        current = obs.certificates.get(kind, ())
        if (current and current[0] == cert_file.leaf) or self.keeps_newer(cucm.name, fqdn, kind, current, cert_file):
            return
        service = CUCM_SERVICE_OF_KIND[kind]
        rest = cucm.version.major >= 14
        what = "multi-server " if multi else ""
        install = self.cert_action(
            cucm.name, fqdn, "cucm", kind, cert_file, "cert.install" if rest else "manual",
            f"install {cert_file.path.name} as the {what}{service} identity of {_label(cucm.name, fqdn)}"
            + ("" if rest else " by hand (CUCM before 14 has no certificate REST API)"),
            reasons=(Reason("inventory", f"the desired {service} certificate is {cert_file.path.name}"),
                     *_replaces(current)),
            depends_on=self.prerequisites(fqdn, kind),
            instructions="" if rest else f"On {fqdn}: OS Administration > Certificate Management > "
            f"Upload Certificate ({service}), after the trust additions of phase 1 are in place.")
        where = [n.fqdn for n in cucm.nodes] if multi else [fqdn]
        restart = "Cisco Tomcat" if kind.startswith("tomcat") else "Cisco CallManager and Cisco TFTP"
        self.manual(cucm.name, fqdn, "cucm", f"restart {restart} on {', '.join(_short(n) for n in where)}",
                    f"On {' and on '.join(where)}: utils service restart {restart} (CLI).",
                    detail=f"restart|{kind}", depends_on=(install.id,))

    def self_signed_cucm_steps(self) -> None:
        """A CUCM node on self-signed tomcat and CallManager certificates of one subject cannot serve
        both TLS Verify and secure registration through an Expressway (MRA022): a manual re-issue."""
        replaced = {(a.node, a.certificate_kind) for a in self.actions if a.kind == "cert.install"}
        for cucm in self.inventory.cucm.values():
            if not self.in_scope(cucm.name):
                continue
            for node in cucm.nodes:
                obs = self.observed.nodes.get(node.fqdn)
                if obs is None or not obs.ok:
                    continue
                tomcat, callmanager = obs.certificates.get("tomcat", ()), obs.certificates.get("callmanager", ())
                if not tomcat or not callmanager or (node.fqdn, "tomcat") in replaced:
                    continue
                if not (tomcat[0].self_signed and callmanager[0].self_signed
                        and tomcat[0].subject_name == callmanager[0].subject_name):
                    continue
                self.actions.append(Action(
                    id=_action_id(PHASE_CERTS, "manual", node.fqdn, "self-signed-pair"), phase=PHASE_CERTS,
                    kind="manual", cluster=cucm.name, node=node.fqdn, product="cucm",
                    summary=f"CA-sign the tomcat and CallManager certificates of {_label(cucm.name, node.fqdn)}",
                    reasons=(Reason("MRA022", f"{node.fqdn}'s self-signed tomcat and CallManager certificates share "
                                              f"the subject {tomcat[0].subject!r}: an Expressway-C uses whichever "
                                              "is higher in its list, so TLS Verify or secure registration fails"),),
                    instructions=(f"On {node.fqdn}: generate tomcat and CallManager CSRs (`mrakit csr --cucm tomcat "
                                  "--cucm callmanager` for the publisher, OS Administration > Certificate Management "
                                  "on the others), have a CA sign them, install them, restart Cisco Tomcat and Cisco "
                                  "CallManager, then remove the self-signed entries from the Expressway-C trust "
                                  "lists.")))

    def hold_back_installs(self) -> None:
        """An install goes ahead only when every node that validates the certificate could be read
        and gets the trust it needs in this plan; otherwise it is held back as a manual step (a
        validator that cannot be read, or trust outside --limit, would break on the new certificate).
        Then the trust actions outside --limit are dropped."""
        out_of_scope = {a.id for a in self.actions if not self.in_scope(a.cluster)}
        held: dict[str, Action] = {}
        for action in self.actions:
            if action.kind != "cert.install":
                continue
            validators = sorted({r.validator for r in self.desired.relations
                                 if r.subject == action.node and r.kind == action.certificate_kind})
            unreadable = [v for v in validators if not (self.observed.nodes.get(v) and self.observed.nodes[v].ok)]
            outside = sorted({a.node for a in self.actions if a.id in out_of_scope and a.id in action.depends_on})
            shadowed = [] if unreadable or outside else self.shadowed_after_trust(action, validators)
            if not unreadable and not outside and not shadowed:
                continue
            if unreadable:
                why, then = f"{', '.join(unreadable)} could not be read", "Plan again when they can be read."
            elif outside:
                why = f"the trust it needs on {', '.join(outside)} is outside --limit"
                then = "Plan again without --limit, or include them."
            else:
                why = "; ".join(shadowed)
                then = ("Delete the older same-subject entry on those nodes first (the Expressway uses the first "
                        "entry with a matching subject, MRA022), then plan again.")
                self.findings.append(Finding(
                    "MRA022", Severity.ERROR, f"installing {action.summary.removeprefix('install ')} would fail: {why}",
                    fix=then, cluster=action.cluster, node=action.node))
            held[action.id] = replace(
                action, kind="manual", pem=None, id=action.id.replace("cert.install", "manual"),
                summary=f"held back: {action.summary} ({why})",
                instructions="Installing it now would break the nodes that validate it. " + then)
        kept = []
        for action in self.actions:
            if action.id in out_of_scope:
                continue
            if action.id in held:
                kept.append(held[action.id])
            elif not any(dep in held for dep in action.depends_on) or action.kind != "manual":
                kept.append(action)
        self.actions = kept

    def shadowed_after_trust(self, install: Action, validators: list[str]) -> list[str]:
        """Validators on which the new certificate would still fail after phase 1, because an entry of
        the same subject already sits higher in their list (a CA renewed under its old name)."""
        leaf = install.certificates()[0]
        problems = []
        for rel in self.desired.relations:
            if rel.subject != install.node or rel.kind != install.certificate_kind or rel.validator not in validators:
                continue
            obs = self.observed.nodes[rel.validator]
            added = [a.certificates()[0] for a in self.actions
                     if a.kind == "trust.add" and a.node == rel.validator and a.store == rel.store]
            prospective = [*obs.trust.get(rel.store, ()), *added]
            semantics = "expressway" if obs.product == "expressway" else "openssl"
            result = verify_chain(leaf, prospective, (), purpose=rel.purpose, semantics=semantics)
            if result.reason is ChainReason.SHADOWED_BY_SAME_SUBJECT and result.shadowing_entry is not None:
                entry = result.shadowing_entry
                problems.append(f"on {rel.validator}, entry {prospective.index(entry) + 1} "
                                f"({entry.fingerprint_sha256[:16]}…) shadows the new {entry.display_name!r}")
        return sorted(set(problems))

    def prerequisites(self, subject: str, kind: str) -> tuple[str, ...]:
        """Ids of the trust additions every validator of `subject`'s `kind` certificate needs first."""
        deps = []
        for rel in self.desired.relations:
            if rel.subject != subject or rel.kind != kind:
                continue
            for (node, store, _fp), action_id in self.added.items():
                if node == rel.validator and store == rel.store:
                    deps.append(action_id)
        return tuple(dict.fromkeys(deps))

    # phase 4 and duplicates ------------------------------------------------------------------
    def still_needed(self, node: str) -> set[str]:
        """Fingerprints the node needs for the chains presented today or desired: never removable."""
        needed: set[str] = set()
        pool = self.needed_pool()
        now = dt.datetime.now(dt.UTC)
        for rel in self.desired.relations:
            if rel.validator != node:
                continue
            for chain in (self.current_chain(rel), self.desired.known_certificates.get(rel.subject, {}).get(rel.kind)):
                if not chain:
                    continue
                cas, _ = complete_chain(chain[0], [*chain[1:], *pool], now)
                needed.update(c.fingerprint_sha256 for c in ([chain[0]] if chain[0].self_signed else cas))
        return needed

    def needed_pool(self) -> list[CertView]:
        if self._pool is None:
            authorities = [c for a in self.inventory.authorities.values() for c in a.certificates]
            self._pool = [*self.observed.trust_pool(), *authorities]
        return self._pool

    def current_chain(self, rel: TrustRelation) -> tuple[CertView, ...] | None:
        obs = self.observed.nodes.get(rel.subject)
        return obs.certificates.get(rel.kind) if obs is not None and obs.ok else None

    def own_certificates(self, node: NodeDesired) -> set[str]:
        """A CUCM cluster's own identity certificates sit in its trust units: never prune them."""
        if node.product != "cucm":
            return set()
        cluster = self.inventory.cucm[node.cluster]
        own: set[str] = set()
        for member in cluster.nodes:
            obs = self.observed.nodes.get(member.fqdn)
            for chain in obs.certificates.values() if obs is not None and obs.ok else ():
                own.update(c.fingerprint_sha256 for c in chain)
        return own

    def removals(self, node: NodeDesired, obs: NodeObservation) -> None:
        prune = self.prune_enabled(node)
        unreadable = sorted({r.subject for r in self.desired.relations if r.validator == node.node
                             and not (self.observed.nodes.get(r.subject) and self.observed.nodes[r.subject].ok)})
        if prune and unreadable:
            # What an unreadable node presents is unknown: nothing it might need can be proven unused.
            self.findings.append(Finding(
                "prune", Severity.INFO, f"no pruning on {node.node} while {', '.join(unreadable)} cannot be read",
                fix="plan again when every node answers", cluster=node.cluster, node=node.node))
            prune = False
        named = {t.fingerprint for t in node.trust}
        needed = self.still_needed(node.node) | named | self.own_certificates(node)
        can_remove = obs.capabilities is not None and obs.capabilities.can_remove_trust
        for store, certs in sorted(obs.trust.items()):
            if node.product == "cucm" and store not in {t.store for t in node.trust}:
                continue
            seen: set[str] = set()
            to_remove: list[tuple[CertView, str]] = []
            for cert in certs:
                duplicate = cert.fingerprint_sha256 in seen
                seen.add(cert.fingerprint_sha256)
                if duplicate:
                    self.findings.append(
                        Finding(
                            "MRA023",
                            Severity.WARNING,
                            f'"{cert.display_name}" ({cert.fingerprint_sha256[:16]}…) is in the {store} list twice',
                            fix="remove the extra copy (set prune: true to have mrakit plan it)",
                            cluster=node.cluster,
                            node=node.node,
                            evidence={"fingerprint_sha256": cert.fingerprint_sha256},
                        )
                    )
                    if prune:
                        to_remove.append((cert, "a duplicate entry"))
                elif prune and cert.fingerprint_sha256 not in needed:
                    to_remove.append(
                        (
                            cert,
                            "not derived by mrakit, not named in the inventory and not needed by "
                            "any current or desired chain",
                        )
                    )
            if to_remove and len(to_remove) > self.ratio * max(1, len(certs)) and not self.force:
                raise UnsafePlanError(
                    f"the plan would remove {len(to_remove)} of {len(certs)} entries from the {store} list of "
                    f"{node.node} (more than {self.ratio:.0%}); review it and re-run with --force"
                )
            for cert, why in to_remove:
                detail = f"{store}|{cert.fingerprint_sha256}|{why[:9]}"
                label = _label(node.cluster, node.node)
                how = ("Maintenance > Security > Trusted CA list: select the entry and Delete"
                       if node.product == "expressway" else
                       f"CLI: set cert delete {store.replace('-trust', '')} <file name> (REST path unverified)")
                kind: ActionKind = "trust.remove" if can_remove else "manual"
                self.actions.append(Action(
                    id=_action_id(PHASE_PRUNE, kind, node.node, detail), phase=PHASE_PRUNE, kind=kind,
                    cluster=node.cluster, node=node.node, product=node.product, store=store, subject=cert.subject,
                    fingerprint=cert.fingerprint_sha256, pem=cert.pem if can_remove else None,
                    reasons=(Reason("prune", f'"{cert.display_name}" is {why}'),),
                    summary=f'remove "{cert.display_name}" from {label}' + ("" if can_remove else " by hand"),
                    instructions="" if can_remove else (
                        f"On {node.node}, {how}: subject {cert.subject!r}, SHA-256 {cert.fingerprint_sha256}"
                        + (" (no REST call is known to delete it)." if node.product == "expressway" else
                           " (a REST delete is listed by Cisco, but its path is unverified)."))))

    def cucm_version_steps(self) -> None:
        for cucm in self.inventory.cucm.values():
            if cucm.version.major >= 14 or not self.in_scope(cucm.name):
                continue
            for action in [a for a in self.actions if a.node == cucm.publisher.fqdn and a.kind == "trust.add"]:
                # Same id: the installs that wait for this trust keep pointing at it (and apply holds
                # them back while it is a manual step).
                self.actions[self.actions.index(action)] = replace(
                    action,
                    kind="manual",
                    summary=action.summary + " by hand (CUCM before 14 has no certificate REST API)",
                    instructions=f"On {cucm.publisher.fqdn}: save the PEM below and run `set cert import trust "
                    f"{(action.store or '').replace('-trust', '')}` (CLI).",
                )

    def build(self) -> list[Action]:
        # Trust is worked out for every node, in scope or not: an install in scope must know what its
        # validators elsewhere still lack (hold_back_installs); out-of-scope actions are dropped there.
        for node in self.desired.nodes:
            obs = self.observed.nodes.get(node.node)
            if obs is None or not obs.ok:
                continue
            self.trust_additions(node, obs)
        for node in self.desired.nodes:
            obs = self.observed.nodes.get(node.node)
            if node.product == "expressway" and obs is not None and obs.ok and self.in_scope(node.cluster):
                self.installs(node, obs)
        self.cucm_installs()
        self.hold_back_installs()
        self.self_signed_cucm_steps()
        for node in self.desired.nodes:
            obs = self.observed.nodes.get(node.node)
            if obs is not None and obs.ok and self.in_scope(node.cluster):
                self.removals(node, obs)
        self.cucm_version_steps()
        order = {"trust.add": 0, "cert.install": 1, "manual": 2, "trust.remove": 3}
        cluster_order = {name: i for i, name in enumerate([*self.inventory.expressway, *self.inventory.cucm])}
        node_order = {n.node: i for i, n in enumerate(self.desired.nodes)}
        created = {a.id: index for index, a in enumerate(self.actions)}
        # Within a node, actions keep the order they were derived in: on an Expressway the order of
        # trust entries decides which of two same-subject entries wins (MRA022).
        return sorted(
            self.actions,
            key=lambda a: (a.phase, a.id in self.replacing, cluster_order.get(a.cluster, 0), node_order.get(a.node, 0),
                           order[a.kind], created[a.id]),
        )


_INSTALL_BLOCKERS = {
    "MRA001",
    "MRA004",
    "MRA006",
    "MRA007",
    "MRA009",
    "MRA010",
    "MRA011",
    "MRA012",
    "MRA013",
    "MRA014",
    "MRA015",
    "MRA017",
}


def refuse_bad_installs(judged: Judgement, actions: Sequence[Action]) -> None:
    """A certificate that lacks a required SAN, has the wrong EKUs for the node's version, has
    expired or is a wildcard is refused before anything is changed (UnsafePlanError)."""
    problems = []
    for action in actions:
        if action.kind != "cert.install" or action.product != "expressway":
            continue
        for finding in judged.of_node(action.node):
            if (
                finding.severity is Severity.ERROR
                and finding.code in _INSTALL_BLOCKERS
                and finding.evidence.get("fingerprint_sha256") == action.fingerprint
            ):
                problems.append(f"{action.node}: {finding.message} ({finding.code})")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UnsafePlanError(f"refusing to install a certificate, nothing was changed: {problems[0]}{more}")


def compute_plan(
    inventory: Inventory,
    observed: ObservedState,
    *,
    limit: Sequence[str] | None = None,
    force: bool = False,
    max_removal_ratio: float | None = None,
    at: dt.datetime | None = None,
) -> Plan:
    """The plan for `inventory` given what was observed. Pure: no network, no writes."""
    desired = desired_for(inventory, observed, at=at)
    planner = _Planner(inventory, desired, observed, limit=limit, force=force, max_removal_ratio=max_removal_ratio)
    actions = planner.build()
    ctx = CheckContext(inventory, desired, observed, (), desired.at)
    judged = judge_offline(ctx)
    refuse_bad_installs(judged, actions)
    findings = [*judged.all(), *planner.findings, *run_checks(PLAN_CHECKS, ctx)]
    return Plan(
        # Absolute, so `mrakit apply PLAN.json` finds the inventory from any folder.
        inventory_path=str(Path(inventory.path).resolve()),
        inventory_sha256=inventory.sha256,
        created_at=(at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        node_fingerprints={fqdn: o.fingerprint for fqdn, o in sorted(observed.nodes.items())},
        actions=tuple(actions),
        findings=tuple(findings),
        unreachable={o.node: o.error or "" for o in observed.failed()},
        limit=tuple(sorted(limit)) if limit else (),
    )


def plan(
    inventory: Inventory,
    *,
    workers: int | None = None,
    limit: Sequence[str] | None = None,
    force: bool = False,
    environ: Mapping[str, str] | None = None,
    progress: ProgressCallback | None = None,
    connections: Any = None,
    certificates_dir: str | None = None,
) -> Plan:
    """Observe every node (in parallel) and plan. Opens and closes its own connections (and an
    in-process lab for `connection: lab`) unless `connections` is given. `certificates_dir` holds
    signed certificates to install, matched to their nodes by public key (see mrakit.renew)."""
    from mrakit.adapters.connect import connect

    own = connections is None
    conns = connect(inventory, environ=environ) if own else connections
    try:
        observed = observe(inventory, conns.expressway, conns.cucm, workers=workers, progress=progress)
        if certificates_dir is not None:
            inventory = inventory_with_certificates(inventory, certificates_dir, observed)
        return compute_plan(inventory, observed, limit=limit, force=force)
    finally:
        if own:
            conns.close()


def inventory_with_certificates(inventory: Inventory, directory: str, observed: ObservedState) -> Inventory:
    """The inventory with the signed certificates of `directory` as the desired ones of their nodes."""
    from mrakit.renew import match_certificates, with_certificates

    pending = {fqdn: o.pending_csr_key for fqdn, o in observed.nodes.items() if o.pending_csr_key}
    return with_certificates(inventory, match_certificates(inventory, directory, pending))


__all__ = ["Action", "DesiredTrust", "Plan", "compute_plan", "plan"]
