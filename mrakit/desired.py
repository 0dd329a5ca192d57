"""Inventory (+ the certificates known) → the desired state of every node, each item with its reasons.

A pure function: no network, no files beyond what the inventory already loaded. The derivation
follows the rule book: who validates whom (a *trust relation*), and from each relation the CA
certificates (every intermediate and the root, MRA020/MRA021) the validating node must trust.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mrakit.errors import PkiError
from mrakit.findings import Finding, Severity
from mrakit.inventory.model import CertificateFile, CucmCluster, ExpresswayCluster, ExpresswayPeer, Inventory
from mrakit.pki.certview import CertView, san_field_length
from mrakit.pki.chain import Purpose
from mrakit.pki.keys import certificate_matches_key
from mrakit.pki.load import load_private_key_file
from mrakit.rules.certificate import (
    check_common_name,
    check_san_limit,
    check_validity,
    check_wildcard,
)
from mrakit.rules.eku import client_certificate_ekus, eku_rule_text, server_certificate_ekus

Store = Literal["trusted_ca", "tomcat-trust", "CallManager-trust"]
TRUSTED_CA: Store = "trusted_ca"
TOMCAT_TRUST: Store = "tomcat-trust"
CALLMANAGER_TRUST: Store = "CallManager-trust"

# Certificate kinds a node presents. Expressway: server, client (X15.5+); CUCM: the four identities.
CertKind = Literal["server", "client", "tomcat", "callmanager", "tomcat_ecdsa", "callmanager_ecdsa"]
ObservedCertificates = Mapping[str, Mapping[str, Sequence[CertView]]]  # fqdn -> kind -> leaf first

KIND_TEXT = {
    "server": "server certificate",
    "client": "client certificate",
    "tomcat": "tomcat certificate",
    "callmanager": "CallManager certificate",
    "tomcat_ecdsa": "tomcat-ECDSA certificate",
    "callmanager_ecdsa": "CallManager-ECDSA certificate",
}


@dataclass(frozen=True)
class Reason:
    code: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "text": self.text}


@dataclass(frozen=True)
class TrustRelation:
    """`validator` (in `store`) must validate the `kind` certificate that `subject` presents."""

    validator_cluster: str
    validator: str
    store: Store
    subject_cluster: str
    subject: str
    kind: CertKind
    purpose: Purpose
    codes: tuple[str, ...]
    feature: str

    @property
    def label(self) -> str:
        return f"{self.subject_cluster}/{_short(self.subject)}'s {KIND_TEXT[self.kind]}"


@dataclass(frozen=True)
class DesiredTrust:
    store: Store
    cert: CertView
    reasons: tuple[Reason, ...]
    features: tuple[str, ...] = ()  # what breaks without it: "TLS Verify", "traversal zone (C validates E)", …

    @property
    def subject(self) -> str:
        return self.cert.subject

    @property
    def fingerprint(self) -> str:
        return self.cert.fingerprint_sha256

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "subject": self.cert.subject,
            "fingerprint_sha256": self.cert.fingerprint_sha256,
            "reasons": [r.to_dict() for r in self.reasons],
        }


@dataclass(frozen=True)
class RequiredSan:
    name: str
    code: str
    why: str


@dataclass(frozen=True)
class NodeDesired:
    cluster: str
    node: str
    product: Literal["expressway", "cucm"]
    role: str
    trust: tuple[DesiredTrust, ...]
    common_name: str | None = None
    required_sans: tuple[RequiredSan, ...] = ()
    server_certificate: CertificateFile | None = None
    client_certificate: CertificateFile | None = None
    findings: tuple[Finding, ...] = ()

    def trust_in(self, store: str) -> tuple[DesiredTrust, ...]:
        return tuple(t for t in self.trust if t.store == store)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "node": self.node,
            "product": self.product,
            "role": self.role,
            "trust": [t.to_dict() for t in self.trust],
            "common_name": self.common_name,
            "required_sans": [s.name for s in self.required_sans],
            "server_certificate": _cert_ref(self.server_certificate),
            "client_certificate": _cert_ref(self.client_certificate),
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass(frozen=True)
class DesiredState:
    nodes: tuple[NodeDesired, ...]
    relations: tuple[TrustRelation, ...]
    findings: tuple[Finding, ...] = ()
    known_certificates: Mapping[str, Mapping[str, tuple[CertView, ...]]] = field(default_factory=dict)

    def node(self, fqdn: str) -> NodeDesired:
        for node in self.nodes:
            if node.node == fqdn:
                return node
        raise KeyError(fqdn)

    def all_findings(self) -> list[Finding]:
        return [*self.findings, *(f for n in self.nodes for f in n.findings)]

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": [n.to_dict() for n in self.nodes], "findings": [f.to_dict() for f in self.findings]}


def _merge(entries: Iterable[DesiredTrust]) -> list[DesiredTrust]:
    """One entry per (store, certificate), in first-seen order, with every reason and feature."""
    merged: dict[tuple[str, str], DesiredTrust] = {}
    for entry in entries:
        key = (entry.store, entry.fingerprint)
        if key not in merged:
            merged[key] = entry
            continue
        have = merged[key]
        reasons = (*have.reasons, *(r for r in entry.reasons if r not in have.reasons))
        features = (*have.features, *(f for f in entry.features if f not in have.features))
        merged[key] = DesiredTrust(have.store, have.cert, reasons, features)
    return list(merged.values())


def _cert_ref(cert_file: CertificateFile | None) -> dict[str, str] | str:
    if cert_file is None:
        return "keep current"
    return {"file": str(cert_file.path), "subject": cert_file.leaf.subject,
            "fingerprint_sha256": cert_file.leaf.fingerprint_sha256}


def _short(fqdn: str) -> str:
    return fqdn.split(".", 1)[0]


def _store_text(store: str) -> str:
    return "trusted CA list" if store == TRUSTED_CA else store


def copies_into_client_store(cluster: ExpresswayCluster, server: CertView) -> bool:
    """X15.5+ control peer: a server certificate with both EKUs can also be its client certificate."""
    return (cluster.role == "control" and cluster.split_client_certificate
            and server.allows_purpose("serverAuth") and server.allows_purpose("clientAuth"))


def complete_chain(leaf: CertView, pool: Sequence[CertView], at: dt.datetime) -> tuple[list[CertView], str | None]:
    """The CA certificates above `leaf` (issuer first, root last), from `pool`; and the issuer name
    that could not be found, if the chain stops short of a self-signed root."""
    chain: list[CertView] = []
    current = leaf
    for _ in range(10):
        if current.self_signed:
            return chain, None
        candidates = [c for c in pool if c.subject_name == current.issuer_name and current.is_signed_by(c)]
        candidates = [c for c in candidates if c not in chain and c != current]
        if not candidates:
            return chain, current.issuer
        # A currently valid issuer before an expired one; a self-signed root before a cross-signed copy.
        candidates.sort(key=lambda c: (not c.is_valid_at(at), not c.self_signed))
        current = candidates[0]
        chain.append(current)
    return chain, current.issuer


NodeTrust = Mapping[str, Mapping[str, Sequence[CertView]]]  # fqdn -> store -> trust entries, as observed
CUCM_IDENTITY_UNITS: Mapping[str, Store] = {"tomcat": "tomcat-trust", "tomcat_ecdsa": "tomcat-trust",
                                            "callmanager": "CallManager-trust",
                                            "callmanager_ecdsa": "CallManager-trust"}


class _Deriver:
    def __init__(self, inventory: Inventory, observed: ObservedCertificates, extra: Sequence[CertView],
                 at: dt.datetime, prefer_observed: bool = False, node_trust: NodeTrust | None = None,
                 cucm_profiles: Mapping[str, Sequence[str]] | None = None) -> None:
        self.inventory = inventory
        self.prefer_observed = prefer_observed
        self.at = at
        self.node_trust = node_trust or {}
        self.cucm_profiles = cucm_profiles or {}
        self.certs: dict[str, dict[str, tuple[CertView, ...]]] = {}
        pool: list[CertView] = []
        for authority in inventory.authorities.values():
            pool.extend(authority.certificates)
        self.collect_known(observed)
        for presented in self.certs.values():
            for chain in presented.values():
                pool.extend(c for c in chain[1:] if c.is_ca)
        pool.extend(extra)
        self.pool = list(dict.fromkeys(pool))
        self.findings: list[Finding] = []
        self.node_findings: dict[str, list[Finding]] = {}
        self.found_on_node: dict[tuple[str, str], dict[str, str]] = {}  # (node, leaf) -> CA fingerprint -> where

    def collect_known(self, observed: ObservedCertificates) -> None:
        """The certificates each node presents: the inventory's files win over what was observed."""
        for fqdn, kinds in observed.items():
            self.certs[fqdn] = {kind: tuple(chain) for kind, chain in kinds.items() if chain}
        if self.prefer_observed:
            snapshot = {fqdn: dict(kinds) for fqdn, kinds in self.certs.items()}
        for cluster in self.inventory.expressway.values():
            for peer in cluster.peers:
                known = self.certs.setdefault(peer.fqdn, {})
                copied = bool(known.get("client")) and known["client"][:1] == known.get("server", ())[:1]
                if peer.certificate:
                    known["server"] = peer.certificate.certificates
                if peer.client_certificate:
                    known["client"] = peer.client_certificate.certificates
                elif copied and peer.certificate and copies_into_client_store(cluster, peer.certificate.leaf):
                    # X15.5 holds a copy of the server certificate as client certificate (the upgrade made
                    # it); the route for a new one is "Upload server certificate file as client certificate".
                    known["client"] = peer.certificate.certificates
        for cucm in self.inventory.cucm.values():
            for node in cucm.nodes:
                known = self.certs.setdefault(node.fqdn, {})
                for kind, cert_file in cucm.certificates_of(node).items():
                    known[kind] = cert_file.certificates
        if self.prefer_observed:
            for fqdn, kinds in snapshot.items():
                self.certs.setdefault(fqdn, {}).update(kinds)

    def note(self, fqdn: str, finding: Finding) -> None:
        self.node_findings.setdefault(fqdn, []).append(finding)

    # relations ---------------------------------------------------------------------------
    def relations(self) -> list[TrustRelation]:
        inv = self.inventory
        relations: list[TrustRelation] = []
        for control in inv.control_clusters():
            edge = inv.expressway[control.traversal] if control.traversal else None
            for c_peer in control.peers:
                if edge is not None:
                    for e_peer in edge.peers:
                        relations.append(TrustRelation(
                            control.name, c_peer.fqdn, TRUSTED_CA, edge.name, e_peer.fqdn, "server",
                            Purpose.SERVER, ("MRA020", "MRA023"), "traversal zone (C validates E)"))
                        relations.append(TrustRelation(
                            edge.name, e_peer.fqdn, TRUSTED_CA, control.name, c_peer.fqdn,
                            self.control_client_kind(control, c_peer), Purpose.CLIENT, ("MRA020", "MRA023"),
                            "traversal zone (E validates C)"))
                for cucm_name in control.cucm:
                    relations.extend(self.cucm_relations(control, c_peer, inv.cucm[cucm_name]))
        for cucm in inv.cucm.values():
            relations.extend(self.cucm_identity_relations(cucm))
        return relations

    def cucm_identity_relations(self, cucm: CucmCluster) -> list[TrustRelation]:
        """A CUCM server installs a CA-signed identity only once the CA chain is in its own trust unit
        (tomcat-trust for tomcat, CallManager-trust for CallManager); trust is written on the publisher."""
        relations = []
        for node in cucm.nodes:
            for kind in self.certs.get(node.fqdn, {}):
                store = CUCM_IDENTITY_UNITS.get(kind)
                if store is not None:
                    relations.append(TrustRelation(cucm.name, cucm.publisher.fqdn, store, cucm.name, node.fqdn,
                                                   kind, Purpose.SERVER, ("CUCM001",), "identity install"))  # type: ignore[arg-type]
        return relations

    def control_client_kind(self, control: ExpresswayCluster, peer: ExpresswayPeer) -> CertKind:
        if control.split_client_certificate and "client" in self.certs.get(peer.fqdn, {}):
            return "client"
        return "server"

    def cucm_relations(self, control: ExpresswayCluster, c_peer: ExpresswayPeer,
                       cucm: CucmCluster) -> list[TrustRelation]:
        relations: list[TrustRelation] = []
        both_units = control.version.at_least("X14.0.2")
        for node in cucm.nodes:
            presented = self.certs.get(node.fqdn, {})
            if not presented and node is not cucm.publisher:
                continue  # a subscriber's own certificates are known only once observed
            kinds: list[tuple[CertKind, str, str]] = []
            if cucm.tls_verify:
                kinds += [("tomcat", "MRA031", "TLS Verify"), ("tomcat_ecdsa", "MRA031", "TLS Verify")]
            if cucm.secure_registration:
                kinds += [("callmanager", "MRA031", "secure registration"),
                          ("callmanager_ecdsa", "MRA031", "secure registration")]
            for kind, code, feature in kinds:
                if kind.endswith("_ecdsa") and kind not in presented:
                    continue
                relations.append(TrustRelation(
                    control.name, c_peer.fqdn, TRUSTED_CA, cucm.name, node.fqdn, kind, Purpose.SERVER,
                    (code, "MRA033", "MRA023"), feature))
        kind = self.control_client_kind(control, c_peer)
        publisher = cucm.publisher.fqdn
        if cucm.tls_verify or both_units:
            relations.append(TrustRelation(cucm.name, publisher, TOMCAT_TRUST, control.name, c_peer.fqdn, kind,
                                           Purpose.CLIENT, ("MRA032",), "TLS Verify"))
        if cucm.secure_registration or both_units:
            # With a separate client certificate (X15.5) the server certificate is only ever a server.
            server_purpose = Purpose.SERVER if kind == "client" else Purpose.BOTH
            relations.append(TrustRelation(cucm.name, publisher, CALLMANAGER_TRUST, control.name, c_peer.fqdn,
                                           "server", server_purpose, ("MRA032",), "secure registration"))
            if kind == "client":
                relations.append(TrustRelation(cucm.name, publisher, CALLMANAGER_TRUST, control.name, c_peer.fqdn,
                                               "client", Purpose.CLIENT, ("MRA032",), "secure registration"))
        return relations

    # trust -------------------------------------------------------------------------------
    def trust_for(self, relations: Iterable[TrustRelation]) -> dict[str, list[DesiredTrust]]:
        entries: dict[str, dict[tuple[Store, str], tuple[CertView, list[Reason]]]] = {}
        features: dict[tuple[str, Store, str], list[str]] = {}
        chains: dict[tuple[str, str, tuple[str, ...]], tuple[list[CertView], str | None]] = {}
        unresolved: set[tuple[str, str, str]] = set()
        for rel in relations:
            chain = self.certs.get(rel.subject, {}).get(rel.kind)
            if not chain:
                continue  # nothing known yet: the node keeps its current certificate, observed later
            leaf = chain[0]
            # Every validator of one certificate needs the same chain: complete it once.
            cache_key = (rel.subject, leaf.fingerprint_sha256, tuple(c.fingerprint_sha256 for c in chain[1:]))
            if cache_key not in chains:
                chains[cache_key] = self.complete(rel, leaf, chain)
            cas, missing = chains[cache_key]
            cas = list(cas)
            if leaf.self_signed:
                cas, missing = [leaf], None  # a self-signed node certificate is trusted as itself (CUCM defaults)
            if missing:
                # Never half a chain: nothing of it is uploaded until its root can be found.
                if (rel.subject, rel.kind, missing) in unresolved:
                    continue
                unresolved.add((rel.subject, rel.kind, missing))
                self.findings.append(Finding(
                    # An intermediate is known but not its root: MRA021; nothing above the leaf: MRA020.
                    "MRA021" if cas else "MRA020", Severity.ERROR,
                    f"the chain of {rel.label} cannot be completed: issuer {missing!r} is not known; nothing "
                    f"of this chain is uploaded until it is",
                    fix="add the CA certificate with that subject to `authorities` (or to the certificate file "
                    "after the leaf)",
                    cluster=rel.subject_cluster, node=rel.subject,
                    evidence={"certificate": leaf.fingerprint_sha256, "missing_issuer": missing}))
                continue
            node_entries = entries.setdefault(rel.validator, {})
            found_on_node = self.found_on_node.get((rel.subject, leaf.fingerprint_sha256), {})
            for position, ca in enumerate(cas):
                if ca is leaf:
                    text = f"{rel.label} is self-signed: it is its own trust anchor ({rel.feature})"
                elif position == 0:
                    text = f"it issued {rel.label} ({rel.feature})"
                elif ca.self_signed:
                    text = f"it is the root of {rel.label}'s chain ({rel.feature})"
                else:
                    text = f"it is an intermediate of {rel.label}'s chain ({rel.feature})"
                key = (rel.store, ca.fingerprint_sha256)
                _, reasons = node_entries.setdefault(key, (ca, []))
                needed_for = features.setdefault((rel.validator, *key), [])
                label = f"{rel.feature} for {rel.subject}"
                if label not in needed_for:
                    needed_for.append(label)
                primary, *others = [c for c in rel.codes if c != "MRA023"]
                also = f" [also {', '.join(others)}]" if others else ""
                candidates = [Reason(primary, f"{rel.validator_cluster}/{_short(rel.validator)}: trust "
                                              f'"{ca.display_name}" because {text}{also}')]
                if ca.fingerprint_sha256 in found_on_node:
                    candidates.append(Reason("INV003", found_on_node[ca.fingerprint_sha256]))
                if "MRA023" in rel.codes:
                    candidates.append(Reason("MRA023", f"every peer of {rel.validator_cluster} needs it: "
                                                       "Expressway trust lists do not replicate"))
                reasons.extend(r for r in candidates if r not in reasons)
        return {node: [DesiredTrust(store, ca, tuple(reasons), tuple(features[(node, store, fp)]))
                       for (store, fp), (ca, reasons) in items.items()]
                for node, items in entries.items()}

    def complete(self, rel: TrustRelation, leaf: CertView,
                 chain: Sequence[CertView]) -> tuple[list[CertView], str | None]:
        """The CAs above `leaf` from the authorities, what the node presents and the CAs seen elsewhere;
        failing that (unless `authorities_from_nodes: false`), from the subject node's own trust stores,
        each CA found there remembered with where it was found (INV003)."""
        cas, missing = complete_chain(leaf, [*chain[1:], *self.pool], self.at)
        own = self.node_trust.get(rel.subject, {})
        if not missing or not own or leaf.self_signed or not self.inventory.defaults.authorities_from_nodes:
            return cas, missing
        where: dict[str, str] = {}
        for store, certs in own.items():
            for cert in certs:
                where.setdefault(cert.fingerprint_sha256, store)
        own_certs = [c for certs in own.values() for c in certs]
        cas, missing = complete_chain(leaf, [*chain[1:], *self.pool, *own_certs], self.at)
        known = {c.fingerprint_sha256 for c in [*chain[1:], *self.pool]}
        subject = _short(rel.subject)
        found = {c.fingerprint_sha256: (f"issuer of {subject}'s own {KIND_TEXT[rel.kind]}, not in the inventory: "
                                        f"found in {subject}'s {_store_text(where[c.fingerprint_sha256])}")
                 for c in cas if c.fingerprint_sha256 not in known and c.fingerprint_sha256 in where}
        if found and not missing:
            self.found_on_node[(rel.subject, leaf.fingerprint_sha256)] = found
            for fingerprint, text in found.items():
                ca = next(c for c in cas if c.fingerprint_sha256 == fingerprint)
                self.findings.append(Finding(
                    "INV003", Severity.WARNING, f'CA "{ca.display_name}" is the {text}; mrakit plans it from there',
                    fix="review it, and name it under `authorities` to pin it (or set authorities_from_nodes: false "
                    "to refuse CAs found on nodes)", cluster=rel.subject_cluster, node=rel.subject,
                    evidence={"fingerprint_sha256": fingerprint, "subject": ca.subject}))
        return cas, missing

    def named_trust(self, cluster: ExpresswayCluster) -> list[DesiredTrust]:
        named = []
        for index, authority_name in enumerate(cluster.trust):
            for ca in self.inventory.authorities[authority_name].certificates:
                named.append(DesiredTrust(TRUSTED_CA, ca, (Reason(
                    "inventory", f"named in expressway.{cluster.name}.trust[{index}] (authority {authority_name})"),)))
        return named

    def acme_issuer_trust(self, cluster: ExpresswayCluster) -> list[DesiredTrust]:
        """A control cluster trusts every intermediate (and root) its edge's ACME CA currently issues
        from (`acme.issuers`): the edge's next renewal, by mrakit or by the box itself, may come from
        any of them, and the traversal zone must not break that day."""
        settings = self.inventory.acme.get(cluster.traversal or "") if cluster.role == "control" else None
        if settings is None:
            return []
        return [DesiredTrust(TRUSTED_CA, ca, (Reason(
            "ACME001", f"the ACME CA of {cluster.traversal} issues from it ({settings.where}.issuers): the edge's "
                       "next certificate may chain to it"),)) for ca in settings.issuer_certificates]

    # SANs ----------------------------------------------------------------------------------
    def required_sans(self, cluster: ExpresswayCluster, peer: ExpresswayPeer) -> tuple[str, list[RequiredSan]]:
        inv = self.inventory
        sans: list[RequiredSan] = []

        def need(name: str, code: str, why: str) -> None:
            if name.lower() not in {s.name for s in sans}:
                sans.append(RequiredSan(name.lower(), code, why))

        if cluster.clustered:
            common_name = cluster.cluster_fqdn
            need(cluster.cluster_fqdn, "MRA015", "the cluster FQDN")
            need(peer.fqdn, "MRA015", "this peer's FQDN")
        else:
            common_name = peer.fqdn
            need(peer.fqdn, "MRA017", "the node's FQDN (not clustered)")
            if cluster.cluster_fqdn != peer.fqdn:
                need(cluster.cluster_fqdn, "MRA015", "the cluster FQDN")
        if cluster.role == "control":
            for domain in cluster.domains:
                need(domain, "MRA010", "a domain in the C's domain list")
            for alias in cluster.chat_node_aliases:
                need(alias, "MRA011", "an XMPP persistent-chat node alias")
            for cucm_name in cluster.cucm:
                cucm = inv.cucm[cucm_name]
                if not cucm.secure_registration:
                    continue
                if cucm.phone_security_profiles is not None:
                    for profile in cucm.phone_security_profiles:
                        need(profile, "MRA012", f"a secure phone security profile on {cucm_name}")
                else:
                    for profile in self.cucm_profiles.get(cucm_name, ()):
                        need(profile, "MRA012", f"a secure phone security profile on {cucm_name} (read through AXL)")
        else:
            for control in inv.controls_of(cluster):
                for domain in control.domains:
                    name = f"collab-edge.{domain}" if cluster.san_domain_form == "collab-edge" else domain
                    need(name, "MRA013", f"a domain of {control.name}")
                for alias in control.chat_node_aliases:
                    need(alias, "MRA014", f"an XMPP persistent-chat node alias of {control.name}")
                for domain in control.federation_domains:
                    need(domain, "MRA014", f"an XMPP federation domain of {control.name}")
        return common_name, sans

    # certificate checks --------------------------------------------------------------------
    def check_expressway_certificate(self, cluster: ExpresswayCluster, peer: ExpresswayPeer, common_name: str,
                                     sans: list[RequiredSan]) -> list[Finding]:
        findings: list[Finding] = []
        chain = self.certs.get(peer.fqdn, {}).get("server")
        required_length = san_field_length(tuple(s.name for s in sans))
        if required_length > 999:
            findings.append(Finding(
                "MRA006", Severity.ERROR,
                f"the SANs this node needs take {required_length} characters; the Expressway ignores everything "
                "past 999", fix="reduce the domains, chat aliases or profiles this cluster serves",
                evidence={"san_field_length": required_length}))
        if not chain:
            return findings
        cert = chain[0]
        window = self.inventory.defaults.renewal_window_days
        findings += check_validity(cert, self.at, window) + check_wildcard(cert) + check_san_limit(cert)
        findings += check_common_name(cert)
        needed = server_certificate_ekus(cluster, has_client_certificate="client" in self.certs.get(peer.fqdn, {}))
        missing_ekus = [e for e in needed if not cert.allows_purpose(e)]
        if missing_ekus:
            findings.append(Finding(
                "MRA001", Severity.ERROR,
                f'server certificate "{cert.display_name}" lacks {" and ".join(missing_ekus)}; '
                f"{eku_rule_text(cluster)}",
                fix="have the CA sign it with both TLS Web Server and TLS Web Client Authentication, or move to a "
                "version that accepts serverAuth-only server certificates (X15.4 edge, X15.5 split)",
                evidence={"fingerprint_sha256": cert.fingerprint_sha256, "ekus": list(cert.ekus)}))
        if cert.common_name and cert.common_name.lower() != common_name:
            findings.append(Finding(
                "MRA015" if cluster.clustered else "MRA017", Severity.WARNING,
                f'server certificate CN is "{cert.common_name}", expected "{common_name}"',
                fix=f"request the certificate with CN = {common_name}",
                evidence={"fingerprint_sha256": cert.fingerprint_sha256}))
        present = {n.lower() for n in cert.dns_sans} - {n.lower() for n in cert.sans_beyond_limit}
        for san in sans:
            if san.name not in present:
                severity = Severity.ERROR
                if san.code == "MRA013" and not self.inventory.endpoints.devices_in_scope:
                    severity = Severity.WARNING
                findings.append(Finding(
                    san.code, severity,
                    f'server certificate "{cert.display_name}" lacks SAN {san.name} ({san.why})',
                    fix="build a new CSR with `mrakit csr` (it includes every required SAN) and install the "
                    "signed certificate",
                    evidence={"fingerprint_sha256": cert.fingerprint_sha256, "missing_san": san.name}))
        if peer.certificate and peer.certificate.key_path:
            findings += self.check_key(peer.certificate, "server")
        client = self.certs.get(peer.fqdn, {}).get("client")
        if client:
            absent = [e for e in client_certificate_ekus(cluster) if not client[0].allows_purpose(e)]
            if absent:
                findings.append(Finding(
                    "MRA001", Severity.ERROR,
                    f'client certificate "{client[0].display_name}" lacks clientAuth; the X15.5 client store '
                    "refuses it", fix="have a private CA sign the client certificate with clientAuth",
                    evidence={"fingerprint_sha256": client[0].fingerprint_sha256}))
            findings += check_validity(client[0], self.at, window)
        return findings

    def check_key(self, cert_file: CertificateFile, kind: str) -> list[Finding]:
        assert cert_file.key_path is not None
        try:
            key = load_private_key_file(cert_file.key_path)
        except PkiError as exc:
            return [Finding("MRA008", Severity.ERROR, f"cannot use the {kind} key: {exc}",
                            fix="give the certificate's unencrypted private key (PEM or DER), readable by mrakit")]
        if certificate_matches_key(cert_file.leaf, key):
            return []
        return [Finding(
            "MRA008", Severity.ERROR,
            f"{cert_file.path.name} does not match the private key {cert_file.key_path.name}",
            fix="use the certificate that was issued for this key (or the key the CSR was built with)",
            evidence={"certificate": cert_file.leaf.fingerprint_sha256})]

    def shared_keys(self, cluster: ExpresswayCluster) -> None:
        by_key: dict[str, list[ExpresswayPeer]] = {}
        for peer in cluster.peers:
            chain = self.certs.get(peer.fqdn, {}).get("server")
            if chain:
                by_key.setdefault(chain[0].public_key_fingerprint_sha256, []).append(peer)
        for peers in by_key.values():
            if len(peers) > 1:
                names = ", ".join(p.fqdn for p in peers)
                self.findings.append(Finding(
                    "MRA016", Severity.WARNING, f"peers {names} of {cluster.name} share one private key",
                    fix="generate one CSR per peer (`mrakit csr`) so each peer has its own key",
                    cluster=cluster.name, evidence={"peers": [p.fqdn for p in peers]}))

    def check_cucm(self, cucm: CucmCluster) -> list[Finding]:
        """The publisher's certificate findings (returned); a subscriber's go to the global list."""
        findings: list[Finding] = []
        reported: set[str] = set()  # a multi-server certificate is one certificate: reported once
        for node in cucm.nodes:
            callmanager = self.certs.get(node.fqdn, {}).get("callmanager")
            if not callmanager or not cucm.secure_registration or callmanager[0].fingerprint_sha256 in reported:
                continue
            cert = callmanager[0]
            reported.add(cert.fingerprint_sha256)
            missing = [e for e in ("serverAuth", "clientAuth") if not cert.allows_purpose(e)]
            if missing:
                x15_5 = any(c.version.at_least("X15.5") for c in self.inventory.controls_fronting(cucm))
                checking = ("; from X15.5 Expressway-C checks inbound SIP TLS peers for clientAuth (xConfiguration "
                            "SIP TLS Certificate ExtendedKeyUsage Checking Mode, default On), so CUCM's SIP "
                            "connections to C fail" if x15_5 and "clientAuth" in missing else "")
                finding = Finding(
                    "MRA002", Severity.ERROR if checking else Severity.WARNING,
                    f'{node.fqdn}\'s CallManager certificate "{cert.display_name}" lacks {" and ".join(missing)}; '
                    f"secure registration makes CUCM a TLS client towards Expressway-C too{checking}",
                    fix="re-issue the CallManager certificate with both EKUs"
                    + (" (or, as a stopgap, turn the SIP TLS EKU checking mode off on C)" if checking else ""),
                    cluster=cucm.name, node=node.fqdn,
                    evidence={"fingerprint_sha256": cert.fingerprint_sha256, "ekus": list(cert.ekus)})
                if node is cucm.publisher:
                    findings.append(finding)
                else:
                    self.findings.append(finding)
        for node in cucm.nodes:
            for chain in self.certs.get(node.fqdn, {}).values():
                validity = [f.located(cluster=cucm.name, node=node.fqdn)
                            for f in check_validity(chain[0], self.at, self.inventory.defaults.renewal_window_days)]
                if node is cucm.publisher:
                    findings += validity
                else:
                    self.findings += validity
        return findings

    def version_pairing(self) -> None:
        for control in self.inventory.control_clusters():
            edge = self.inventory.expressway.get(control.traversal or "")
            if edge is None or edge.version.same_release == control.version.same_release:
                continue
            split = control.version.at_least("X15.5") or edge.version.at_least("X15.5")
            self.findings.append(Finding(
                "VER001", Severity.ERROR if split else Severity.WARNING,
                f"{control.name} runs {control.version} and its edge {edge.name} runs {edge.version}; "
                + ("from X15.5 C and E must run the same version" if split else "C and E should run one version"),
                fix="upgrade both clusters to the same release", cluster=control.name,
                evidence={"control": str(control.version), "edge": str(edge.version)}))

    def cucm_same_name(self, trust: Sequence[DesiredTrust]) -> list[Finding]:
        """CUCM keeps one trust certificate per subject name (a same-name upload replaces the entry when
        it starts later): two needed CAs of one name cannot both be there."""
        findings = []
        by_subject: dict[tuple[str, str], list[DesiredTrust]] = {}
        for entry in trust:
            by_subject.setdefault((entry.store, entry.subject), []).append(entry)
        for (store, subject), entries in by_subject.items():
            if len(entries) < 2:
                continue
            kept = max(entries, key=lambda e: e.cert.not_before)
            lost = sorted({f for e in entries if e is not kept for f in e.features})
            findings.append(Finding(
                "CUCM002", Severity.ERROR,
                f"{len(entries)} certificates with subject {subject!r} are needed in {store}, but CUCM keeps one "
                f"certificate per name (the one that starts latest, {kept.fingerprint[:16]}…), so "
                f"{', '.join(lost) or 'the others'} will fail",
                fix="re-issue what the older CA signed from the newer one (a CA renewed under its old name cannot "
                "sit beside the old one on CUCM), or give the new CA a new name",
                evidence={"store": store, "fingerprints": [e.fingerprint for e in entries]}))
        return findings

    def shadowing(self, node: str, cluster: str, trust: Sequence[DesiredTrust]) -> list[Finding]:
        findings: list[Finding] = []
        by_subject: dict[tuple[str, str], list[DesiredTrust]] = {}
        by_cn: dict[tuple[str, str], list[DesiredTrust]] = {}
        for entry in trust:
            by_subject.setdefault((entry.store, entry.subject), []).append(entry)
            if entry.cert.common_name:
                by_cn.setdefault((entry.store, entry.cert.common_name), []).append(entry)
        for (store, subject), entries in by_subject.items():
            if len(entries) > 1:
                winner, *hidden = entries
                features = sorted({feature for e in hidden for feature in e.features})
                findings.append(Finding(
                    "MRA022", Severity.ERROR,
                    f"{len(entries)} certificates with subject {subject!r} are needed in {store}; the Expressway "
                    f"uses only the first ({winner.fingerprint[:16]}…), so {', '.join(features) or 'the other'} "
                    "will fail",
                    fix="CA-sign the CUCM tomcat and CallManager certificates (or the clashing CAs) and trust only "
                    "that CA",
                    cluster=cluster, node=node,
                    evidence={"store": store, "fingerprints": [e.fingerprint for e in entries]}))
        for (store, cn), entries in by_cn.items():
            subjects = {e.subject for e in entries}
            if len(subjects) > 1:
                findings.append(Finding(
                    "MRA025", Severity.WARNING,
                    f"{len(subjects)} CA certificates with common name {cn!r} (different subjects) in {store}",
                    fix="avoid uploading CAs that share a common name",
                    cluster=cluster, node=node, evidence={"subjects": sorted(subjects)}))
        return findings

    # the whole state -----------------------------------------------------------------------
    def derive(self) -> DesiredState:
        relations = self.relations()
        trust = self.trust_for(relations)
        self.version_pairing()
        nodes: list[NodeDesired] = []
        for cluster in self.inventory.expressway.values():
            self.shared_keys(cluster)
            named = [*self.named_trust(cluster), *self.acme_issuer_trust(cluster)]
            for peer in cluster.peers:
                entries = _merge([*trust.get(peer.fqdn, []), *named])
                common_name, sans = self.required_sans(cluster, peer)
                findings = self.check_expressway_certificate(cluster, peer, common_name, sans)
                findings += self.shadowing(peer.fqdn, cluster.name, entries)
                findings += self.node_findings.get(peer.fqdn, [])
                nodes.append(NodeDesired(
                    cluster.name, peer.fqdn, "expressway", cluster.role, tuple(entries), common_name, tuple(sans),
                    peer.certificate, peer.client_certificate,
                    tuple(f.located(cluster=cluster.name, node=peer.fqdn) for f in findings)))
        for cucm in self.inventory.cucm.values():
            entries = trust.get(cucm.publisher.fqdn, [])
            findings = self.check_cucm(cucm) + self.cucm_same_name(entries)
            nodes.append(NodeDesired(
                cucm.name, cucm.publisher.fqdn, "cucm", "publisher", tuple(entries),
                findings=tuple(f.located(cluster=cucm.name, node=cucm.publisher.fqdn) for f in findings)))
        return DesiredState(
            tuple(nodes), tuple(relations), tuple(self.findings),
            {fqdn: dict(kinds) for fqdn, kinds in self.certs.items()},
        )


def desired_state(
    inventory: Inventory,
    observed: ObservedCertificates | None = None,
    *,
    extra_authorities: Sequence[CertView] = (),
    at: dt.datetime | None = None,
    prefer_observed: bool = False,
    node_trust: NodeTrust | None = None,
    cucm_profiles: Mapping[str, Sequence[str]] | None = None,
) -> DesiredState:
    """The desired trust lists, required SANs and certificates of every node, each with reasons.

    `observed` supplies the certificates nodes present today (fqdn → kind → chain, leaf first) for
    peers whose certificate the inventory does not name (`prefer_observed=True`: even where it
    does, which gives the trust the deployment needs *as it is now*); `extra_authorities` adds CA
    certificates seen on the nodes that may complete a chain. `node_trust` (fqdn → store → entries, as
    observed) is where a node's own issuers are looked for when no authority has them
    (`authorities_from_nodes`), and `cucm_profiles` (CUCM cluster → secure profile names read through
    AXL) stands in for a cluster's `phone_security_profiles` when the inventory names none. Pure: no
    network, no writes.
    """
    when = at or dt.datetime.now(dt.UTC)
    return _Deriver(inventory, observed or {}, extra_authorities, when, prefer_observed, node_trust,
                    cucm_profiles).derive()
