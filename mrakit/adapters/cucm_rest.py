"""One CUCM server: the platform certificate management REST API (CUCM 14 and later; per server,
with an OS administrator) and AXL (SOAP on its own port, with an application user)."""

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
    """One CUCM server. Trust written on the publisher replicates to the other servers; identities,
    CSRs and trust reads are each server's own."""

    def __init__(self, node: str, settings: RestSettings, axl_settings: RestSettings | None = None,
                 axl_version: str = axl.AXL_VERSION) -> None:
        self.node = node
        self.client = RestClient(node, settings)
        self.axl_client = RestClient(node, axl_settings or settings)
        self.axl_version = axl_version

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(can_remove_trust=False)

    def close(self) -> None:
        self.client.close()
        self.axl_client.close()

    def _axl(self, operation: str, envelope: str) -> str:
        headers = {"Content-Type": "text/xml; charset=utf-8",
                   "SOAPAction": axl.soap_action(operation, self.axl_version)}
        return self.axl_client.read("/axl/", data=envelope, headers=headers).text

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
        return axl.first_text(self._axl("getCCMVersion", axl.get_ccm_version(self.axl_version)), "version", self.node)

    def trusted_certificates(self, unit: str) -> tuple[CertView, ...]:
        service = UNIT_SERVICE.get(unit, unit)
        data = json_of(self.client.read(f"{BASE}/trust/certificate", params={"service": service}), self.node,
                       f"{unit} list")
        return self._certs(data, f"{unit} list")

    def add_trusted_certificate(self, unit: str, cert: CertView) -> None:
        """Upload, then read the list back: CUCM keeps one certificate per subject name and silently
        skips an upload whose same-name entry starts later, so a 201 alone proves nothing."""
        body = {"service": [UNIT_SERVICE.get(unit, unit)], "certificates": [cert.pem],
                "description": f"mrakit: {cert.display_name}"}
        self.client.write("POST", f"{BASE}/trust/certificates", json=body,
                          already_done=lambda: cert in self.trusted_certificates(unit))
        now = self.trusted_certificates(unit)
        if cert not in now:
            same_name = [c for c in now if c.subject_name == cert.subject_name]
            why = (f"{unit} already holds {same_name[0].display_name!r} of the same name, valid from "
                   f"{same_name[0].not_before:%Y-%m-%d %H:%M:%S}Z, and CUCM keeps a same-name upload only when it "
                   "starts later" if same_name else "the list read back does not hold it")
            raise AdapterError(f"{self.node} accepted the upload of {cert.display_name!r} "
                               f"({cert.fingerprint_sha256[:16]}…) but did not store it: {why}", node=self.node)

    def remove_trusted_certificate(self, unit: str, cert: CertView) -> None:
        raise UnsupportedOperation(
            f"deleting a trust certificate on {self.node}: REST path unverified (CLI: set cert delete)",
            node=self.node)

    def identity_certificate(self, service: str) -> tuple[CertView, ...]:
        data = json_of(self.client.read(f"{BASE}/identity/certificate", params={"service": service}), self.node,
                       f"{service} identity")
        return self._certs(data, f"{service} identity")

    def generate_csr(self, service: str, common_name: str, sans: tuple[str, ...],
                     distribution: str = "this-server") -> x509.CertificateSigningRequest:
        body = {"service": service, "distribution": distribution, "commonName": common_name,
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
        answer = self._axl("listPhoneSecurityProfile", axl.list_phone_security_profile(self.axl_version))
        return tuple(PhoneSecurityProfile(r.get("name", ""), r.get("phoneType", ""), r.get("deviceSecurityMode", ""))
                     for r in axl.rows(answer, "phoneSecurityProfile", self.node))

    def process_nodes(self) -> tuple[str, ...]:
        """The cluster's call-processing servers (IM and Presence and EnterpriseWideData left out)."""
        answer = self._axl("listProcessNode", axl.list_process_node(self.axl_version))
        return tuple(r["name"].lower() for r in axl.rows(answer, "processNode", self.node)
                     if r.get("name") and r.get("name") != axl.ENTERPRISE_WIDE_DATA
                     and r.get("processNodeRole", "") == axl.CALL_PROCESSING_ROLE)
