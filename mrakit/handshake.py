"""Real TLS handshakes with Python's ssl (OpenSSL): the proof beside the chain verdict, and the
`probe` client that records what a peer presents."""

from __future__ import annotations

import _ssl
import ctypes
import os
import secrets
import socket
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mrakit.errors import MrakitError
from mrakit.pki.certview import CertView
from mrakit.pki.load import load_certificates


@dataclass(frozen=True)
class HandshakeResult:
    ok: bool
    detail: str  # OpenSSL's reason when it failed
    presented: tuple[CertView, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "detail": self.detail, "presented": [c.subject for c in self.presented]}


_SSL_CTRL_MODE = 33
_SSL_MODE_NO_AUTO_CHAIN = 0x8
_VERIFY_BITS = {ssl.CERT_NONE: 0, ssl.CERT_OPTIONAL: 1, ssl.CERT_REQUIRED: 3}


@dataclass(frozen=True)
class Proof:
    """One real handshake beside the chain verdicts of the same connection."""

    connection: str
    client: str
    server: str
    listener: str
    chain_valid: bool
    chain_detail: str
    handshake: HandshakeResult
    shadowing: bool = False

    @property
    def agrees(self) -> bool:
        return self.chain_valid == self.handshake.ok

    def to_dict(self) -> dict[str, Any]:
        return {"connection": self.connection, "client": self.client, "server": self.server,
                "listener": self.listener, "chain_valid": self.chain_valid, "chain_detail": self.chain_detail,
                "handshake_ok": self.handshake.ok, "handshake_detail": self.handshake.detail, "agrees": self.agrees}


def send_own_certificate_only(context: ssl.SSLContext) -> bool:
    """Stop OpenSSL from completing our certificate's chain from the trust store when it sends it.

    The products send their own leaf only (MRA020), and a proof that sends more would pass where
    production fails. Python's ssl has no switch for SSL_MODE_NO_AUTO_CHAIN, so this sets it on
    the SSL_CTX behind the context through ctypes, after checking that the pointer found really is
    that SSL_CTX (its verify mode must read back as the context's). Returns False, changing
    nothing, where that check fails; callers then send what OpenSSL builds.
    """
    try:
        library = ctypes.CDLL(_ssl.__file__)
        pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
        if not pointer:
            return False
        library.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
        library.SSL_CTX_get_verify_mode.restype = ctypes.c_int
        if library.SSL_CTX_get_verify_mode(pointer) & 3 != _VERIFY_BITS[context.verify_mode]:
            return False
        library.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
        library.SSL_CTX_ctrl.restype = ctypes.c_long
        mode = library.SSL_CTX_ctrl(pointer, _SSL_CTRL_MODE, _SSL_MODE_NO_AUTO_CHAIN, None)
        return bool(mode & _SSL_MODE_NO_AUTO_CHAIN)
    except (OSError, AttributeError, ValueError, KeyError):
        return False


def _strict_context(context: ssl.SSLContext) -> ssl.SSLContext:
    # Pin the flags we mean: no partial chains (3.13 adds PARTIAL_CHAIN and X509_STRICT by default).
    context.verify_flags &= ~getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0)
    context.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _write_identity(directory: Path, certificate: CertView, key_pem: str) -> tuple[Path, Path]:
    cert_path, key_path = directory / "identity.pem", directory / "identity.key"
    cert_path.write_text(certificate.pem)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key_pem)
    return cert_path, key_path


def presented_chain(sock: ssl.SSLSocket) -> tuple[CertView, ...]:
    """The certificates the peer sent, in the order sent (public API from Python 3.13)."""
    getter = getattr(sock, "get_unverified_chain", None)
    if getter is None:
        sslobj = getattr(sock, "_sslobj", None)
        getter = getattr(sslobj, "get_unverified_chain", None)
    if getter is None:
        der = sock.getpeercert(binary_form=True)
        return tuple(load_certificates(der)) if der else ()
    chain = getter() or []
    certs: list[CertView] = []
    for item in chain:
        der = item if isinstance(item, bytes) else item.public_bytes(_ssl.ENCODING_DER)
        certs.extend(load_certificates(der))
    return tuple(certs)


Protocol = Literal["sip", "http"]


def service_request(protocol: Protocol, server_name: str) -> bytes:
    """The first words of the service's own protocol: a SIP OPTIONS (SIP TLS, the traversal zone) or
    an HTTP HEAD (tomcat). Real servers wait for the client to speak after the handshake."""
    if protocol == "http":
        return (f"HEAD / HTTP/1.1\r\nHost: {server_name}\r\nUser-Agent: mrakit\r\nConnection: close\r\n\r\n"
                ).encode()
    tag = secrets.token_hex(6)
    return ("\r\n".join([
        f"OPTIONS sip:{server_name} SIP/2.0",
        f"Via: SIP/2.0/TLS mrakit.invalid;branch=z9hG4bK{tag}",
        "Max-Forwards: 70",
        f"From: <sip:mrakit@mrakit.invalid>;tag={tag}",
        f"To: <sip:{server_name}>",
        f"Call-ID: {tag}@mrakit.invalid",
        "CSeq: 1 OPTIONS",
        "Accept: application/sdp",
        "Content-Length: 0",
    ]) + "\r\n\r\n").encode()


def mutual_tls(
    host: str,
    port: int,
    *,
    server_name: str,
    trust: Sequence[CertView],
    client_certificate: CertView | None = None,
    client_key_pem: str | None = None,
    protocol: Protocol = "sip",
    timeout: float = 5.0,
    answer_timeout: float = 3.0,
) -> HandshakeResult:
    """Connect as a TLS client that trusts exactly `trust`, presents `client_certificate` (its
    leaf only, as the products do), checks `server_name`, then speaks the service's protocol and
    reads the answer. A server that rejects the client certificate under TLS 1.3 says so only then
    (an alert, or a close without answering); one that stays silent for `answer_timeout` seconds
    sent no rejection and is counted as accepting, with that said in the detail."""
    context = _strict_context(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if trust:
        context.load_verify_locations(cadata="".join(c.pem for c in trust))
    send_own_certificate_only(context)
    with tempfile.TemporaryDirectory(prefix="mrakit-hs-") as tmp:
        if client_certificate is not None and client_key_pem:
            cert_path, key_path = _write_identity(Path(tmp), client_certificate, client_key_pem)
            try:
                context.load_cert_chain(cert_path, key_path)
            except ssl.SSLError as exc:
                return HandshakeResult(False, f"the client certificate and key cannot be used: {exc.reason or exc}")
        try:
            with socket.create_connection((host, port), timeout=timeout) as raw, \
                    context.wrap_socket(raw, server_hostname=server_name) as tls:
                presented = presented_chain(tls)
                version = tls.version()
                try:
                    tls.sendall(service_request(protocol, server_name))
                    tls.settimeout(answer_timeout)
                    data = tls.recv(256)
                except TimeoutError:
                    return HandshakeResult(True, f"handshake completed ({version}); no rejection within "
                                                 f"{answer_timeout:g} s of the {protocol.upper()} request "
                                                 "(the server did not answer it)", presented)
                except ssl.SSLError as exc:
                    return HandshakeResult(False, f"the server rejected the client certificate after the handshake "
                                                  f"({exc.reason or exc})", presented)
                except (ConnectionError, OSError) as exc:
                    return HandshakeResult(False, f"the server dropped the connection after the handshake "
                                                  f"({exc}): it rejected the client certificate", presented)
                if not data:
                    return HandshakeResult(False, "the server closed the connection after the handshake without "
                                                  "answering (it rejected the client certificate)", presented)
                first = data.split(b"\r\n", 1)[0].decode("ascii", "replace")[:60]
                return HandshakeResult(True, f"handshake completed ({version}); the server answered {first!r}",
                                       presented)
        except ssl.SSLCertVerificationError as exc:
            return HandshakeResult(False, f"client rejected the server certificate: {exc.verify_message}")
        except ssl.SSLError as exc:
            reason = exc.reason or str(exc)
            return HandshakeResult(False, f"TLS failure: {reason}")
        except (ConnectionError, TimeoutError, OSError) as exc:
            return HandshakeResult(False, f"connection failed: {exc}")


def probe(host: str, port: int, *, server_name: str | None = None, client_certificate: CertView | None = None,
          client_key_pem: str | None = None, timeout: float = 5.0) -> HandshakeResult:
    """Connect without judging trust and record the chain the peer presents (like `openssl s_client
    -showcerts`); trust is judged afterwards by mrakit's own semantics."""
    context = _strict_context(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with tempfile.TemporaryDirectory(prefix="mrakit-probe-") as tmp:
        if client_certificate is not None and client_key_pem:
            cert_path, key_path = _write_identity(Path(tmp), client_certificate, client_key_pem)
            try:
                context.load_cert_chain(cert_path, key_path)
            except ssl.SSLError as exc:
                reason = exc.reason or exc
                raise MrakitError(f"the client certificate and key cannot be used together: {reason}") from None
        try:
            with socket.create_connection((host, port), timeout=timeout) as raw, \
                    context.wrap_socket(raw, server_hostname=server_name or host) as tls:
                presented = presented_chain(tls)
                cipher = tls.cipher()
                return HandshakeResult(True, f"connected ({tls.version()}, {cipher[0] if cipher else 'no cipher'})",
                                       presented)
        except ssl.SSLError as exc:
            raise MrakitError(f"TLS handshake with {host}:{port} failed: {exc.reason or exc}") from None
        except (ConnectionError, TimeoutError, OSError) as exc:
            raise MrakitError(f"cannot connect to {host}:{port}: {exc}") from None
