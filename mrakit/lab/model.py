"""The behaviour of Expressway and CUCM nodes where it matters for certificates, in memory.

The lab's HTTP handlers and the MemoryAdapter both drive these objects, so the product rules live
in one place: trust lists per Expressway peer that keep upload order and accept duplicates;
server-certificate install checked against the pending CSR's key and, by version, the EKUs;
CUCM trust units, identities and the "restart pending" flag.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mrakit.errors import PkiError
from mrakit.inventory.versions import CucmVersion, ExpresswayVersion
from mrakit.pki.certview import CLIENT_AUTH, SERVER_AUTH, CertView
from mrakit.pki.keys import build_csr, certificate_matches_key, csr_pem, generate_private_key, private_key_pem
from mrakit.pki.load import certificates_to_pem, load_certificates, load_private_key


class ProductError(Exception):
    """A refusal the real product would answer with: HTTP status and its message."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


def json_body(body: bytes) -> Any:
    """A request's JSON body, refused as the products refuse one that is not JSON."""
    try:
        return json.loads(body or b"{}")
    except ValueError:
        raise ProductError(400, "The request body is not valid JSON") from None


def _parse(pem: str, what: str) -> list[CertView]:
    try:
        return load_certificates(pem.encode("utf-8"), source=what)
    except PkiError as exc:
        raise ProductError(400, f"Invalid certificate file: {exc}") from None


def _pems(certs: list[CertView]) -> list[str]:
    return [c.pem for c in certs]


@dataclass
class ExpresswayNode:
    fqdn: str
    role: str
    version: str
    server_chain: list[str]
    server_key: str
    trust: list[str] = field(default_factory=list)
    client_chain: list[str] = field(default_factory=list)
    client_key: str = ""
    pending_key: str = ""
    pending_csr: str = ""
    server_eku_upload: bool = False
    cluster_peers: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    cucm_publishers: list[str] = field(default_factory=list)
    cluster_fqdn: str = ""

    @property
    def parsed_version(self) -> ExpresswayVersion:
        return ExpresswayVersion.parse(self.version)

    def trusted(self) -> list[CertView]:
        return [c for pem in self.trust for c in _parse(pem, "trust")]

    def append_trust(self, pem_text: str) -> int:
        """Append every certificate in the upload, in order; a duplicate becomes a duplicate entry."""
        certs = _parse(pem_text, "upload")
        self.trust.extend(_pems(certs))
        return len(certs)

    @property
    def own_name(self) -> str:
        """The name the box puts in a CSR's CN: the cluster FQDN on a cluster, else its own FQDN."""
        return self.cluster_fqdn if self.cluster_fqdn and len(self.cluster_peers) > 1 else self.fqdn

    def generate_csr(self, additional_fqdns: list[str], key_length: int = 2048) -> str:
        """Like the box: CN from its own name, its own FQDN and the CN always among the SANs, and no
        second CSR while one is pending (`Conflict`: discard the pending one first)."""
        if self.pending_csr:
            raise ProductError(409, "Conflict")
        key = generate_private_key(f"rsa{key_length}" if key_length in (2048, 3072, 4096) else "rsa2048")
        names = list(dict.fromkeys(n.lower() for n in [self.own_name, self.fqdn, *additional_fqdns]))
        csr = build_csr(key, self.own_name, names)
        self.pending_key = private_key_pem(key).decode("ascii")
        self.pending_csr = csr_pem(csr)
        return self.pending_csr

    def discard_csr(self) -> None:
        self.pending_key = self.pending_csr = ""

    def _required_server_ekus(self) -> tuple[str, ...]:
        version = self.parsed_version
        if version.at_least("X15.5"):
            return (SERVER_AUTH,)
        if version.at_least("X15.4") and self.role == "edge" and self.server_eku_upload:
            return (SERVER_AUTH,)
        return (SERVER_AUTH, CLIENT_AUTH)

    def install_server(self, pem_text: str) -> None:
        certs = _parse(pem_text, "server certificate")
        leaf = certs[0]
        missing = [e for e in self._required_server_ekus() if not leaf.allows_purpose(e)]
        if missing:
            names = {SERVER_AUTH: "TLS Web Server Authentication", CLIENT_AUTH: "TLS Web Client Authentication"}
            raise ProductError(400, "The server certificate must have the extended key usage(s) "
                                    + " and ".join(names[m] for m in missing))
        if not self.pending_key:
            raise ProductError(400, "No certificate signing request is in progress; generate a CSR first")
        key = load_private_key(self.pending_key.encode("ascii"))
        if not certificate_matches_key(leaf, key):
            raise ProductError(400, "The certificate does not match the private key of the pending CSR")
        self.server_chain, self.server_key = _pems(certs), self.pending_key
        self.pending_key = self.pending_csr = ""

    def install_client(self, pem_text: str) -> None:
        if not self.parsed_version.at_least("X15.5"):
            raise ProductError(404, "Separate client certificates need X15.5 or later")
        certs = _parse(pem_text, "client certificate")
        if not certs[0].allows_purpose(CLIENT_AUTH):
            raise ProductError(400, "The client certificate must have the extended key usage TLS Web Client "
                                    "Authentication")
        if not self.pending_key or not certificate_matches_key(certs[0], load_private_key(self.pending_key.encode())):
            raise ProductError(400, "The certificate does not match the private key of the pending CSR")
        self.client_chain, self.client_key = _pems(certs), self.pending_key
        self.pending_key = self.pending_csr = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExpresswayNode:
        return cls(**data)


CUCM_UNIT_SERVICES = {"tomcat-trust": "tomcat", "CallManager-trust": "CallManager"}
SERVICE_UNITS = {v: k for k, v in CUCM_UNIT_SERVICES.items()}


@dataclass
class CucmNode:
    fqdn: str
    version: str
    publisher: str
    trust: dict[str, list[str]] = field(default_factory=dict)
    identities: dict[str, list[str]] = field(default_factory=dict)
    identity_keys: dict[str, str] = field(default_factory=dict)
    pending_keys: dict[str, str] = field(default_factory=dict)
    restart_pending: list[str] = field(default_factory=list)
    profiles: list[dict[str, str]] = field(default_factory=list)  # name, phoneType, deviceSecurityMode
    process_nodes: list[dict[str, str]] = field(default_factory=list)  # name, processNodeRole
    multi_server: list[str] = field(default_factory=list)  # services whose pending CSR is multi-server

    @property
    def is_publisher(self) -> bool:
        return self.fqdn == self.publisher

    def check_rest_available(self) -> None:
        if CucmVersion.parse(self.version).major < 14:
            raise ProductError(404, "Not Found")

    def trusted(self, unit: str) -> list[CertView]:
        return [c for pem in self.trust.get(unit, []) for c in _parse(pem, unit)]

    def add_trust(self, unit: str, pem_text: str) -> None:
        """CUCM keeps one trust certificate per subject name: uploading one it has changes nothing; a
        same-name certificate replaces the entry when it starts later, and is silently not stored
        otherwise (CUCM 15 Security Guide)."""
        if unit not in CUCM_UNIT_SERVICES:
            raise ProductError(400, f"Unknown trust store {unit}")
        for cert in _parse(pem_text, unit):
            entries = self.trust.setdefault(unit, [])
            if cert.pem in entries:
                continue
            same_name = [i for i, pem in enumerate(entries) if _parse(pem, unit)[0].subject_name == cert.subject_name]
            if not same_name:
                entries.append(cert.pem)
                continue
            older = _parse(entries[same_name[0]], unit)[0]
            if cert.not_before > older.not_before:
                entries[same_name[0]] = cert.pem

    def _issuer_chain_trusted(self, leaf: CertView, unit: str) -> bool:
        """The leaf's issuers, up to a self-signed root, are all in `unit` (a self-signed leaf needs none)."""
        trusted = self.trusted(unit)
        current = leaf
        for _ in range(10):
            if current.self_signed:
                return True
            issuers = [c for c in trusted if c.subject_name == current.issuer_name and current.is_signed_by(c)]
            if not issuers:
                return False
            current = issuers[0]
        return False

    def generate_csr(self, service: str, common_name: str, alt_names: list[str], *, multi_server: bool = False) -> str:
        key = generate_private_key("p256" if service.endswith("ECDSA") else "rsa2048")
        self.pending_keys[service] = private_key_pem(key).decode("ascii")
        if multi_server and service not in self.multi_server:
            self.multi_server.append(service)
        elif not multi_server and service in self.multi_server:
            self.multi_server.remove(service)
        return csr_pem(build_csr(key, common_name, alt_names))

    def adopt_identity(self, service: str, source: CucmNode) -> None:
        """Take the multi-server certificate (and its key) the publisher distributes."""
        self.identities[service] = list(source.identities[service])
        self.identity_keys[service] = source.identity_keys[service]
        if service.startswith("tomcat") and service not in self.restart_pending:
            self.restart_pending.append(service)

    def install_identity(self, service: str, pem_text: str) -> None:
        certs = _parse(pem_text, service)
        unit = SERVICE_UNITS[service.removesuffix("-ECDSA")]
        if not self._issuer_chain_trusted(certs[0], unit):
            raise ProductError(400, f"The CA certificate chain of the {service} certificate is not in {unit}: "
                                    f"upload the issuing CA and its root to {unit} first")
        pending = self.pending_keys.get(service)
        if not pending or not certificate_matches_key(certs[0], load_private_key(pending.encode("ascii"))):
            raise ProductError(400, f"The certificate does not match the private key of the pending {service} CSR")
        self.identities[service] = _pems(certs)
        self.identity_keys[service] = self.pending_keys.pop(service)
        if service.startswith("tomcat") and service not in self.restart_pending:
            self.restart_pending.append(service)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CucmNode:
        nodes = [n if isinstance(n, dict) else {"name": n, "processNodeRole": "CUCM Voice/Video"}
                 for n in data.get("process_nodes", [])]
        profiles = [{**{"deviceSecurityMode": p.get("securityMode", "")}, **{k: v for k, v in p.items()
                                                                            if k != "securityMode"}}
                    for p in data.get("profiles", [])]
        return cls(**{**data, "process_nodes": nodes, "profiles": profiles})


def csr_from_pem(pem: str) -> x509.CertificateSigningRequest:
    return x509.load_pem_x509_csr(pem.encode("ascii"))


__all__ = ["CucmNode", "ExpresswayNode", "ProductError", "certificates_to_pem", "serialization"]
