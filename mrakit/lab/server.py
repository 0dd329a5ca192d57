"""The lab's network side: one HTTPS management API per node (Expressway REST, CUCM certmgr REST
and AXL) served by the product twins (mrakit.lab.expressway, mrakit.lab.cucm), and each node's own
TLS listeners (mrakit.lab.listeners), all on 127.0.0.1 with ports chosen by the OS. The Lab starts
and stops them and keeps the request log."""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mrakit.inventory.credentials import ResolvedCredentials
from mrakit.inventory.model import Inventory
from mrakit.lab.cucm import CucmTwin
from mrakit.lab.expressway import ExpresswayTwin
from mrakit.lab.faults import FaultInjector
from mrakit.lab.listeners import TlsListener, closed_port, management_context, tls_listeners
from mrakit.lab.model import ProductError
from mrakit.lab.pki import lab_authorities
from mrakit.lab.state import REQUEST_LOG, LabState

HANG_SECONDS = 30.0


@dataclass
class NodeEndpoint:
    api: str
    tls: dict[str, int] = field(default_factory=dict)
    axl: str | None = None  # CUCM: AXL has its own port (8443 on the product)


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
                status, payload, ctype = lab.expressway.request(node, method, url.path, body, self.headers)
            elif self.server.product == "cucm_axl":
                status, payload, ctype = lab.cucm.axl_request(node, method, url.path, body, self.headers)
            else:
                status, payload, ctype = lab.cucm.rest_request(node, method, url.path, parse_qs(url.query), body)
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
        self.expressway = ExpresswayTwin(inventory, state, credentials)
        self.cucm = CucmTwin(inventory, state)
        self._servers: list[_Server] = []
        self._listeners: list[TlsListener] = []
        self._held_ports: list[socket.socket] = []  # the ports of down nodes, kept from any other server
        self._threads: list[threading.Thread] = []
        self.stopping = threading.Event()
        self.tls_dir = state.directory / "tls"
        self.ca_bundle = inventory.defaults.api_tls.ca_bundle or state.directory / "mgmt-ca.pem"

    # lifecycle -----------------------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        self.cucm.start()
        cas = lab_authorities(self.state.directory)
        if not self.ca_bundle.exists():
            self.ca_bundle.parent.mkdir(parents=True, exist_ok=True)
            self.ca_bundle.write_text(cas.management.cert.pem)
        for fqdn in self.state.node_names():
            if self.faults.is_down(fqdn):
                held = closed_port()
                self._held_ports.append(held)
                self.endpoints[fqdn] = NodeEndpoint(api=f"https://127.0.0.1:{held.getsockname()[1]}")
                continue
            product = "expressway" if fqdn in self.state.expressway else "cucm"
            api_tls = (self.state, self.tls_dir, cas.management, fqdn)
            server = _Server(self, fqdn, product, management_context(*api_tls))
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=f"lab-{fqdn}", daemon=True
            )
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
            endpoint = NodeEndpoint(api=f"https://127.0.0.1:{server.server_address[1]}")
            if product == "cucm":
                axl = _Server(self, fqdn, "cucm_axl", management_context(*api_tls))
                axl_thread = threading.Thread(target=axl.serve_forever, kwargs={"poll_interval": 0.2},
                                              name=f"lab-axl-{fqdn}", daemon=True)
                axl_thread.start()
                self._servers.append(axl)
                self._threads.append(axl_thread)
                endpoint.axl = f"https://127.0.0.1:{axl.server_address[1]}"
            for name, listener in tls_listeners(self.state, self.tls_dir, fqdn).items():
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
        self.cucm.stop()
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
        for held in self._held_ports:
            held.close()
        self._servers.clear()
        self._listeners.clear()
        self._held_ports.clear()

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



def started_lab(inventory: Inventory, credentials: ResolvedCredentials) -> Lab:
    """Load the lab state next to `inventory` and start it."""
    state = LabState.load(inventory.lab_state_dir)
    lab = Lab(inventory, state, credentials)
    lab.start()
    return lab


__all__ = ["Lab", "NodeEndpoint", "started_lab"]
