"""Handshake proofs against servers that behave like real SIP and HTTPS services: after the handshake
they wait for the client to speak. The proof speaks first (SIP OPTIONS, HTTP HEAD) and reads the
answer; a TLS 1.3 rejection of the client certificate shows up on that read."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mrakit.handshake import mutual_tls
from mrakit.pki.ca import BOTH_EKUS, CertificateAuthority
from mrakit.pki.keys import private_key_pem

SERVER = "sip.acme.local"

Behaviour = Callable[[ssl.SSLSocket], None]


def answers(tls: ssl.SSLSocket) -> None:
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = tls.recv(4096)
        if not chunk:
            return
        request += chunk
    first = request.split(b"\r\n", 1)[0]
    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" if first.endswith(b"HTTP/1.1")
                else b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")


def reads_and_stays_silent(tls: ssl.SSLSocket) -> None:
    tls.recv(4096)
    tls.recv(4096)  # until the client gives up and closes


class Server:
    """A TLS server on loopback that requires a client certificate from `client_ca` and then behaves."""

    def __init__(self, tmp: Path, server_ca: CertificateAuthority, client_ca: CertificateAuthority,
                 behaviour: Behaviour, max_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3) -> None:
        issued = server_ca.issue_leaf(SERVER, [SERVER], ekus=BOTH_EKUS)
        (tmp / "server.pem").write_text(issued.cert.pem)
        (tmp / "server.key").write_bytes(private_key_pem(issued.key))
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.maximum_version = max_version
        self.context.load_cert_chain(tmp / "server.pem", tmp / "server.key")
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.load_verify_locations(cadata=client_ca.cert.pem)
        self.behaviour = behaviour
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(10)
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    self.behaviour(tls)
            except (ssl.SSLError, OSError):
                pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def cas() -> tuple[CertificateAuthority, CertificateAuthority, CertificateAuthority]:
    """The server's CA, the CA the server trusts for clients, and a stranger's CA."""
    return (CertificateAuthority.create_root("Server CA"), CertificateAuthority.create_root("Client CA"),
            CertificateAuthority.create_root("Stranger CA"))


@pytest.fixture
def server(tmp_path: Path, cas: tuple[CertificateAuthority, ...]) -> Iterator[Callable[..., Server]]:
    made: list[Server] = []

    def make(behaviour: Behaviour, max_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3) -> Server:
        directory = tmp_path / f"server{len(made)}"
        directory.mkdir()
        made.append(Server(directory, cas[0], cas[1], behaviour, max_version))
        return made[-1]

    yield make
    for item in made:
        item.close()


def prove(port: int, server_ca: CertificateAuthority, client_ca: CertificateAuthority, protocol: str = "sip"):
    client = client_ca.issue_leaf("expc1.acme.local", ["expc1.acme.local"], ekus=BOTH_EKUS)
    return mutual_tls("127.0.0.1", port, server_name=SERVER, trust=[server_ca.cert], client_certificate=client.cert,
                      client_key_pem=private_key_pem(client.key).decode("ascii"), protocol=protocol,  # type: ignore[arg-type]
                      timeout=5, answer_timeout=1.0)


@pytest.mark.parametrize("protocol", ["sip", "http"])
def test_accepted_when_the_server_answers_the_request(server, cas, protocol) -> None:
    result = prove(server(answers).port, cas[0], cas[1], protocol)
    assert result.ok, result.detail
    answer = "SIP/2.0 200 OK" if protocol == "sip" else "HTTP/1.1 200 OK"
    assert "TLSv1.3" in result.detail and answer in result.detail


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_rejected_when_the_server_refuses_the_client_certificate(server, cas, version) -> None:
    # the stranger's certificate: the server does not trust its CA (TLS 1.3 says so only on the first read)
    result = prove(server(answers, version).port, cas[0], cas[2])
    assert not result.ok
    assert "reject" in result.detail or "TLS failure" in result.detail, result.detail


def test_silence_after_the_request_counts_as_acceptance_and_says_so(server, cas) -> None:
    result = prove(server(reads_and_stays_silent).port, cas[0], cas[1])
    assert result.ok
    assert "no rejection within 1 s" in result.detail


def test_the_server_certificate_is_still_checked(server, cas) -> None:
    result = prove(server(answers).port, cas[2], cas[1])  # the client trusts the stranger, not the server's CA
    assert not result.ok and "rejected the server certificate" in result.detail
