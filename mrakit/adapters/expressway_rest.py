"""Expressway (X14/X15) through its REST API, as far as the public record knows it (docs/apis).

No trusted-CA delete and no client-certificate upload are known, so the adapter declares those
capabilities missing and the planner makes them manual steps.
"""

from __future__ import annotations

import requests
from cryptography import x509

from mrakit.adapters.base import Capabilities, pending_csr_lacks
from mrakit.adapters.rest import RestClient, RestSettings, json_of
from mrakit.errors import AdapterError, PkiError, UnsupportedOperation
from mrakit.pki.certview import CertView
from mrakit.pki.keys import csr_dns_names
from mrakit.pki.load import certificates_to_pem, load_certificates, load_csr

_CSRF = {"X-CSRF-Header": "mrakit"}
ROOT = "/api/provisioning/certs/root"
SERVER = "/api/provisioning/certs/server"
CSR = "/api/provisioning/certs/generate_csr"


def _message(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return ""
    return str(data.get("Message", "")).strip().lower() if isinstance(data, dict) else ""


def _pem_list(text: str, node: str, what: str) -> tuple[CertView, ...]:
    if not text.strip():
        return ()
    try:
        return tuple(load_certificates(text.encode("utf-8"), source=f"{node} {what}"))
    except PkiError as exc:
        raise AdapterError(f"{node} returned an unreadable {what}: {exc}", node=node) from None


class ExpresswayRest:
    """One Expressway peer through `/api/provisioning/...`."""

    def __init__(self, node: str, settings: RestSettings) -> None:
        self.node = node
        self.client = RestClient(node, settings)
        self._version: str | None = None

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(can_remove_trust=False, separate_client_certificate=False)

    def close(self) -> None:
        self.client.close()

    def version(self) -> str:
        if self._version is None:
            data = json_of(self.client.read("/api/provisioning/sysinfo"), self.node, "sysinfo")
            if not isinstance(data, dict):
                raise AdapterError(f"{self.node} answered sysinfo with an unexpected shape", node=self.node)
            self._version = str(data.get("Version") or data.get("SoftwareVersion") or "")
        return self._version

    def trusted_cas(self) -> tuple[CertView, ...]:
        return _pem_list(self.client.read(ROOT).text, self.node, "trusted CA list")

    def add_trusted_ca(self, cert: CertView) -> None:
        """Append, then read the list back: an upload counts only once the box holds it."""
        files = {"file": (f"{cert.fingerprint_sha256[:16]}.pem", cert.pem.encode("ascii"), "application/x-pem-file")}
        self.client.write("POST", ROOT, files=files, headers=_CSRF,
                          already_done=lambda: cert in self.trusted_cas())
        if cert not in self.trusted_cas():
            raise AdapterError(f"{self.node} accepted the upload of {cert.display_name!r} "
                               f"({cert.fingerprint_sha256[:16]}…) but its trusted CA list does not hold it",
                               node=self.node)

    def remove_trusted_ca(self, cert: CertView) -> None:
        raise UnsupportedOperation(
            f"the Expressway REST API has no known call to delete a trusted CA on {self.node}", node=self.node)

    def server_certificate(self) -> tuple[CertView, ...]:
        return _pem_list(self.client.read(SERVER).text, self.node, "server certificate")

    def client_certificate(self) -> tuple[CertView, ...]:
        return ()

    def generate_csr(self, common_name: str, sans: tuple[str, ...],
                     key_length: int = 2048) -> x509.CertificateSigningRequest:
        """Generate a CSR on the box. The box takes the CN from its own name (no request key sets it)
        and puts its own FQDN in the SANs; every other name goes in `Additional_FQDNS`. The POST
        answer carries no CSR: it is read back with GET. A CSR already pending (`Conflict`) is reused
        when it has every SAN asked for; `common_name` is what the SANs must cover, not a request."""
        additional = [s for s in sans if s != self.node]
        body = {"Additional_FQDNS": additional, "KeyLength": key_length, "DigestAlgorithm": "sha256"}
        conflict = False
        try:
            response = self.client.write("POST", CSR, json=body, headers=_CSRF)
        except AdapterError as exc:
            if exc.status != 409:
                raise
            conflict = True
        else:
            conflict = response is not None and _message(response) == "conflict"
        csr = self.pending_csr()
        if csr is None:
            raise AdapterError(f"{self.node} accepted the CSR request but has no pending CSR to read back",
                               node=self.node)
        have = {n.lower() for n in csr_dns_names(csr)}
        missing = [s for s in sans if s.lower() not in have]
        if missing:
            raise AdapterError(pending_csr_lacks(self.node, missing, already_pending=conflict), node=self.node)
        return csr

    def cluster_peers(self) -> tuple[str, ...]:
        """The cluster's peers as the box has them configured (names or addresses)."""
        data = json_of(self.client.read("/api/v1/provisioning/common/cluster/peers"), self.node, "cluster peers")
        items = data if isinstance(data, list) else []
        return tuple(str(i["PeerAddress"]).lower() for i in items if isinstance(i, dict) and i.get("PeerAddress"))

    def domains(self) -> tuple[str, ...]:
        data = json_of(self.client.read("/api/provisioning/common/domain"), self.node, "domains")
        items = data if isinstance(data, list) else []
        return tuple(str(i.get("Name", "")).lower() for i in items if isinstance(i, dict) and i.get("Name"))

    def cucm_servers(self) -> tuple[str, ...]:
        try:
            data = json_of(self.client.read("/api/provisioning/controller/server/cucm"), self.node, "CUCM servers")
        except AdapterError as exc:
            if exc.status in (404, 405):
                return ()  # an edge has no CUCM servers
            raise
        return tuple(str(item.get("Publisher", "")) for item in data if isinstance(item, dict))

    def pending_csr(self) -> x509.CertificateSigningRequest | None:
        try:
            text = self.client.read(CSR).text
        except AdapterError as exc:
            if exc.status == 404:
                return None
            raise
        return load_csr(text.encode("utf-8"), source=f"{self.node} pending CSR") if text.strip() else None

    def install_server_certificate(self, chain: tuple[CertView, ...]) -> None:
        files = {"file": ("server.pem", certificates_to_pem(chain).encode("ascii"), "application/x-pem-file")}
        self.client.write("POST", SERVER, files=files, headers=_CSRF,
                          already_done=lambda: self.server_certificate()[:1] == chain[:1])

    def install_client_certificate(self, chain: tuple[CertView, ...]) -> None:
        raise UnsupportedOperation(
            f"no REST call is known for the X15.5 client certificate on {self.node}", node=self.node)
