"""Expressway (X14/X15) through its REST API, as far as the public record knows it (docs/apis).

No trusted-CA delete and no client-certificate upload are known, so the adapter declares those
capabilities missing and the planner makes them manual steps.
"""

from __future__ import annotations

from cryptography import x509

from mrakit.adapters.base import Capabilities
from mrakit.adapters.rest import RestClient, RestSettings, json_of
from mrakit.errors import AdapterError, PkiError, UnsupportedOperation
from mrakit.pki.certview import CertView
from mrakit.pki.load import certificates_to_pem, load_certificates, load_csr

_CSRF = {"X-CSRF-Header": "mrakit"}
ROOT = "/api/provisioning/certs/root"
SERVER = "/api/provisioning/certs/server"
CSR = "/api/provisioning/certs/generate_csr"


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
        files = {"file": (f"{cert.fingerprint_sha256[:16]}.pem", cert.pem.encode("ascii"), "application/x-pem-file")}
        self.client.write("POST", ROOT, files=files, headers=_CSRF,
                          already_done=lambda: cert in self.trusted_cas())

    def remove_trusted_ca(self, cert: CertView) -> None:
        raise UnsupportedOperation(
            f"the Expressway REST API has no known call to delete a trusted CA on {self.node}", node=self.node)

    def server_certificate(self) -> tuple[CertView, ...]:
        return _pem_list(self.client.read(SERVER).text, self.node, "server certificate")

    def client_certificate(self) -> tuple[CertView, ...]:
        return ()

    def generate_csr(self, common_name: str, sans: tuple[str, ...],
                     key_length: int = 2048) -> x509.CertificateSigningRequest:
        additional = [s for s in sans if s not in (common_name, self.node)]
        body = {"Additional_FQDNS": additional, "CommonName": common_name, "KeyLength": key_length,
                "DigestAlgorithm": "SHA-256"}
        response = self.client.write("POST", CSR, json=body, headers=_CSRF)
        text = ""
        if response is not None:
            try:
                answer = response.json()
            except ValueError:
                answer = None
            text = str(answer.get("CSR") or "") if isinstance(answer, dict) else ""
        if not text:
            text = self.client.read(CSR).text
        return load_csr(text.encode("utf-8"), source=f"{self.node} pending CSR")

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
