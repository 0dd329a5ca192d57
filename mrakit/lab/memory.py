"""In-memory adapters over the same node models the lab serves: for library users' own tests.

They behave like the products (ordered per-peer trust, version-checked installs, CUCM
replication is immediate here) without HTTP. Writes are counted in `writes`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cryptography import x509

from mrakit.adapters.axl import CALL_PROCESSING_ROLE
from mrakit.adapters.base import Capabilities, PhoneSecurityProfile, pending_csr_lacks
from mrakit.errors import AdapterError, UnsupportedOperation
from mrakit.lab.model import CUCM_UNIT_SERVICES, CucmNode, ExpresswayNode, ProductError, csr_from_pem
from mrakit.pki.certview import CertView
from mrakit.pki.keys import csr_dns_names
from mrakit.pki.load import certificates_to_pem, load_certificates


@contextmanager
def _refusal_as_adapter_error(node: str) -> Iterator[None]:
    """A product refusal, reported the way the REST adapters report it."""
    try:
        yield
    except ProductError as exc:
        raise AdapterError(f"{node} refused the certificate: {exc.message}", node=node, status=exc.status) from None


def _certs(pems: list[str]) -> tuple[CertView, ...]:
    return tuple(c for pem in pems for c in load_certificates(pem.encode("ascii")))


class MemoryExpressway:
    """An Expressway peer in memory. `can_remove_trust` is on: the memory model can delete."""

    def __init__(self, state: ExpresswayNode, *, can_remove_trust: bool = True) -> None:
        self.state = state
        self.node = state.fqdn
        self.writes = 0
        self._capabilities = Capabilities(
            can_remove_trust=can_remove_trust,
            separate_client_certificate=state.parsed_version.at_least("X15.5"),
        )

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def _call(self, action: str) -> None:
        self.writes += 1
        del action

    def version(self) -> str:
        return self.state.version

    def trusted_cas(self) -> tuple[CertView, ...]:
        return tuple(self.state.trusted())

    def add_trusted_ca(self, cert: CertView) -> None:
        self._call("add")
        self.state.append_trust(cert.pem)
        if cert not in self.trusted_cas():
            raise AdapterError(f"{self.node} did not store {cert.display_name!r}", node=self.node)

    def remove_trusted_ca(self, cert: CertView) -> None:
        if not self.capabilities.can_remove_trust:
            raise UnsupportedOperation("this adapter cannot remove trusted CAs", node=self.node)
        self._call("remove")
        # One entry, the last copy: removing a duplicate must leave the original in place.
        for index in range(len(self.state.trust) - 1, -1, -1):
            if load_certificates(self.state.trust[index].encode())[0] == cert:
                del self.state.trust[index]
                return

    def server_certificate(self) -> tuple[CertView, ...]:
        return _certs(self.state.server_chain)

    def client_certificate(self) -> tuple[CertView, ...]:
        return _certs(self.state.client_chain)

    def generate_csr(
        self, common_name: str, sans: tuple[str, ...], key_length: int = 2048
    ) -> x509.CertificateSigningRequest:
        """As on the box: the CN is the box's own name, and a pending CSR is reused when it has every SAN."""
        self._call("csr")
        conflict = False
        try:
            self.state.generate_csr([s for s in sans if s != self.node], key_length)
        except ProductError as exc:
            if exc.status != 409:
                raise AdapterError(f"{self.node}: {exc.message}", node=self.node, status=exc.status) from None
            conflict = True
        csr = csr_from_pem(self.state.pending_csr)
        missing = [s for s in sans if s.lower() not in {n.lower() for n in csr_dns_names(csr)}]
        if missing:
            raise AdapterError(pending_csr_lacks(self.node, missing, already_pending=conflict), node=self.node)
        return csr

    def cucm_servers(self) -> tuple[str, ...]:
        return tuple(self.state.cucm_publishers) if self.state.role == "control" else ()

    def cluster_peers(self) -> tuple[str, ...]:
        return tuple(p.lower() for p in self.state.cluster_peers)

    def domains(self) -> tuple[str, ...]:
        return tuple(d.lower() for d in self.state.domains)

    def pending_csr(self) -> x509.CertificateSigningRequest | None:
        return csr_from_pem(self.state.pending_csr) if self.state.pending_csr else None

    def install_server_certificate(self, chain: tuple[CertView, ...]) -> None:
        self._call("install")
        with _refusal_as_adapter_error(self.node):
            self.state.install_server(certificates_to_pem(chain))

    def install_client_certificate(self, chain: tuple[CertView, ...]) -> None:
        self._call("install-client")
        with _refusal_as_adapter_error(self.node):
            self.state.install_client(certificates_to_pem(chain))


class MemoryCucm:
    """A CUCM node in memory. Trust added on the publisher is copied to `subscribers` at once."""

    def __init__(self, state: CucmNode, subscribers: list[CucmNode] | None = None) -> None:
        self.state = state
        self.node = state.fqdn
        self.subscribers = subscribers or []
        self.writes = 0

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(can_remove_trust=False)

    def version(self) -> str:
        return self.state.version

    def trusted_certificates(self, unit: str) -> tuple[CertView, ...]:
        return tuple(self.state.trusted(unit))

    def add_trusted_certificate(self, unit: str, cert: CertView) -> None:
        if unit not in CUCM_UNIT_SERVICES:
            raise AdapterError(f"unknown trust unit {unit}", node=self.node)
        self.writes += 1
        for node in [self.state, *self.subscribers]:
            node.add_trust(unit, cert.pem)
        if cert not in self.trusted_certificates(unit):
            raise AdapterError(f"{self.node} accepted {cert.display_name!r} but did not store it (a same-name "
                               f"certificate that starts later is in {unit})", node=self.node)

    def remove_trusted_certificate(self, unit: str, cert: CertView) -> None:
        raise UnsupportedOperation("CUCM has no known API to delete a trust certificate", node=self.node)

    def identity_certificate(self, service: str) -> tuple[CertView, ...]:
        return _certs(self.state.identities.get(service, []))

    def generate_csr(self, service: str, common_name: str, sans: tuple[str, ...],
                     distribution: str = "this-server") -> x509.CertificateSigningRequest:
        self.writes += 1
        return csr_from_pem(self.state.generate_csr(service, common_name, list(sans),
                                                    multi_server=distribution == "multi-server"))

    def install_identity_certificate(self, service: str, chain: tuple[CertView, ...]) -> None:
        self.writes += 1
        with _refusal_as_adapter_error(self.node):
            self.state.install_identity(service, certificates_to_pem(chain))

    def phone_security_profiles(self) -> tuple[PhoneSecurityProfile, ...]:
        return tuple(
            PhoneSecurityProfile(p["name"], p.get("phoneType", ""), p.get("deviceSecurityMode", ""))
            for p in self.state.profiles
        )

    def process_nodes(self) -> tuple[str, ...]:
        return tuple(n["name"].lower() for n in self.state.process_nodes
                     if n.get("processNodeRole") == CALL_PROCESSING_ROLE)
