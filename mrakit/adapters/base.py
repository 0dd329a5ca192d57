"""The adapter interfaces. Small on purpose: what plan, apply and doctor need, nothing more.

Each adapter declares what it can do (`Capabilities`); the planner turns a missing capability
into a manual step with instructions instead of skipping silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cryptography import x509

from mrakit.pki.certview import CertView

CUCM_TRUST_UNITS = ("tomcat-trust", "CallManager-trust")
# The inventory's certificate kinds and the CUCM service (identity) each one is.
CUCM_SERVICE_OF_KIND = {"tomcat": "tomcat", "callmanager": "CallManager", "tomcat_ecdsa": "tomcat-ECDSA",
                        "callmanager_ecdsa": "CallManager-ECDSA"}


def pending_csr_lacks(node: str, missing: Sequence[str], *, already_pending: bool) -> str:
    """What to say when the CSR on an Expressway lacks names asked for (the box keeps one CSR at a time)."""
    what = "a CSR was already pending on" if already_pending else "the CSR generated on"
    return (f"{what} {node} lacks SAN(s) {', '.join(missing)}; discard it on the box (Maintenance > Security > "
            "Server certificate > Discard CSR) and run `mrakit csr` again")


@dataclass(frozen=True)
class Capabilities:
    can_remove_trust: bool
    can_generate_csr: bool = True
    can_install_certificate: bool = True
    separate_client_certificate: bool = False


@dataclass(frozen=True)
class PhoneSecurityProfile:
    name: str
    phone_type: str
    security_mode: str

    @property
    def secure(self) -> bool:
        return self.security_mode.lower() in ("encrypted", "authenticated")

    @property
    def fqdn_form(self) -> bool:
        """Named like a domain (secure-8865.acme.local): the form an Expressway-C SAN can carry (MRA012)."""
        name = self.name.strip()
        return "." in name and " " not in name and not name.startswith(".") and not name.endswith(".")


@runtime_checkable
class ExpresswayApi(Protocol):
    """One Expressway peer. Trust lists are per peer (they do not replicate) and ordered."""

    node: str

    @property
    def capabilities(self) -> Capabilities: ...

    def version(self) -> str: ...

    def trusted_cas(self) -> tuple[CertView, ...]:
        """The trusted CA list in list order (duplicates included, as the node has them)."""
        ...

    def add_trusted_ca(self, cert: CertView) -> None:
        """Append one CA at the end of the list. Like the product, appending a CA the list already
        holds creates a duplicate entry: callers add only what is missing. A single call never
        appends twice, even when its answer is lost (it is reconciled by a read)."""
        ...

    def remove_trusted_ca(self, cert: CertView) -> None:
        """Remove one entry holding `cert` (the last copy, so removing a duplicate keeps the original)."""
        ...

    def server_certificate(self) -> tuple[CertView, ...]:
        """The server certificate, leaf first."""
        ...

    def client_certificate(self) -> tuple[CertView, ...]:
        """X15.5+: the separate client certificate, leaf first; () where there is none."""
        ...

    def generate_csr(
        self, common_name: str, sans: tuple[str, ...], key_length: int = 2048
    ) -> x509.CertificateSigningRequest:
        """Generate a key and CSR on the box (the key never leaves it)."""
        ...

    def cucm_servers(self) -> tuple[str, ...]:
        """Control clusters: how each CUCM publisher is configured (name or address; MRA034)."""
        ...

    def cluster_peers(self) -> tuple[str, ...]:
        """The cluster's peers as configured on the box (lower case)."""
        ...

    def domains(self) -> tuple[str, ...]:
        """The domains configured on the box (lower case)."""
        ...

    def pending_csr(self) -> x509.CertificateSigningRequest | None:
        """The CSR generated on the box and not yet completed, if any."""
        ...

    def install_server_certificate(self, chain: tuple[CertView, ...]) -> None:
        """Complete the pending CSR with its signed certificate (the key is the box's own)."""
        ...

    def install_client_certificate(self, chain: tuple[CertView, ...]) -> None: ...


@runtime_checkable
class CucmApi(Protocol):
    """One CUCM server, through its own platform API (and AXL). Trust uploaded on the publisher
    replicates to the subscribers; identities and CSRs are per server."""

    node: str

    @property
    def capabilities(self) -> Capabilities: ...

    def version(self) -> str: ...

    def trusted_certificates(self, unit: str) -> tuple[CertView, ...]: ...

    def add_trusted_certificate(self, unit: str, cert: CertView) -> None: ...

    def remove_trusted_certificate(self, unit: str, cert: CertView) -> None: ...

    def identity_certificate(self, service: str) -> tuple[CertView, ...]: ...

    def generate_csr(self, service: str, common_name: str, sans: tuple[str, ...],
                     distribution: str = "this-server") -> x509.CertificateSigningRequest:
        """A CSR on this server; `multi-server` (on the publisher) for one certificate for the whole cluster."""
        ...

    def install_identity_certificate(self, service: str, chain: tuple[CertView, ...]) -> None: ...

    def phone_security_profiles(self) -> tuple[PhoneSecurityProfile, ...]:
        """Every phone security profile of the cluster (AXL listPhoneSecurityProfile)."""
        ...

    def process_nodes(self) -> tuple[str, ...]:
        """The cluster's call-processing servers, lower case (AXL listProcessNode; IM&P left out)."""
        ...
