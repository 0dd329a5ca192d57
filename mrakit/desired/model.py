"""The desired state as values: reasons, trust relations, desired trust, required SANs, the state of
each node and of the whole deployment, and what the derivation could not resolve."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mrakit.inventory.model import CertificateFile
from mrakit.pki.certview import CertView
from mrakit.pki.chain import Purpose

Store = Literal["trusted_ca", "tomcat-trust", "CallManager-trust"]
TRUSTED_CA: Store = "trusted_ca"
TOMCAT_TRUST: Store = "tomcat-trust"
CALLMANAGER_TRUST: Store = "CallManager-trust"

# Certificate kinds a node presents. Expressway: server, client (X15.5+); CUCM: the four identities.
CertKind = Literal["server", "client", "tomcat", "callmanager", "tomcat_ecdsa", "callmanager_ecdsa"]
ObservedCertificates = Mapping[str, Mapping[str, Sequence[CertView]]]  # fqdn -> kind -> leaf first
NodeTrust = Mapping[str, Mapping[str, Sequence[CertView]]]  # fqdn -> store -> trust entries, as observed

KIND_TEXT = {
    "server": "server certificate",
    "client": "client certificate",
    "tomcat": "tomcat certificate",
    "callmanager": "CallManager certificate",
    "tomcat_ecdsa": "tomcat-ECDSA certificate",
    "callmanager_ecdsa": "CallManager-ECDSA certificate",
}


def short_name(fqdn: str) -> str:
    return fqdn.split(".", 1)[0]


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
        return f"{self.subject_cluster}/{short_name(self.subject)}'s {KIND_TEXT[self.kind]}"


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
        }


@dataclass(frozen=True)
class UnresolvedChain:
    """The chain of the certificate `relation` needs validated stops at `missing_issuer`, which no
    authority, certificate file or node holds: nothing of that chain is trusted until it is found.
    `found` are the CAs above the leaf that were found (empty: nothing above the leaf)."""

    relation: TrustRelation
    certificate: CertView
    missing_issuer: str
    found: tuple[CertView, ...]


@dataclass(frozen=True)
class BorrowedAuthority:
    """A CA that completes `subject`'s `kind` chain but is named in no authority: it was found in
    the subject node's own `found_in` trust store (`authorities_from_nodes`)."""

    subject_cluster: str
    subject: str
    kind: CertKind
    ca: CertView
    found_in: str

    @property
    def text(self) -> str:
        where = "trusted CA list" if self.found_in == TRUSTED_CA else self.found_in
        subject = short_name(self.subject)
        return (f"issuer of {subject}'s own {KIND_TEXT[self.kind]}, not in the inventory: "
                f"found in {subject}'s {where}")


@dataclass(frozen=True)
class DesiredState:
    """Every node's desired trust, SANs and certificates; the relations they come from; the
    certificates each node presents (as the derivation knew them, leaf first); what could not be
    resolved; and the moment it was derived for (validity decides between two issuers)."""

    nodes: tuple[NodeDesired, ...]
    relations: tuple[TrustRelation, ...]
    known_certificates: Mapping[str, Mapping[str, tuple[CertView, ...]]] = field(default_factory=dict)
    unresolved: tuple[UnresolvedChain, ...] = ()
    borrowed: tuple[BorrowedAuthority, ...] = ()
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def node(self, fqdn: str) -> NodeDesired:
        for node in self.nodes:
            if node.node == fqdn:
                return node
        raise KeyError(fqdn)

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": [n.to_dict() for n in self.nodes]}


def _cert_ref(cert_file: CertificateFile | None) -> dict[str, str] | str:
    if cert_file is None:
        return "keep current"
    return {"file": str(cert_file.path), "subject": cert_file.leaf.subject,
            "fingerprint_sha256": cert_file.leaf.fingerprint_sha256}
