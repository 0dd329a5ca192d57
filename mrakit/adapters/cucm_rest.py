"""CUCM 14+ through the platform certificate management REST API and AXL."""

from __future__ import annotations

from typing import Any

from cryptography import x509

from mrakit.adapters import axl
from mrakit.adapters.base import Capabilities, PhoneSecurityProfile
from mrakit.adapters.rest import RestClient, RestSettings, json_of
from mrakit.errors import AdapterError, PkiError, UnsupportedOperation
from mrakit.pki.certview import CertView
from mrakit.pki.load import load_certificates, load_csr

BASE = "/platformcom/api/v1/certmgr/config"
UNIT_SERVICE = {"tomcat-trust": "tomcat", "CallManager-trust": "CallManager"}


class CucmRest:
    """One CUCM node (write trust on the publisher: it replicates to the subscribers)."""

    def __init__(self, node: str, settings: RestSettings, axl_version: str = axl.AXL_VERSION) -> None:
        self.node = node
        self.client = RestClient(node, settings)
        self.axl_version = axl_version
        self.soap_headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f"CUCM:DB ver={axl_version}"}

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(can_remove_trust=False)

    def close(self) -> None:
        self.client.close()

    def _certs(self, items: Any, what: str) -> tuple[CertView, ...]:
        if not isinstance(items, list):
            raise AdapterError(f"{self.node} returned an unexpected {what} answer", node=self.node)
        certs: list[CertView] = []
        for item in items:
            pem = item.get("certificate") if isinstance(item, dict) else None
            if not pem:
                continue
            try:
                certs.extend(load_certificates(str(pem).encode("utf-8"), source=f"{self.node} {what}"))
            except PkiError as exc:
                raise AdapterError(f"{self.node} returned an unreadable {what}: {exc}", node=self.node) from None
        return tuple(certs)

    def version(self) -> str:
        answer = self.client.read("/axl/", data=axl.get_ccm_version(self.axl_version), headers=self.soap_headers).text
        return axl.first_text(answer, "version", self.node)

    def trusted_certificates(self, unit: str) -> tuple[CertView, ...]:
        service = UNIT_SERVICE.get(unit, unit)
        data = json_of(self.client.read(f"{BASE}/trust/certificate", params={"service": service}), self.node,
                       f"{unit} list")
        return self._certs(data, f"{unit} list")

    def add_trusted_certificate(self, unit: str, cert: CertView) -> None:
        body = {"service": [UNIT_SERVICE.get(unit, unit)], "certificates": [cert.pem],
                "description": f"mrakit: {cert.display_name}"}
        self.client.write("POST", f"{BASE}/trust/certificates", json=body,
                          already_done=lambda: cert in self.trusted_certificates(unit))

    def remove_trusted_certificate(self, unit: str, cert: CertView) -> None:
        raise UnsupportedOperation(
            f"no REST call is known to delete a trust certificate on {self.node} (CLI: set cert delete)",
            node=self.node)

    def identity_certificate(self, service: str) -> tuple[CertView, ...]:
        data = json_of(self.client.read(f"{BASE}/identity/certificate", params={"service": service}), self.node,
                       f"{service} identity")
        return self._certs(data, f"{service} identity")

    def generate_csr(self, service: str, common_name: str, sans: tuple[str, ...]) -> x509.CertificateSigningRequest:
        body = {"service": service, "distribution": "this-server", "commonName": common_name,
                "altNames": list(sans), "keyType": "ec" if service.endswith("ECDSA") else "rsa",
                "keyLength": 2048, "hashAlgorithm": "sha256"}
        response = self.client.write("POST", f"{BASE}/csr", json=body)
        answer = json_of(response, self.node, "CSR") if response is not None else {}
        text = str(answer.get("csr") or "") if isinstance(answer, dict) else ""
        return load_csr(text.encode("utf-8"), source=f"{self.node} {service} CSR")

    def install_identity_certificate(self, service: str, chain: tuple[CertView, ...]) -> None:
        body = {"service": service, "certificates": [c.pem for c in chain]}
        self.client.write("POST", f"{BASE}/identity/certificates", json=body,
                          already_done=lambda: self.identity_certificate(service)[:1] == chain[:1])

    def phone_security_profiles(self) -> tuple[PhoneSecurityProfile, ...]:
        request = axl.list_phone_security_profile(self.axl_version)
        answer = self.client.read("/axl/", data=request, headers=self.soap_headers).text
        return tuple(PhoneSecurityProfile(r.get("name", ""), r.get("phoneType", ""), r.get("securityMode", ""))
                     for r in axl.rows(answer, "phoneSecurityProfile", self.node))

    def process_nodes(self) -> tuple[str, ...]:
        answer = self.client.read("/axl/", data=axl.list_process_node(self.axl_version), headers=self.soap_headers).text
        names = [r.get("name", "") for r in axl.rows(answer, "processNode", self.node)]
        return tuple(n for n in names if n and n != "EnterpriseWideData")
