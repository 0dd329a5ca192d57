"""The lab's TLS listeners on 127.0.0.1 (ports chosen by the OS): each node's management API
context, and its own TLS services (Expressway-E traversal, Expressway-C and CUCM SIP TLS, CUCM
tomcat), which use the node's current certificate, key and trust list on every connection."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path

from mrakit.handshake import send_own_certificate_only
from mrakit.lab.state import LabState
from mrakit.pki.ca import CertificateAuthority
from mrakit.pki.certview import SERVER_AUTH
from mrakit.pki.keys import private_key_pem


def management_context(state: LabState, tls_dir: Path, ca: CertificateAuthority, fqdn: str) -> ssl.SSLContext:
    """The TLS context of a node's management API: a certificate from the lab's management CA."""
    tls_dir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = tls_dir / f"{fqdn}-api.pem", tls_dir / f"{fqdn}-api.key"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with state.lock:  # labs of other processes on this state folder write the same files
        if not cert_path.exists() or not key_path.exists():
            issued = ca.issue_leaf(fqdn, [fqdn, "localhost"], ekus=(SERVER_AUTH,), ip_addresses=["127.0.0.1"],
                                   days=825)
            cert_path.write_text(issued.cert.pem + ca.cert.pem)
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(private_key_pem(issued.key))
        context.load_cert_chain(cert_path, key_path)
    return context


def tls_listeners(state: LabState, tls_dir: Path, fqdn: str) -> dict[str, TlsListener]:
    """The node's own TLS services: traversal (an Expressway-E), SIP TLS (an Expressway-C and CUCM),
    tomcat (CUCM)."""
    if fqdn in state.expressway:
        node = state.expressway[fqdn]

        def get() -> tuple[list[str], str, list[str]]:
            return node.server_chain, node.server_key, node.trust

        if node.role == "edge":
            return {"traversal": TlsListener(state, tls_dir, fqdn, "traversal", get, require_client=True)}
        return {"sip-tls": TlsListener(state, tls_dir, fqdn, "sip-tls", get, require_client=True)}
    cnode = state.cucm[fqdn]
    return {
        "tomcat": TlsListener(
            state,
            tls_dir,
            fqdn,
            "tomcat",
            lambda: (
                cnode.identities["tomcat"],
                cnode.identity_keys["tomcat"],
                cnode.trust.get("tomcat-trust", []),
            ),
            require_client=False,
        ),
        "sip-tls": TlsListener(
            state,
            tls_dir,
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


def closed_port() -> socket.socket:
    """A port nothing listens on, held (bound, never listening) until the socket is closed: a down
    node refuses connections, and no other server of the lab can be given the same port meanwhile."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


class TlsListener:
    """A node's own TLS service, using its current certificate, key and trust list on every
    connection, so that a real handshake proves or disproves trust after any change."""

    def __init__(
        self,
        state: LabState,
        tls_dir: Path,
        fqdn: str,
        name: str,
        material: Callable[[], tuple[list[str], str, list[str]]],
        *,
        require_client: bool,
    ) -> None:
        self.state = state
        self.tls_dir = tls_dir
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
        with self.state.lock:
            chain, key, trust = self.material()
            chain, trust = list(chain), list(trust)
        digest = hashlib.sha256(("".join(chain) + key + "".join(trust)).encode()).hexdigest()
        # Two first connections at once must not write the files together, in this process or in
        # another process's lab on the same state folder (the state lock is an flock too).
        with self._context_lock, self.state.lock:
            cached = self._cache.get(digest)
            if cached is not None:
                return cached
            directory = self.tls_dir
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



__all__ = ["TlsListener", "closed_port", "management_context", "tls_listeners"]
