"""The Expressway twin's management API: the REST calls mrakit makes, answered as the product
answers them (X-CSRF-Header from X14.2, CSR generation and completion, the peers' trust lists)."""

from __future__ import annotations

import re
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from mrakit.inventory.credentials import ResolvedCredentials
from mrakit.inventory.model import Inventory
from mrakit.lab.model import ExpresswayNode, ProductError, json_body
from mrakit.lab.state import LabState

OK_MESSAGE = {"Message": "The operation was successful"}
# The request keys seen in working code for POST certs/generate_csr; the CN is the box's own name.
EXPRESSWAY_CSR_KEYS = {"Additional_FQDNS", "Country", "Province", "Locality", "Organization", "OrganizationalUnit",
                       "Email", "KeyLength", "DigestAlgorithm"}

# From X14.2 the Expressway requires X-CSRF-Header on POSTs to these endpoints only (X15.0 Administrator
# Guide, "Expressway Interfaces"); certs/root, certs/server and generate_csr are not among them.
CSRF_PROTECTED = re.compile(r"^/api/[a-z]+/(?:.*/)?(?:restart|defaultlinks|restartservice|domaincerts/[^/]+|"
                            r"certs/acme/pendingcert(?:/deploy)?)$")



def multipart_file(headers: Any, body: bytes) -> str:
    content_type = headers.get("Content-Type", "")
    if "multipart/form-data" not in content_type:
        raise ProductError(400, "Expected multipart/form-data with a 'file' field")
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)
    raise ProductError(400, "No 'file' field in the upload")


class ExpresswayTwin:
    """Every Expressway peer of the lab state, behind its REST API."""

    def __init__(self, inventory: Inventory, state: LabState, credentials: ResolvedCredentials) -> None:
        self.inventory = inventory
        self.state = state
        self.credentials = credentials

    def request(self, fqdn: str, method: str, path: str, body: bytes, headers: Any) -> tuple[int, Any, str]:
        node = self.state.expressway[fqdn]
        path = re.sub(r"^/api/v1/", "/api/", path).rstrip("/")
        if (method == "POST" and node.parsed_version.at_least("X14.2") and CSRF_PROTECTED.match(path)
                and "X-CSRF-Header" not in headers):
            raise ProductError(403, "CSRF check failed: send the X-CSRF-Header header")
        routes: dict[tuple[str, str], Callable[[], tuple[int, Any, str]]] = {
            ("GET", "/api/provisioning/sysinfo"): lambda: (
                200,
                {
                    "Version": node.version,
                    "SystemName": node.fqdn,
                    "ProductType": "Expressway",
                    "Role": "Edge" if node.role == "edge" else "Control",
                },
                "application/json",
            ),
            ("GET", "/api/provisioning/certs/root"): lambda: (200, "".join(node.trust), "text/plain"),
            ("POST", "/api/provisioning/certs/root"): lambda: self._mutate_expressway(
                fqdn, lambda: node.append_trust(multipart_file(headers, body))
            ),
            ("GET", "/api/provisioning/certs/server"): lambda: (200, "".join(node.server_chain), "text/plain"),
            ("POST", "/api/provisioning/certs/server"): lambda: self._mutate_expressway(
                fqdn, lambda: node.install_server(multipart_file(headers, body))
            ),
            ("GET", "/api/provisioning/certs/generate_csr"): lambda: (
                (200, node.pending_csr, "text/plain")
                if node.pending_csr
                else (404, {"Message": "No certificate signing request in progress"}, "application/json")
            ),
            ("POST", "/api/provisioning/certs/generate_csr"): lambda: self._generate_expressway_csr(node, body),
            ("GET", "/api/provisioning/common/cluster/peers"): lambda: (
                200,
                [{"PeerAddress": p} for p in node.cluster_peers],
                "application/json",
            ),
            ("GET", "/api/provisioning/common/domain"): lambda: (
                200,
                [
                    {"Name": d, "Sip": "On", "EdgeSip": "On", "EdgeXmpp": "Off", "XmppFederation": "Off"}
                    for d in node.domains
                ],
                "application/json",
            ),
        }
        if node.role == "control":
            routes[("GET", "/api/provisioning/controller/server/cucm")] = lambda: (
                200,
                [{"Publisher": p, "AxlUsername": self._axl_user(p)} for p in node.cucm_publishers],
                "application/json",
            )
            # ASSUMED shape (docs/real-deployments.md): the traversal client zone with its peers' addresses.
            routes[("GET", "/api/provisioning/controller/zone/traversalclient")] = lambda: (
                200, self._traversal_client_zones(fqdn), "application/json")
        handler = routes.get((method, path))
        if handler is None:
            known = any(p == path for _, p in routes)
            raise ProductError(405 if known else 404, "Method not allowed" if known else "Not found")
        return handler()

    def _traversal_client_zones(self, fqdn: str) -> list[dict[str, str]]:
        """The C's traversal client zone: named after its edge cluster, one PeerNAddress per edge peer."""
        zones: list[dict[str, str]] = []
        for cluster in self.inventory.control_clusters():
            edge = self.inventory.expressway.get(cluster.traversal or "")
            if edge is None or not any(p.fqdn == fqdn for p in cluster.peers):
                continue
            zone = {"Name": f"UT to {edge.name}", "Type": "TraversalClient"}
            zone.update({f"Peer{i}Address": p.fqdn for i, p in enumerate(edge.peers, start=1)})
            zones.append(zone)
        return zones

    def _mutate_expressway(self, fqdn: str, action: Callable[[], object]) -> tuple[int, Any, str]:
        with self.state.mutate(fqdn):
            action()
        return 200, OK_MESSAGE, "application/json"

    def _axl_user(self, publisher: str) -> str:
        login = self.credentials.logins.get((publisher, "cucm_axl"))
        return login[0] if login else ""

    def _generate_expressway_csr(self, node: ExpresswayNode, body: bytes) -> tuple[int, Any, str]:
        """As the box answers: no CSR in the body (read it with GET), `Conflict` while one is pending."""
        request = json_body(body)
        fqdns = request.get("Additional_FQDNS") or []
        if not isinstance(fqdns, list) or not all(isinstance(f, str) for f in fqdns):
            raise ProductError(400, "Additional_FQDNS must be a list of names")
        unknown = sorted(set(request) - EXPRESSWAY_CSR_KEYS)
        if unknown:
            raise ProductError(400, f"Unknown field(s): {', '.join(unknown)}")
        if str(request.get("DigestAlgorithm", "sha256")) not in ("sha1", "sha256", "sha384", "sha512"):
            raise ProductError(400, "DigestAlgorithm must be one of sha1, sha256, sha384, sha512")
        with self.state.mutate(node.fqdn):
            node.generate_csr(fqdns, int(request.get("KeyLength") or 2048))
        return 200, OK_MESSAGE, "application/json"

__all__ = ["ExpresswayTwin"]
