"""The lab's network side: one HTTPS management API per node (Expressway REST, CUCM certmgr REST
and AXL), and each node's own TLS listeners (Expressway-E traversal, Expressway-C and CUCM SIP TLS,
CUCM tomcat), all on 127.0.0.1 with ports chosen by the OS."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import socket
import ssl
import struct
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from mrakit.handshake import send_own_certificate_only
from mrakit.inventory.credentials import ResolvedCredentials
from mrakit.inventory.model import Inventory
from mrakit.lab.faults import FaultInjector
from mrakit.lab.model import CUCM_UNIT_SERVICES, SERVICE_UNITS, CucmNode, ExpresswayNode, ProductError
from mrakit.lab.pki import lab_authorities
from mrakit.lab.state import REQUEST_LOG, LabState
from mrakit.pki.ca import CertificateAuthority
from mrakit.pki.certview import SERVER_AUTH
from mrakit.pki.keys import private_key_pem

OK_MESSAGE = {"Message": "The operation was successful"}
# The request keys seen in working code for POST certs/generate_csr; the CN is the box's own name.
EXPRESSWAY_CSR_KEYS = {"Additional_FQDNS", "Country", "Province", "Locality", "Organization", "OrganizationalUnit",
                       "Email", "KeyLength", "DigestAlgorithm"}
HANG_SECONDS = 30.0


@dataclass
class NodeEndpoint:
    api: str
    tls: dict[str, int] = field(default_factory=dict)
    axl: str | None = None  # CUCM: AXL has its own port (8443 on the product)


# From X14.2 the Expressway requires X-CSRF-Header on POSTs to these endpoints only (X15.0 Administrator
# Guide, "Expressway Interfaces"); certs/root, certs/server and generate_csr are not among them.
CSRF_PROTECTED = re.compile(r"^/api/[a-z]+/(?:.*/)?(?:restart|defaultlinks|restartservice|domaincerts/[^/]+|"
                            r"certs/acme/pendingcert(?:/deploy)?)$")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, lab: Lab, node: str, product: str, context: ssl.SSLContext) -> None:
        # product: "expressway", "cucm" (the platform API) or "cucm_axl" (AXL, on its own port)
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lab = lab
        self.node = node
        self.product = product
        self.context = context

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two TLS records: with Nagle on, the body waits for the client's
    # delayed ACK and nearly every answer took 40 ms.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return  # the lab keeps its own request log, without bodies or credentials

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(60)

    def handle_one_request(self) -> None:
        try:
            if isinstance(self.connection, ssl.SSLSocket) and not getattr(self, "_shaken", False):
                self.connection.do_handshake()
                self._shaken = True
            super().handle_one_request()
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError):
            self.close_connection = True

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    # plumbing ----------------------------------------------------------------------------
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        data = (
            payload
            if isinstance(payload, bytes)
            else (payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
        )
        # Log before answering: a client that has its answer must find the request in the log.
        self.server.lab.log(self.server.node, self.command, self.path, status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _reset(self) -> None:
        self.server.lab.log(self.server.node, self.command, self.path, 0, fault="reset")
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        except OSError:
            pass
        self.close_connection = True

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            api = self.server.product
            return self.server.lab.credentials.accepts(self.server.node, api, user, password)  # type: ignore[arg-type]
        return False

    def _dispatch(self, method: str) -> None:
        lab = self.server.lab
        node = self.server.node
        decision = lab.faults.decide(node)
        if decision.delay_s:
            time.sleep(decision.delay_s)
        body = self._body()
        # A read fails before it is served. A write is carried out first and only its answer is lost
        # (reset or hang): the outcome the client cannot know, which it must reconcile by reading.
        is_write = method != "GET" and self.server.product != "cucm_axl"
        if decision.hang and not is_write:
            self._hang()
            return
        if decision.error:
            self._send(503, {"Message": "Service temporarily unavailable"})
            return
        if decision.reset and not is_write:
            self._reset()
            return
        if not self._authorised():
            lab.log(node, method, self.path, 401)
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="lab"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        url = urlsplit(self.path)
        lab.state.sync(node)  # another process using the same state folder may have changed it
        try:
            if self.server.product == "expressway":
                status, payload, ctype = lab.expressway_request(node, method, url.path, body, self.headers)
            elif self.server.product == "cucm_axl":
                status, payload, ctype = lab.axl_request(node, method, url.path, body, self.headers)
            else:
                status, payload, ctype = lab.cucm_request(node, method, url.path, parse_qs(url.query), body)
        except ProductError as exc:
            status, payload, ctype = exc.status, {"Message": exc.message}, "application/json"
        if decision.reset:
            self._reset()
            return
        if decision.hang:
            self._hang()
            return
        self._send(status, payload, ctype)

    def _hang(self) -> None:
        self.server.lab.log(self.server.node, self.command, self.path, 0, fault="hang")
        self.server.lab.stopping.wait(HANG_SECONDS)
        self.close_connection = True


def _multipart_file(headers: Any, body: bytes) -> str:
    content_type = headers.get("Content-Type", "")
    if "multipart/form-data" not in content_type:
        raise ProductError(400, "Expected multipart/form-data with a 'file' field")
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)
    raise ProductError(400, "No 'file' field in the upload")


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body or b"{}")
    except ValueError:
        raise ProductError(400, "The request body is not valid JSON") from None


class Lab:
    """A running lab for one inventory. `start()` opens every listener; `stop()` closes them."""

    def __init__(self, inventory: Inventory, state: LabState, credentials: ResolvedCredentials) -> None:
        self.inventory = inventory
        self.state = state
        self.credentials = credentials
        self.faults = FaultInjector(inventory.lab)
        self.endpoints: dict[str, NodeEndpoint] = {}
        self.request_log: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()
        self._servers: list[_Server] = []
        self._listeners: list[_TlsListener] = []
        self._threads: list[threading.Thread] = []
        self._timers: list[threading.Timer] = []
        self.stopping = threading.Event()
        self.tls_dir = state.directory / "tls"
        self.ca_bundle = inventory.defaults.api_tls.ca_bundle or state.directory / "mgmt-ca.pem"

    # lifecycle -----------------------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        self.replicate_due()  # what came due while the lab was not running
        pending = [due for due in self.state.replication_due.values()]
        if pending:
            timer = threading.Timer(max(0.0, max(pending) - time.time()) + 0.01, self.replicate_due)
            timer.daemon = True
            self._timers.append(timer)
            timer.start()
        cas = lab_authorities(self.state.directory)
        if not self.ca_bundle.exists():
            self.ca_bundle.parent.mkdir(parents=True, exist_ok=True)
            self.ca_bundle.write_text(cas.management.cert.pem)
        for fqdn in self.state.node_names():
            if self.faults.is_down(fqdn):
                self.endpoints[fqdn] = NodeEndpoint(api=f"https://127.0.0.1:{_closed_port()}")
                continue
            product = "expressway" if fqdn in self.state.expressway else "cucm"
            server = _Server(self, fqdn, product, self._management_context(cas.management, fqdn))
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=f"lab-{fqdn}", daemon=True
            )
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
            endpoint = NodeEndpoint(api=f"https://127.0.0.1:{server.server_address[1]}")
            if product == "cucm":
                axl = _Server(self, fqdn, "cucm_axl", self._management_context(cas.management, fqdn))
                axl_thread = threading.Thread(target=axl.serve_forever, kwargs={"poll_interval": 0.2},
                                              name=f"lab-axl-{fqdn}", daemon=True)
                axl_thread.start()
                self._servers.append(axl)
                self._threads.append(axl_thread)
                endpoint.axl = f"https://127.0.0.1:{axl.server_address[1]}"
            for name, listener in self._tls_listeners(fqdn).items():
                listener.start()
                self._listeners.append(listener)
                endpoint.tls[name] = listener.port
            self.endpoints[fqdn] = endpoint
        return self.describe()

    def describe(self) -> dict[str, Any]:
        return {
            "ca_bundle": str(self.ca_bundle),
            "nodes": {fqdn: {"api": e.api, **({"axl": e.axl} if e.axl else {}), "tls": dict(e.tls)}
                      for fqdn, e in self.endpoints.items()},
        }

    def stop(self) -> None:
        self.stopping.set()
        for timer in self._timers:
            timer.cancel()
        # shutdown() waits for its serve loop's next poll (0.2 s): ask every server at once, not one
        # after another (200 nodes took 15 s to stop).
        stoppers = [threading.Thread(target=server.shutdown, daemon=True) for server in self._servers]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        for server in self._servers:
            server.server_close()
        for listener in self._listeners:
            listener.stop()
        self._servers.clear()
        self._listeners.clear()

    def __enter__(self) -> Lab:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # request log ---------------------------------------------------------------------------
    def log(self, node: str, method: str, path: str, status: int, fault: str | None = None) -> None:
        entry = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "node": node,
            "method": method,
            "path": path,
            "status": status,
        }
        if fault:
            entry["fault"] = fault
        with self._log_lock:
            self.request_log.append(entry)
            with (self.state.directory / REQUEST_LOG).open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")

    def writes(self) -> list[dict[str, Any]]:
        """Requests that could change state: every method but GET (AXL reads are POSTs to /axl/)."""
        return [e for e in self.request_log if e["method"] != "GET" and not e["path"].startswith("/axl")]

    # TLS -----------------------------------------------------------------------------------
    def _management_context(self, ca: CertificateAuthority, fqdn: str) -> ssl.SSLContext:
        self.tls_dir.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = self.tls_dir / f"{fqdn}-api.pem", self.tls_dir / f"{fqdn}-api.key"
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        with self.state.lock:  # labs of other processes on this state folder write the same files
            if not cert_path.exists() or not key_path.exists():
                issued = ca.issue_leaf(fqdn, [fqdn, "localhost"], ekus=(SERVER_AUTH,), ip_addresses=["127.0.0.1"],
                                       days=825)
                cert_path.write_text(issued.cert.pem + ca.cert.pem)
                fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(private_key_pem(issued.key))
            context.load_cert_chain(cert_path, key_path)
        return context

    def _tls_listeners(self, fqdn: str) -> dict[str, _TlsListener]:
        if fqdn in self.state.expressway:
            node = self.state.expressway[fqdn]

            def get() -> tuple[list[str], str, list[str]]:
                return node.server_chain, node.server_key, node.trust

            if node.role == "edge":
                return {"traversal": _TlsListener(self, fqdn, "traversal", get, require_client=True)}
            return {"sip-tls": _TlsListener(self, fqdn, "sip-tls", get, require_client=True)}
        cnode = self.state.cucm[fqdn]
        return {
            "tomcat": _TlsListener(
                self,
                fqdn,
                "tomcat",
                lambda: (
                    cnode.identities["tomcat"],
                    cnode.identity_keys["tomcat"],
                    cnode.trust.get("tomcat-trust", []),
                ),
                require_client=False,
            ),
            "sip-tls": _TlsListener(
                self,
                fqdn,
                "sip-tls",
                lambda: (
                    cnode.identities["CallManager"],
                    cnode.identity_keys["CallManager"],
                    cnode.trust.get("CallManager-trust", []),
                ),
                require_client=True,
            ),
        }

    # Expressway API ------------------------------------------------------------------------
    def expressway_request(self, fqdn: str, method: str, path: str, body: bytes, headers: Any) -> tuple[int, Any, str]:
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
                fqdn, lambda: node.append_trust(_multipart_file(headers, body))
            ),
            ("GET", "/api/provisioning/certs/server"): lambda: (200, "".join(node.server_chain), "text/plain"),
            ("POST", "/api/provisioning/certs/server"): lambda: self._mutate_expressway(
                fqdn, lambda: node.install_server(_multipart_file(headers, body))
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
        request = _json_body(body)
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

    # CUCM API ------------------------------------------------------------------------------
    def axl_request(self, fqdn: str, method: str, path: str, body: bytes, headers: Any) -> tuple[int, Any, str]:
        if method != "POST" or path.rstrip("/") != "/axl":
            raise ProductError(404, "Not found")
        return self._axl(self.state.cucm[fqdn], body, headers)

    def cucm_request(
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
            request = _json_body(body)
            services, certificates = request.get("service") or [], request.get("certificates") or []
            if not services or not certificates:
                raise ProductError(400, "service and certificates are required")
            with self.state.mutate(fqdn):
                for name in services:
                    for pem in certificates:
                        node.add_trust(SERVICE_UNITS.get(name, name), pem)
            self._replicate(node)
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
            request = _json_body(body)
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
            request = _json_body(body)
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

    def _replicate(self, source: CucmNode) -> None:
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


def _closed_port() -> int:
    """A port nothing listens on: a down node refuses connections."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _TlsListener:
    """A node's own TLS service, using its current certificate, key and trust list on every
    connection, so that a real handshake proves or disproves trust after any change."""

    def __init__(
        self,
        lab: Lab,
        fqdn: str,
        name: str,
        material: Callable[[], tuple[list[str], str, list[str]]],
        *,
        require_client: bool,
    ) -> None:
        self.lab = lab
        self.fqdn = fqdn
        self.name = name
        self.material = material
        self.require_client = require_client
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.port = int(self.sock.getsockname()[1])
        self._stop = threading.Event()
        self._cache: dict[str, ssl.SSLContext] = {}
        self._context_lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._serve, name=f"tls-{self.fqdn}-{self.name}", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.sock.close()

    def context(self) -> ssl.SSLContext:
        with self.lab.state.lock:
            chain, key, trust = self.material()
            chain, trust = list(chain), list(trust)
        digest = hashlib.sha256(("".join(chain) + key + "".join(trust)).encode()).hexdigest()
        # Two first connections at once must not write the files together, in this process or in
        # another process's lab on the same state folder (the state lock is an flock too).
        with self._context_lock, self.lab.state.lock:
            cached = self._cache.get(digest)
            if cached is not None:
                return cached
            directory = self.lab.tls_dir
            directory.mkdir(parents=True, exist_ok=True)
            cert_file = directory / f"{self.fqdn}-{self.name}.pem"
            key_file = directory / f"{self.fqdn}-{self.name}.key"
            # Only the node's own certificate, as on the products (MRA020): OpenSSL must not complete
            # the chain from the trust list either (send_own_certificate_only).
            cert_file.write_text(chain[0])
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(key)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert_file, key_file)
            context.verify_mode = ssl.CERT_REQUIRED if self.require_client else ssl.CERT_OPTIONAL
            send_own_certificate_only(context)
            if trust:
                context.load_verify_locations(cadata="".join(trust))
            self._cache = {digest: context}
            return context

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        """Like the products' SIP and HTTPS services: after the handshake the server waits for the
        client to speak, answers one request, and closes."""
        conn.settimeout(10)
        try:
            with self.context().wrap_socket(conn, server_side=True) as tls:
                request = b""
                while b"\r\n\r\n" not in request and len(request) < 16384:
                    chunk = tls.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                tls.sendall(_service_answer(self.name, request))
        except (ssl.SSLError, OSError):
            pass
        finally:
            conn.close()


def _service_answer(listener: str, request: bytes) -> bytes:
    """A SIP answer on SIP TLS and the traversal zone (200 to OPTIONS), an HTTP one on tomcat."""
    lines = request.decode("utf-8", "replace").split("\r\n")
    if listener == "tomcat":
        ok = lines[0].endswith(("HTTP/1.1", "HTTP/1.0"))
        status = "200 OK" if ok else "400 Bad Request"
        return f"HTTP/1.1 {status}\r\nServer: lab\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
    if not lines[0].endswith("SIP/2.0"):
        return b"SIP/2.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
    status = "200 OK" if lines[0].startswith("OPTIONS ") else "501 Not Implemented"
    echoed = [line for line in lines[1:] if line.split(":", 1)[0].strip().lower() in
              ("via", "from", "to", "call-id", "cseq")]
    return ("\r\n".join([f"SIP/2.0 {status}", *echoed, "Content-Length: 0"]) + "\r\n\r\n").encode()


def started_lab(inventory: Inventory, credentials: ResolvedCredentials) -> Lab:
    """Load the lab state next to `inventory` and start it."""
    state = LabState.load(inventory.lab_state_dir)
    lab = Lab(inventory, state, credentials)
    lab.start()
    return lab


__all__ = ["Lab", "NodeEndpoint", "started_lab"]
