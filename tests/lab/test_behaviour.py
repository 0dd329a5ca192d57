"""The lab behaves like the products, observed through the REST adapters (the lab's own state is only
read, to observe what the adapters cannot see)."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from _labkit import MRAKIT, PASSWORDS, new_root, record_responses

from mrakit.errors import AdapterError, AuthError
from mrakit.inventory.load import load_inventory
from mrakit.inventory.versions import ExpresswayVersion
from mrakit.lab.seed import SCENARIOS, init_lab
from mrakit.lab.state import REQUEST_LOG, STATE_FILE, LabState
from mrakit.pki.ca import BOTH_EKUS
from mrakit.pki.certview import CLIENT_AUTH, SERVER_AUTH
from mrakit.session import Session, connect

EXPE1, EXPE2, EXPC1, EXPC2 = "expe1.acme.com", "expe2.acme.com", "expc1.acme.local", "expc2.acme.local"
PUB, SUB = "cucm-pub.acme.local", "cucm-sub1.acme.local"
ALL_NODES = {EXPE1, EXPE2, EXPC1, EXPC2, PUB, SUB}
SECRETS = tuple(PASSWORDS.values())
LOG_KEYS = {"time", "node", "method", "path", "status", "fault"}


def raw_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies and no REQUESTS_CA_BUNDLE from the environment
    return session


def assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a password appears in {where}"


# --- EKU rules by version ----------------------------------------------------------------------------

EKU_CASES = [
    # version, server_eku_upload on the edge, node, accepted
    pytest.param("X15.3", False, EXPE1, False, id="X15.3-edge-refuses"),
    pytest.param("X15.3", False, EXPC1, False, id="X15.3-control-refuses"),
    pytest.param("X15.3", True, EXPE1, False, id="X15.3-edge-with-upload-flag-still-refuses"),
    pytest.param("X15.4", True, EXPE1, True, id="X15.4-edge-with-upload-accepts"),
    pytest.param("X15.4", False, EXPE1, False, id="X15.4-edge-without-upload-refuses"),
    pytest.param("X15.4", True, EXPC1, False, id="X15.4-control-refuses"),
    pytest.param("X15.5.1", False, EXPE1, True, id="X15.5-edge-accepts"),
    pytest.param("X15.5.1", False, EXPC1, True, id="X15.5-control-accepts"),
]


@pytest.mark.parametrize(("version", "upload", "fqdn", "accepted"), EKU_CASES)
def test_server_auth_only_certificate_by_version(make_deployment: Callable[..., Any],
                                                 open_connections: Callable[..., Session],
                                                 version: str, upload: bool, fqdn: str, accepted: bool) -> None:
    deployment = make_deployment(overrides={"expressway": {
        "exp-e": {"version": version, "server_eku_upload": upload}, "exp-c": {"version": version}}})
    node = open_connections(deployment.path).expressway[fqdn]
    assert ExpresswayVersion.parse(node.version()) == ExpresswayVersion.parse(version)
    before = node.server_certificate()
    csr = node.generate_csr(fqdn, (fqdn,))
    ca = new_root("EKU Root")
    server_only = ca.sign_csr(csr, ekus=(SERVER_AUTH,))
    assert server_only.allows_purpose(SERVER_AUTH) and not server_only.allows_purpose(CLIENT_AUTH)
    if accepted:
        node.install_server_certificate((server_only, ca.cert))
        assert node.server_certificate() == (server_only, ca.cert)
        return
    with pytest.raises(AdapterError) as caught:
        node.install_server_certificate((server_only, ca.cert))
    message = str(caught.value)
    assert caught.value.status == 400
    assert caught.value.node == fqdn
    assert "extended key usage" in message
    assert "TLS Web Client Authentication" in message  # names the missing EKU, as the web UI does
    assert "TLS Web Server Authentication" not in message  # and only the missing one
    assert node.server_certificate() == before
    # the refusal kept the pending CSR: the same key with both EKUs is accepted
    both = ca.sign_csr(csr, ekus=BOTH_EKUS)
    node.install_server_certificate((both, ca.cert))
    assert node.server_certificate()[0] == both


# --- the private key never leaves the node -----------------------------------------------------------

def test_private_keys_never_leave_the_lab(make_deployment: Callable[..., Any],
                                          open_connections: Callable[..., Session]) -> None:
    deployment = make_deployment()
    connections = open_connections(deployment.path)
    bodies = record_responses(connections)
    ca = new_root("Key Leak Root")
    for fqdn, node in connections.expressway.items():
        node.version()
        node.trusted_cas()
        node.server_certificate()
        csr = node.generate_csr(fqdn, (fqdn,))
        node.install_server_certificate((ca.sign_csr(csr), ca.cert))
        node.generate_csr(fqdn, (fqdn,))  # left pending: the node holds a key nobody has seen
    for fqdn, cucm in connections.cucm.items():
        cucm.version()
        cucm.phone_security_profiles()
        cucm.process_nodes()
        for unit in ("tomcat-trust", "CallManager-trust"):
            cucm.add_trusted_certificate(unit, ca.cert)  # CUCM installs an identity only with its CA trusted
        for service in ("tomcat", "CallManager"):
            cucm.identity_certificate(service)
            csr = cucm.generate_csr(service, fqdn, (fqdn,))
            cucm.install_identity_certificate(service, (ca.sign_csr(csr), ca.cert))
        for unit in ("tomcat-trust", "CallManager-trust"):
            cucm.trusted_certificates(unit)
    # and every read path a client could try, raw
    assert connections.lab is not None
    session = raw_session()
    expressway_paths = ["/api/provisioning/sysinfo", "/api/provisioning/certs/root", "/api/provisioning/certs/server",
                        "/api/provisioning/certs/generate_csr", "/api/v1/provisioning/certs/generate_csr",
                        "/api/provisioning/common/cluster/peers", "/api/provisioning/common/domain",
                        "/api/provisioning/controller/server/cucm", "/api/raml"]
    base = "/platformcom/api/v1/certmgr/config"
    cucm_paths = [f"{base}/{kind}/certificate?service={service}" for kind in ("trust", "identity")
                  for service in ("tomcat", "CallManager", "tomcat-ECDSA", "CallManager-ECDSA")]
    for fqdn, endpoint in connections.lab.endpoints.items():
        product = "expressway" if fqdn in connections.expressway else "cucm"
        auth = (("admin", PASSWORDS["MRAKIT_EXPRESSWAY_PASSWORD"]) if product == "expressway"
                else ("ccmadmin", PASSWORDS["MRAKIT_CUCM_PASSWORD"]))
        for path in expressway_paths if product == "expressway" else cucm_paths:
            response = session.get(endpoint.api + path, auth=auth, verify=str(connections.lab.ca_bundle), timeout=10)
            bodies.append(response.text)
    assert len(bodies) > 80
    assert sum("BEGIN CERTIFICATE REQUEST" in b for b in bodies) >= 8  # the CSR answers were seen
    assert sum("BEGIN CERTIFICATE-----" in b for b in bodies) >= 10
    leaks = [b[:80] for b in bodies if "PRIVATE KEY" in b]
    assert leaks == []
    # the keys are on the nodes, which is where they must be
    state = LabState.load(load_inventory(deployment.path).lab_state_dir)
    assert all("PRIVATE KEY" in n.pending_key for n in state.expressway.values())


# --- CUCM replication -------------------------------------------------------------------------------

def test_cucm_trust_replicates_after_the_configured_delay(make_deployment: Callable[..., Any],
                                                          open_connections: Callable[..., Session]) -> None:
    deployment = make_deployment(overrides={"lab": {"replication_delay_ms": 1000}})
    connections = open_connections(deployment.path)
    pub, sub = connections.cucm[PUB], connections.cucm[SUB]
    root = new_root("Replication Root").cert
    start = time.monotonic()
    pub.add_trusted_certificate("CallManager-trust", root)
    assert root in pub.trusted_certificates("CallManager-trust")
    assert root not in sub.trusted_certificates("CallManager-trust"), "replicated before the delay"
    while root not in sub.trusted_certificates("CallManager-trust"):
        assert time.monotonic() - start < 5, "not replicated within 5 s"
        time.sleep(0.05)
    elapsed = time.monotonic() - start
    assert 0.9 <= elapsed < 3.0
    assert root not in sub.trusted_certificates("tomcat-trust")



def test_replication_pending_at_stop_is_not_lost(make_deployment: Callable[..., Any],
                                                  open_connections: Callable[..., Session]) -> None:
    deployment = make_deployment(overrides={"lab": {"replication_delay_ms": 400}})
    first = open_connections(deployment.path)
    root = new_root("Replication Across Stop").cert
    first.cucm[PUB].add_trusted_certificate("tomcat-trust", root)
    first.close()  # within the replication delay: the real cluster would still replicate it
    second = open_connections(deployment.path)
    assert root in second.cucm[PUB].trusted_certificates("tomcat-trust")
    deadline = time.monotonic() + 1.5
    while root not in second.cucm[SUB].trusted_certificates("tomcat-trust") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert root in second.cucm[SUB].trusted_certificates("tomcat-trust")


def test_cucm_before_14_has_no_certificate_rest_but_answers_axl(make_deployment: Callable[..., Any],
                                                                 open_connections: Callable[..., Session]) -> None:
    deployment = make_deployment(overrides={"cucm": {"cucm-main": {"version": "12.5.1"}}})
    connections = open_connections(deployment.path)
    pub = connections.cucm[PUB]
    assert pub.version() == "12.5.1"  # AXL
    assert sorted(pub.process_nodes()) == sorted([PUB, SUB])
    for call in (lambda: pub.trusted_certificates("tomcat-trust"), lambda: pub.identity_certificate("tomcat"),
                 lambda: pub.add_trusted_certificate("tomcat-trust", new_root("Pre-14 Root").cert)):
        with pytest.raises(AdapterError) as caught:
            call()
        assert caught.value.status == 404 and caught.value.node == PUB
    assert connections.lab is not None
    assert [(w["method"], w["status"]) for w in connections.lab.writes()] == [("POST", 404)]  # refused, not retried

# --- credentials ----------------------------------------------------------------------------------------

def test_wrong_credentials_are_refused_without_showing_the_password(
        make_deployment: Callable[..., Any], open_connections: Callable[..., Session],
        capfd: pytest.CaptureFixture[str]) -> None:
    deployment = make_deployment()
    good = open_connections(deployment.path)
    wrong = {"MRAKIT_EXPRESSWAY_PASSWORD": "wrong-exp-pw-5d1e", "MRAKIT_CUCM_PASSWORD": "wrong-ccm-pw-a0b4"}
    bad = connect(load_inventory(deployment.path), environ=wrong, lab=good.lab, attempts=3, max_retry_seconds=5)
    try:
        with pytest.raises(AuthError) as caught:
            bad.expressway[EXPC1].version()
        with pytest.raises(AuthError) as caught_cucm:
            bad.cucm[PUB].trusted_certificates("tomcat-trust")
        with pytest.raises(AuthError) as caught_write:
            bad.expressway[EXPE1].add_trusted_ca(new_root("Never Added").cert)
    finally:
        bad.close()
    assert str(caught.value) == "authentication failed for admin@expc1.acme.local"
    assert caught.value.status == 401 and caught.value.node == EXPC1
    assert str(caught_cucm.value) == "authentication failed for ccmadmin@cucm-pub.acme.local"
    for exc in (caught.value, caught_cucm.value, caught_write.value):
        text = "".join(traceback.format_exception(exc)) + repr(exc) + repr(exc.args)
        for secret in (*wrong.values(), *SECRETS):
            assert secret not in text
    # refused once, not retried, and the good connection still works
    assert connections_log(good, EXPC1) == [("GET", "/api/provisioning/sysinfo", 401)]
    assert good.expressway[EXPE1].trusted_cas() == ()
    assert good.expressway[EXPC1].version() == "X15.5.1"
    out, err = capfd.readouterr()
    assert_no_secret(out + err, "the test's output")
    for secret in wrong.values():
        assert secret not in out + err


def connections_log(connections: Session, node: str) -> list[tuple[str, str, int]]:
    assert connections.lab is not None
    return [(e["method"], e["path"], e["status"]) for e in connections.lab.request_log if e["node"] == node]


@pytest.mark.parametrize("path", ["/api/provisioning/certs/acme/pendingcert",
                                  "/api/provisioning/certs/acme/pendingcert/deploy",
                                  "/api/v1/provisioning/common/restart",
                                  "/api/provisioning/common/domaincerts/acme.com"])
def test_csrf_header_is_required_on_the_endpoints_cisco_lists(make_deployment: Callable[..., Any],
                                                             open_connections: Callable[..., Session],
                                                             path: str) -> None:
    deployment = make_deployment()
    connections = open_connections(deployment.path)
    assert connections.lab is not None
    url = connections.lab.endpoints[EXPE1].api + path
    auth = ("admin", PASSWORDS["MRAKIT_EXPRESSWAY_PASSWORD"])
    verify = str(connections.lab.ca_bundle)
    refused = raw_session().post(url, json={}, auth=auth, verify=verify, timeout=10)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["Message"]
    past_the_check = raw_session().post(url, json={}, auth=auth, verify=verify, headers={"X-CSRF-Header": "x"},
                                        timeout=10)
    assert past_the_check.status_code != 403


def test_certificate_uploads_need_no_csrf_header(make_deployment: Callable[..., Any],
                                                 open_connections: Callable[..., Session]) -> None:
    """`certs/*` is not on Cisco's list of CSRF-protected endpoints: an upload without the header works."""
    deployment = make_deployment()
    connections = open_connections(deployment.path)
    assert connections.lab is not None
    url = connections.lab.endpoints[EXPC1].api + "/api/provisioning/certs/root"
    auth = ("admin", PASSWORDS["MRAKIT_EXPRESSWAY_PASSWORD"])
    verify = str(connections.lab.ca_bundle)
    root = new_root("CSRF Root").cert
    files = {"file": ("ca.pem", root.pem.encode(), "application/x-pem-file")}
    accepted = raw_session().post(url, files=files, auth=auth, verify=verify, timeout=10)
    assert accepted.status_code == 200
    assert accepted.json() == {"Message": "The operation was successful"}
    assert connections.expressway[EXPC1].trusted_cas() == (root,)
    assert connections.expressway[EXPC1].trusted_cas() == (root,)
    # the adapter sends the header on every write
    connections.expressway[EXPC1].add_trusted_ca(new_root("Adapter Root").cert)
    assert len(connections.expressway[EXPC1].trusted_cas()) == 2


def test_state_survives_a_restart(make_deployment: Callable[..., Any],
                                  open_connections: Callable[..., Session]) -> None:
    deployment = make_deployment(overrides={"lab": {"replication_delay_ms": 0}})
    root = new_root("Persistent Root")
    first = open_connections(deployment.path)
    first.expressway[EXPE2].add_trusted_ca(root.cert)
    first.cucm[PUB].add_trusted_certificate("tomcat-trust", root.cert)
    csr = first.expressway[EXPC2].generate_csr(EXPC2, (EXPC2,))  # pending across the restart
    assert first.lab is not None
    old_api = first.lab.endpoints[EXPE2].api
    first.close()
    with pytest.raises(requests.exceptions.ConnectionError):
        raw_session().get(old_api + "/api/provisioning/sysinfo", verify=False, timeout=2)
    second = open_connections(deployment.path)
    assert second.expressway[EXPE2].trusted_cas() == (root.cert,)
    assert second.expressway[EXPE1].trusted_cas() == ()
    assert root.cert in second.cucm[PUB].trusted_certificates("tomcat-trust")
    assert root.cert in second.cucm[SUB].trusted_certificates("tomcat-trust")
    leaf = root.sign_csr(csr)
    second.expressway[EXPC2].install_server_certificate((leaf, root.cert))
    assert second.expressway[EXPC2].server_certificate()[0] == leaf


# --- the request log ----------------------------------------------------------------------------------

def test_request_log_holds_no_body_and_no_credential(make_deployment: Callable[..., Any],
                                                     open_connections: Callable[..., Session],
                                                     capfd: pytest.CaptureFixture[str]) -> None:
    deployment = make_deployment()
    connections = open_connections(deployment.path)
    root = new_root("Logged Root")
    errors: list[BaseException] = []
    connections.expressway[EXPE1].add_trusted_ca(root.cert)
    csr = connections.expressway[EXPE1].generate_csr("mra.acme.com", (EXPE1,))
    connections.expressway[EXPE1].install_server_certificate((root.sign_csr(csr), root.cert))
    connections.cucm[PUB].add_trusted_certificate("tomcat-trust", root.cert)
    connections.cucm[PUB].phone_security_profiles()
    try:
        connections.expressway[EXPE1].install_server_certificate((root.cert,))
    except AdapterError as exc:
        errors.append(exc)
    bad = connect(load_inventory(deployment.path), environ={"MRAKIT_EXPRESSWAY_PASSWORD": "x" + SECRETS[0],
                                                             "MRAKIT_CUCM_PASSWORD": SECRETS[1] + "x"},
                  lab=connections.lab, attempts=2, max_retry_seconds=2)
    for call in (lambda: bad.expressway[EXPE2].version(), lambda: bad.cucm[SUB].version()):
        try:
            call()
        except AdapterError as exc:
            errors.append(exc)
    bad.close()
    assert len(errors) == 3
    for exc in errors:
        assert_no_secret("".join(traceback.format_exception(exc)) + repr(exc), "an exception")
    assert connections.lab is not None
    lab_dir = load_inventory(deployment.path).lab_state_dir
    lines = (lab_dir / REQUEST_LOG).read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    assert entries == connections.lab.request_log
    assert len(entries) >= 8
    assert {(e["node"], e["status"]) for e in entries} >= {(EXPE2, 401), (SUB, 401), (EXPE1, 400), (EXPE1, 200)}
    for entry in entries:
        assert set(entry) <= LOG_KEYS and {"time", "node", "method", "path", "status"} <= set(entry)
    text = (lab_dir / REQUEST_LOG).read_text()
    for forbidden in ("BEGIN", "CERTIFICATE", "PRIVATE", "Envelope", "Basic ", "Authorization", "admin",
                      "ccmadmin", *SECRETS):
        assert forbidden not in text, forbidden
    assert_no_secret((lab_dir / STATE_FILE).read_text(), "state.json")
    out, err = capfd.readouterr()
    assert_no_secret(out + err, "the lab's output")


# --- the CLI ------------------------------------------------------------------------------------------

def test_lab_serve_prints_its_endpoints_first(make_deployment: Callable[..., Any], lab_env: dict[str, str],
                                              environ_without_proxies: None) -> None:
    deployment = make_deployment()
    env = {**os.environ, **lab_env}
    process = subprocess.Popen([str(MRAKIT), "lab", "serve", "-i", str(deployment.path)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        try:
            first = lines.get(timeout=30)
        except queue.Empty:
            pytest.fail("mrakit lab serve printed nothing within 30 s")
        described = json.loads(first)
        assert set(described) == {"ca_bundle", "nodes"}
        assert Path(described["ca_bundle"]).is_file()
        assert set(described["nodes"]) == ALL_NODES
        for fqdn, node in described["nodes"].items():
            assert re.fullmatch(r"https://127\.0\.0\.1:\d+", node["api"]), fqdn
            assert node["tls"] and all(isinstance(p, int) and p > 0 for p in node["tls"].values()), fqdn
        assert set(described["nodes"][SUB]["tls"]) == {"tomcat", "sip-tls"}
        assert set(described["nodes"][EXPE1]["tls"]) == {"traversal"}
        assert set(described["nodes"][EXPC1]["tls"]) == {"sip-tls"}
        answer = raw_session().get(described["nodes"][SUB]["api"] + "/platformcom/api/v1/certmgr/config/trust/"
                                   "certificate?service=tomcat", auth=("ccmadmin", lab_env["MRAKIT_CUCM_PASSWORD"]),
                                   verify=described["ca_bundle"], timeout=10)
        assert answer.status_code == 200 and answer.json()
    finally:
        process.terminate()
        try:
            out, err = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate(timeout=5)
            pytest.fail("mrakit lab serve did not stop on SIGTERM within 15 s")
    assert process.returncode == 0, err
    assert_no_secret(first + out + err, "mrakit lab serve's output")


def run_mrakit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MRAKIT), *args], capture_output=True, text=True, env=env, timeout=60, check=False)


def test_lab_status_and_reset(make_deployment: Callable[..., Any], open_connections: Callable[..., Session],
                              lab_env: dict[str, str]) -> None:
    deployment = make_deployment()
    env = {**os.environ, **lab_env}
    connections = open_connections(deployment.path)
    root = new_root("Status Root")
    connections.expressway[EXPE1].add_trusted_ca(root.cert)
    connections.cucm[PUB].add_trusted_certificate("tomcat-trust", root.cert)
    csr = connections.cucm[PUB].generate_csr("tomcat", PUB, (PUB,))
    connections.cucm[PUB].install_identity_certificate("tomcat", (root.sign_csr(csr), root.cert))
    connections.close()

    status = run_mrakit("lab", "status", "-i", str(deployment.path), "--format", "json", env=env)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    lab_dir = load_inventory(deployment.path).lab_state_dir
    assert report["scenario"] == "fresh"
    assert Path(report["state_dir"]) == lab_dir
    assert set(report["nodes"]) == ALL_NODES
    assert report["requests"] == len((lab_dir / REQUEST_LOG).read_text().splitlines())
    assert report["writes"] == 4
    assert report["nodes"][EXPE1] | {"writes": 1, "trusted_cas": 1} == report["nodes"][EXPE1]
    assert report["nodes"][EXPE2]["trusted_cas"] == 0 and report["nodes"][EXPE2]["writes"] == 0
    assert report["nodes"][PUB]["restart_pending"] == ["tomcat"]
    assert report["nodes"][SUB]["restart_pending"] == []
    assert report["nodes"][EXPC1]["version"] == "X15.5.1"
    text = run_mrakit("lab", "status", "-i", str(deployment.path), env=env)
    assert text.returncode == 0, text.stderr
    assert all(fqdn in text.stdout for fqdn in ALL_NODES)

    reset = run_mrakit("lab", "reset", "-i", str(deployment.path), env=env)
    assert reset.returncode == 0, reset.stderr
    assert not (lab_dir / STATE_FILE).exists() and not (lab_dir / REQUEST_LOG).exists()
    assert (lab_dir / "ca").is_dir()  # the CAs stay, so the certificate files stay valid
    after = run_mrakit("lab", "status", "-i", str(deployment.path), env=env)
    assert after.returncode == 1
    assert "mrakit lab init" in after.stderr and "Traceback" not in after.stderr
    again = run_mrakit("lab", "init", "-i", str(deployment.path), "--scenario", "peer-drift", env=env)
    assert again.returncode == 0, again.stderr
    fresh_status = json.loads(run_mrakit("lab", "status", "-i", str(deployment.path), "--format", "json",
                                         env=env).stdout)
    assert fresh_status["scenario"] == "peer-drift" and fresh_status["requests"] == 0
    assert fresh_status["nodes"][PUB]["restart_pending"] == []


# --- scenarios and scale ------------------------------------------------------------------------------

@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_scenario_starts(scenario: str, make_deployment: Callable[..., Any],
                               open_connections: Callable[..., Session]) -> None:
    deployment = make_deployment(scenario)
    connections = open_connections(deployment.path)
    assert connections.lab is not None and connections.lab.state.scenario == scenario
    assert set(connections.lab.endpoints) == ALL_NODES
    assert {f: n.version() for f, n in connections.expressway.items()} == dict.fromkeys(
        [EXPE1, EXPE2, EXPC1, EXPC2], "X15.5.1")
    assert {f: n.version() for f, n in connections.cucm.items()} == {PUB: "15.0.1", SUB: "15.0.1"}
    trust = {f: n.trusted_cas() for f, n in connections.expressway.items()}
    servers = {f: n.server_certificate() for f, n in connections.expressway.items()}
    tomcat = connections.cucm[PUB].identity_certificate("tomcat")
    if scenario == "fresh":
        assert all(t == () for t in trust.values())
    else:
        assert all(trust.values())
    if scenario == "temporary-certs":
        for fqdn, chain in servers.items():
            assert len(chain) == 1 and chain[0].issuer_common_name.startswith("Temporary CA"), fqdn
            assert len(trust[fqdn]) == 1 and trust[fqdn][0].subject == chain[0].issuer
    if scenario == "peer-drift":
        assert trust[EXPE2] == trust[EXPE1][1:]
        assert trust[EXPC2] == trust[EXPC1][1:]
    if scenario == "missing-intermediate":
        edge_issuer = servers[EXPE1][1]
        assert edge_issuer not in trust[EXPC1] and edge_issuer not in trust[EXPC2]
    if scenario == "self-signed-cucm":
        assert len(tomcat) == 1 and tomcat[0].issuer == tomcat[0].subject
    else:
        assert tomcat[0].issuer != tomcat[0].subject
    edge_file = load_inventory(deployment.path).expressway["exp-e"].peers[0].certificate
    assert edge_file is not None
    if scenario == "x15-clientauth-loss":  # replaced by a serverAuth-only one from the public CA
        assert servers[EXPE1][0] != edge_file.leaf
        assert servers[EXPE1][0].ekus == (SERVER_AUTH,)
        assert servers[EXPE1][0].issuer == edge_file.leaf.issuer
    elif scenario != "temporary-certs":
        assert servers[EXPE1][0] == edge_file.leaf


@pytest.mark.slow
def test_a_200_node_lab_starts_and_every_node_answers(tmp_path: Path, lab_env: dict[str, str]) -> None:
    data: dict[str, Any] = {
        "version": 1,
        "defaults": {"connection": "lab", "credentials": {
            "expressway": {"username": "admin", "password_env": "MRAKIT_EXPRESSWAY_PASSWORD"}}},
        "expressway": {},
    }
    for i in range(50):
        data["expressway"][f"edge{i}"] = {
            "role": "edge", "version": "X15.5.1", "cluster_fqdn": f"mra{i}.acme.com",
            "peers": [{"fqdn": f"e{i}-{j}.acme.com"} for j in (1, 2)]}
        data["expressway"][f"control{i}"] = {
            "role": "control", "version": "X15.5.1", "cluster_fqdn": f"expc{i}.acme.local", "traversal": f"edge{i}",
            "domains": ["acme.com"], "peers": [{"fqdn": f"c{i}-{j}.acme.local"} for j in (1, 2)]}
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    state = init_lab(path)
    assert len(state.expressway) == 200
    with connect(load_inventory(path), attempts=3, max_retry_seconds=20) as connections:
        assert connections.lab is not None
        assert len(connections.lab.endpoints) == 200
        assert all(e.tls for e in connections.lab.endpoints.values())
        with ThreadPoolExecutor(8) as pool:
            versions = dict(zip(connections.expressway,
                                pool.map(lambda n: n.version(), connections.expressway.values()), strict=True))
        assert len(versions) == 200 and set(versions.values()) == {"X15.5.1"}
        answered = {e["node"] for e in connections.lab.request_log
                    if e["path"] == "/api/provisioning/sysinfo" and e["status"] == 200}
        assert answered == set(state.expressway)
        # every node got the certificate the lab issued for it
        chain = connections.expressway["c49-2.acme.local"].server_certificate()
        assert "c49-2.acme.local" in chain[0].dns_sans
