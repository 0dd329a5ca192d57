"""The CUCM twin: each server's platform API (certmgr REST), AXL on the publisher's own port, and
the replication of trust from one server to the others of its cluster after a delay."""

from __future__ import annotations

import re
import threading
import time
import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import escape

from mrakit.inventory.model import Inventory
from mrakit.lab.model import CUCM_UNIT_SERVICES, SERVICE_UNITS, CucmNode, ProductError, json_body
from mrakit.lab.state import LabState


class CucmTwin:
    """Every CUCM server of the lab state. `start()` replicates what came due while no lab ran and
    schedules what is pending; `stop()` cancels the scheduled replications."""

    def __init__(self, inventory: Inventory, state: LabState) -> None:
        self.inventory = inventory
        self.state = state
        self._timers: list[threading.Timer] = []

    def start(self) -> None:
        self.replicate_due()  # what came due while the lab was not running
        pending = [due for due in self.state.replication_due.values()]
        if pending:
            timer = threading.Timer(max(0.0, max(pending) - time.time()) + 0.01, self.replicate_due)
            timer.daemon = True
            self._timers.append(timer)
            timer.start()

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()

    def axl_request(self, fqdn: str, method: str, path: str, body: bytes, headers: Any) -> tuple[int, Any, str]:
        if method != "POST" or path.rstrip("/") != "/axl":
            raise ProductError(404, "Not found")
        return self._axl(self.state.cucm[fqdn], body, headers)

    def rest_request(
        self, fqdn: str, method: str, path: str, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, Any, str]:
        node = self.state.cucm[fqdn]
        node.check_rest_available()
        base = "/platformcom/api/v1/certmgr/config"
        service = (query.get("service") or [""])[0]
        if method == "GET" and path == f"{base}/trust/certificate":
            unit = SERVICE_UNITS.get(service, service)
            return (
                200,
                [
                    {"certificate": pem, "service": CUCM_UNIT_SERVICES.get(unit, unit)}
                    for pem in node.trust.get(unit, [])
                ],
                "application/json",
            )
        if method == "POST" and path == f"{base}/trust/certificates":
            request = json_body(body)
            services, certificates = request.get("service") or [], request.get("certificates") or []
            if not services or not certificates:
                raise ProductError(400, "service and certificates are required")
            with self.state.mutate(fqdn):
                for name in services:
                    for pem in certificates:
                        node.add_trust(SERVICE_UNITS.get(name, name), pem)
            self.replicate(node)
            return 201, {"Message": "Certificate(s) uploaded"}, "application/json"
        if method == "GET" and path == f"{base}/identity/certificate":
            chain = node.identities.get(service)
            if chain is None:
                raise ProductError(404, f"No identity certificate for service {service}")
            return (
                200,
                [
                    {
                        "certificate": "".join(chain),
                        "service": service,
                        "restartPending": service in node.restart_pending,
                    }
                ],
                "application/json",
            )
        if method == "POST" and path == f"{base}/identity/certificates":
            request = json_body(body)
            service = str(request.get("service"))
            members = [n for n in self.state.cucm.values() if n.publisher == node.publisher]
            with self.state.mutate(*(m.fqdn for m in members)):
                node.install_identity(service, "".join(request.get("certificates") or []))
                if service in node.multi_server:
                    # A multi-server certificate is distributed to every server of the cluster with its key.
                    node.multi_server.remove(service)
                    for member in members:
                        if member is not node:
                            member.adopt_identity(service, node)
            return 201, {"Message": "Certificate installed; restart the service to use it"}, "application/json"
        if method == "POST" and path == f"{base}/csr":
            request = json_body(body)
            distribution = str(request.get("distribution") or "this-server")
            if distribution not in ("this-server", "multi-server"):
                raise ProductError(400, "distribution must be this-server or multi-server")
            if distribution == "multi-server" and not node.is_publisher:
                raise ProductError(400, "A multi-server CSR is generated on the publisher")
            with self.state.mutate(fqdn):
                csr = node.generate_csr(
                    str(request.get("service")),
                    str(request.get("commonName") or node.fqdn),
                    list(request.get("altNames") or []),
                    multi_server=distribution == "multi-server",
                )
            return 200, {"csr": csr}, "application/json"
        raise ProductError(404, "Not found")

    def replicate(self, source: CucmNode) -> None:
        """Trust written on one node reaches the others through the database after a delay. The
        due time is part of the saved state, so a lab that stops (or is killed) before it passes
        still replicates when it next runs, as the real cluster would have meanwhile."""
        delay = self.inventory.lab.replication_delay_ms / 1000
        with self.state.lock:
            self.state.replication_due[source.fqdn] = time.time() + delay
            self.state.save(())
        if delay <= 0:
            self.replicate_due()
            return
        timer = threading.Timer(delay, self.replicate_due)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def replicate_due(self) -> None:
        changed: list[str] = []
        with self.state.lock:
            now = time.time()
            for fqdn, due in list(self.state.replication_due.items()):
                if due > now:
                    continue
                source = self.state.cucm.get(fqdn)
                del self.state.replication_due[fqdn]
                if source is None:
                    continue
                for peer in self.state.cucm.values():
                    if peer.publisher != source.publisher or peer is source:
                        continue
                    changed.append(peer.fqdn)
                    for unit, pems in source.trust.items():
                        for pem in pems:
                            peer.add_trust(unit, pem)
            self.state.save(changed)

    def _axl(self, node: CucmNode, body: bytes, headers: Any) -> tuple[int, Any, str]:
        """AXL as CUCM serves it: the SOAPAction header names the operation, and a returned tag that
        the schema type does not have is a SOAP fault (not silently ignored)."""
        try:
            request = ET.fromstring(body.decode("utf-8", "replace"))
        except ET.ParseError:
            return 500, _soap(_fault("Unable to parse the request")), "text/xml"
        operation = next((_local(e.tag) for e in request.iter() if _local(e.tag) in AXL_OPERATIONS), None)
        if operation is None:
            return 500, _soap(_fault("Unknown AXL request")), "text/xml"
        action = headers.get("SOAPAction", "").strip('"')
        if not re.fullmatch(rf"CUCM:DB ver=\d+\.\d+ {operation}", action):
            return 500, _soap(_fault(f"The SOAPAction header {action!r} does not name {operation}")), "text/xml"
        asked = [_local(e.tag) for r in request.iter() if _local(r.tag) == "returnedTags" for e in r]
        unknown = [tag for tag in asked if tag not in AXL_OPERATIONS[operation]]
        if unknown:
            return 500, _soap(_fault(f"Item not valid: The specified {unknown[0]} was not found")), "text/xml"
        if operation == "listPhoneSecurityProfile":
            rows = "".join("<phoneSecurityProfile>" + "".join(
                f"<{tag}>{escape(p.get(tag, ''))}</{tag}>" for tag in asked) + "</phoneSecurityProfile>"
                for p in node.profiles)
        elif operation == "listProcessNode":
            everyone = [{"name": "EnterpriseWideData", "processNodeRole": "CUCM Voice/Video"}, *node.process_nodes]
            rows = "".join("<processNode>" + "".join(
                f"<{tag}>{escape(n.get(tag, ''))}</{tag}>" for tag in asked) + "</processNode>" for n in everyone)
        else:
            rows = f"<componentVersion><version>{escape(node.version)}</version></componentVersion>"
        inner = f"<ns:{operation}Response><return>{rows}</return></ns:{operation}Response>"
        return 200, _soap(inner), "text/xml"


AXL_OPERATIONS: dict[str, set[str]] = {
    "listPhoneSecurityProfile": {"name", "description", "phoneType", "protocol", "deviceSecurityMode",
                                 "authenticationMode", "keySize", "tftpEncryptedConfig"},
    "listProcessNode": {"name", "description", "mac", "ipv6Name", "nodeUsage", "lbmHubGroup", "processNodeRole"},
    "getCCMVersion": set(),
}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _fault(message: str) -> str:
    return (f"<soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>{escape(message)}</faultstring>"
            "</soapenv:Fault>")


def _soap(inner: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns="http://www.cisco.com/AXL/API/15.0">'
        f"<soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>"
    )


__all__ = ["AXL_OPERATIONS", "CucmTwin"]
