"""Handshake proofs: a real mutual-TLS handshake beside each relation's Expressway-semantics verdict.
They agree on ordinary breakage; they must disagree on same-subject shadowing (MRA022), where
OpenSSL finds the entry the Expressway never looks at (HS001)."""

from __future__ import annotations

import datetime as dt
import importlib
import socket
import ssl
import threading
import time
from pathlib import Path

from _doctorkit import (
    CONTROL,
    EDGE,
    EXPC1,
    EXPC2,
    EXPE1,
    EXPE2,
    PASSWORDS,
    PUB,
    PUBLIC_ORG,
    PUBLIC_TLS_CA,
    findings,
    install_server,
    issue_for,
    parse,
    run_doctor,
)

from mrakit.diagnosis import doctor
from mrakit.handshake import HandshakeResult, mutual_tls, presented_chain, probe
from mrakit.inventory.credentials import resolve_credentials
from mrakit.lab.server import started_lab
from mrakit.pki.ca import CertificateAuthority
from mrakit.pki.certview import CLIENT_AUTH
from mrakit.pki.keys import private_key_pem, write_private_key
from mrakit.session import Session, connect

TRAVERSAL = "traversal zone (C→E)"


def proofs_from(report, client=None, connection=None):
    return [p for p in report.proofs if (client is None or p.client == client)
            and (connection is None or p.connection == connection)]


def drop_trust(d, fqdn, common_name):
    with d.lab_state() as state:
        node = state.expressway[fqdn]
        node.trust = [pem for pem, c in zip(node.trust, parse(node.trust), strict=True) if c.common_name != common_name]


# --- they agree ------------------------------------------------------------------------------------------

def test_agree_on_a_valid_deployment(applied):
    report = run_doctor(applied())
    assert len(report.proofs) == 16
    assert {p.connection for p in report.proofs} == {
        TRAVERSAL, "TLS Verify (C→CUCM tomcat)", "secure registration (C→CUCM SIP TLS)",
        "secure registration (CUCM→C SIP TLS)"}
    for proof in report.proofs:
        assert proof.chain_valid and proof.handshake.ok and proof.agrees, proof.to_dict()
    assert findings(report, "HS001") == []


def test_agree_on_a_missing_intermediate(deploy):
    report = run_doctor(deploy("missing-intermediate"))
    broken = [p for p in report.proofs if not p.chain_valid]
    assert {(p.client, p.server) for p in broken} == {(c, e) for c in CONTROL for e in EDGE}
    for proof in broken:
        assert proof.connection == TRAVERSAL and not proof.handshake.ok and proof.agrees
        assert PUBLIC_TLS_CA in proof.chain_detail
        assert "unable to get local issuer certificate" in proof.handshake.detail
    assert all(p.handshake.ok for p in report.proofs if p.chain_valid)
    assert findings(report, "HS001") == [] and report.summary()["disagreements"] == 0


def test_agree_on_an_intermediate_trusted_without_its_root(applied):
    d = applied()
    drop_trust(d, EXPC1, "MRA Lab Public Root CA")
    report = run_doctor(d)
    broken = [p for p in report.proofs if not p.chain_valid]
    assert {(p.client, p.server) for p in broken} == {(EXPC1, EXPE1), (EXPC1, EXPE2)}
    assert all(not p.handshake.ok and p.agrees for p in broken)
    assert findings(report, "HS001") == []


def test_agree_on_an_untrusted_self_signed_certificate(deploy):
    d = deploy("self-signed-cucm")
    state = d.state()
    own = {c.fingerprint_sha256 for s in ("tomcat", "CallManager") for c in parse(state.cucm[PUB].identities[s])}
    with d.lab_state() as state:
        node = state.expressway[EXPC1]
        node.trust = [pem for pem, c in zip(node.trust, parse(node.trust), strict=True)
                      if c.fingerprint_sha256 not in own]
    report = run_doctor(d)
    tls_verify = proofs_from(report, EXPC1, "TLS Verify (C→CUCM tomcat)")
    to_pub = [p for p in tls_verify if p.server == PUB]
    assert len(to_pub) == 1 and not to_pub[0].chain_valid and not to_pub[0].handshake.ok and to_pub[0].agrees
    assert "self-signed" in to_pub[0].handshake.detail
    assert "not in the trust list" in to_pub[0].chain_detail
    assert [f for f in findings(report, "HS001") if f.node == EXPC1] == []


def test_agree_on_a_wrong_eku(applied):
    d = applied()
    ca = d.cas().public_issuing
    install_server(d, EXPE1, issue_for(d, EXPE1, ca, ekus=(CLIENT_AUTH,)), [ca])  # no serverAuth
    report = run_doctor(d)
    broken = [p for p in report.proofs if not p.chain_valid]
    assert {(p.client, p.server) for p in broken} == {(EXPC1, EXPE1), (EXPC2, EXPE1)}
    for proof in broken:
        assert "lacks serverAuth" in proof.chain_detail
        assert not proof.handshake.ok and "certificate purpose" in proof.handshake.detail
        assert proof.agrees
    assert findings(report, "HS001") == []


# --- they must disagree -------------------------------------------------------------------------------------

def test_disagree_on_same_subject_shadowing(applied):
    d = applied()
    impostor_root = CertificateAuthority.create_root("MRA Lab Public Root CA", organization=PUBLIC_ORG)
    impostor = impostor_root.issue_intermediate(PUBLIC_TLS_CA, organization=PUBLIC_ORG)
    right = d.cas().public_issuing.cert
    assert impostor.cert.subject == right.subject and impostor.cert.fingerprint_sha256 != right.fingerprint_sha256
    with d.lab_state() as state:
        trust = state.expressway[EXPC1].trust
        trust.insert(next(i for i, c in enumerate(parse(trust)) if c == right), impostor.cert.pem)
    report = run_doctor(d)

    disagreeing = [p for p in report.proofs if not p.agrees]
    assert {(p.client, p.server, p.connection) for p in disagreeing} == {(EXPC1, e, TRAVERSAL) for e in EDGE}
    for proof in disagreeing:
        assert not proof.chain_valid and proof.handshake.ok and proof.shadowing
        assert proof.to_dict()["agrees"] is False
    assert report.summary()["disagreements"] == 2
    hs = findings(report, "HS001")
    assert [(f.node, f.severity.value) for f in hs] == [(EXPC1, "warning"), (EXPC1, "warning")]
    for finding in hs:
        assert "the chain verdict says invalid but the real handshake succeeded" in finding.message
        assert "the Expressway stops at the first (MRA022)" in finding.message
        assert finding.evidence["agrees"] is False and finding.evidence["handshake_ok"] is True
    # and the Expressway's view: the shadowing entry wins, the traversal zone fails on expc1
    shadowed = [f for f in findings(report, "MRA022", node=EXPC1) if "cannot validate" in f.message]
    assert len(shadowed) == 2 and all("shadowed_by_same_subject" in f.message for f in shadowed)
    assert all(p.agrees for p in report.proofs if p.client != EXPC1)


def test_shadowing_below_the_right_entry_is_harmless(applied):
    d = applied()
    impostor = CertificateAuthority.create_root("MRA Lab Public Root CA", organization=PUBLIC_ORG).issue_intermediate(
        PUBLIC_TLS_CA, organization=PUBLIC_ORG)
    with d.lab_state() as state:
        state.expressway[EXPC1].trust.append(impostor.cert.pem)
    report = run_doctor(d)
    assert report.summary()["disagreements"] == 0
    assert [f.severity.value for f in findings(report, "MRA022")] == ["warning"]  # listed, but no feature fails


# --- bugs in the proof itself ------------------------------------------------------------------------------

def test_mutual_tls_client_presents_only_its_leaf(tmp_path):
    root = CertificateAuthority.create_root("Proof Root", organization="Proof")
    issuing = root.issue_intermediate("Proof Issuing", organization="Proof")
    server = issuing.issue_leaf("server.proof.test", ["server.proof.test"])
    client = issuing.issue_leaf("client.proof.test", ["client.proof.test"])
    (tmp_path / "server.pem").write_text(server.cert.pem + issuing.cert.pem)
    write_private_key(tmp_path / "server.key", server.key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    context.verify_mode = ssl.CERT_OPTIONAL  # record what the client sends
    # The server can validate the leaf alone, so an extra certificate in what it records can only be sent.
    context.load_verify_locations(cadata=root.cert.pem + issuing.cert.pem)
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[list[str]] = []

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(5)
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                received.append([c.subject for c in presented_chain(tls)])
                tls.sendall(b"OK\n")
        except (OSError, ssl.SSLError) as exc:
            received.append([repr(exc)])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        mutual_tls("127.0.0.1", listener.getsockname()[1], server_name="server.proof.test",
                   trust=[root.cert, issuing.cert], client_certificate=client.cert,
                   client_key_pem=private_key_pem(client.key).decode())
        thread.join(10)
    finally:
        listener.close()
    assert received == [["CN=client.proof.test"]]


def test_lab_listener_presents_only_the_node_leaf(applied):
    d = applied()
    own_ca = d.cas().private_issuing.cert
    assert own_ca in parse(d.state().expressway[EXPC1].trust)  # expc1 trusts its own CA (for CUCM)
    with connect(d.inventory(), environ=PASSWORDS) as connections:
        port = connections.lab.endpoints[EXPC1].tls["sip-tls"]
        presented = probe("127.0.0.1", port, server_name=EXPC1).presented
    assert [c.subject for c in presented] == ["CN=expc.acme.local"]


def test_peer_drift_proofs_agree(deploy):
    report = run_doctor(deploy("peer-drift"))
    assert findings(report, "HS001") == [], [f.message for f in findings(report, "HS001")]


def test_doctor_with_connections_to_a_lab_already_running(applied):
    d = applied()
    # loopback addresses: the misdirected handshakes are refused at once instead of leaving the machine
    d.edit(lambda data: [p.update(address=f"127.0.0.{2 + i}") for i, p in enumerate(
        data["expressway"]["exp-e"]["peers"] + data["expressway"]["exp-c"]["peers"])])
    inventory = d.inventory()
    lab = started_lab(inventory, resolve_credentials(inventory, PASSWORDS))
    try:
        with connect(inventory, environ=PASSWORDS, lab=lab) as connections:
            report = doctor(inventory, connections=connections, workers=1)
    finally:
        lab.stop()
    assert len(report.proofs) == 16 and report.summary()["disagreements"] == 0, report.summary()


def test_lab_listener_context_is_thread_safe(applied, monkeypatch):
    d = applied()
    with connect(d.inventory(), environ=PASSWORDS) as connections:
        tls_dir = connections.lab.tls_dir
        port = connections.lab.endpoints[PUB].tls["tomcat"]
        original_write, original_load = Path.write_text, ssl.SSLContext.load_cert_chain

        def slow_write(self, data, *args, **kwargs):  # a busy disk: truncated first, written 0.5 s later
            if self.parent == tls_dir and self.name.endswith("-tomcat.pem"):
                with open(self, "w") as handle:
                    handle.flush()
                    time.sleep(0.5)
                    handle.write(data)
                return len(data)
            return original_write(self, data, *args, **kwargs)

        def slow_load(self, *args, **kwargs):
            time.sleep(0.5)
            return original_load(self, *args, **kwargs)

        monkeypatch.setattr(Path, "write_text", slow_write)
        monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", slow_load)
        outcomes: list[str] = []

        def handshake() -> None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                        context.wrap_socket(raw, server_hostname=PUB):
                    outcomes.append("ok")
            except (OSError, ssl.SSLError) as exc:
                outcomes.append(repr(exc))

        # the first connection truncates its file at 0.0 s, writes it at 0.5 s and loads it at 1.0 s; the
        # second one truncates the same file at 0.75 s and writes it at 1.25 s: the first loads an empty file
        first = threading.Thread(target=handshake)
        second = threading.Thread(target=handshake)
        first.start()
        time.sleep(0.75)
        second.start()
        first.join(10)
        second.join(10)
        monkeypatch.undo()
    assert outcomes == ["ok", "ok"]


def test_doctor_at_another_date_reports_no_false_disagreement(applied):
    d = applied()
    expiry = parse(d.state().expressway[EXPE1].server_chain)[0].not_after
    report = run_doctor(d, at=expiry + dt.timedelta(days=1))
    assert findings(report, "MRA007")  # the verdicts see the expiry
    assert findings(report, "HS001") == []


def test_handshakes_without_a_lab_go_to_the_inventory_addresses(applied, monkeypatch):
    d = applied()
    inventory = d.inventory()
    calls: list[tuple[str, str, int]] = []

    def record(host, port, *, server_name, **kwargs):
        calls.append((server_name, host, port))
        return HandshakeResult(False, "not attempted")

    # (the package exports the function `doctor`, which hides the module of the same name)
    monkeypatch.setattr(importlib.import_module("mrakit.diagnosis"), "mutual_tls", record)
    with connect(inventory, environ=PASSWORDS) as lab_connections:
        # adapters as for real nodes: nothing says where a lab listens
        rest = Session(expressway=lab_connections.expressway, cucm=lab_connections.cucm)
        doctor(inventory, connections=rest)
    targets = {name: (host, port) for name, host, port in calls}
    assert targets[EXPE1] == ("198.51.100.11", 7001)
    assert targets[EXPE2] == ("198.51.100.12", 7001)
    assert targets[PUB] == ("192.0.2.31", 8443) or targets[PUB] == ("192.0.2.31", 5061), targets[PUB]
