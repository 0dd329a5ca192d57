"""`mrakit renew` end to end against real servers: CSR on the (lab) box → Pebble, validating a dns-01
record really published in BIND by a TSIG-signed RFC 2136 update → plan/apply → doctor."""

from __future__ import annotations

import json
import stat

from _acmekit import (
    CERT_INSTALL,
    CSR_POST,
    EXPC,
    EXPE,
    TRUST_ADD,
    challenge_records,
    doctor_problems,
    phone_roots,
    requests_to,
    run_cli,
    server_chains,
)
from cryptography import x509

from mrakit.acmerenew.state import STATE_FOLDER
from mrakit.desired import desired_state
from mrakit.diagnosis import doctor
from mrakit.findings import Severity
from mrakit.inventory.load import load_inventory
from mrakit.pki.keys import public_key_sha256
from mrakit.pki.load import load_certificates


def test_renews_edge_and_control_end_to_end_and_a_second_run_does_nothing(acme_deployment, acme_servers) -> None:
    deployment = acme_deployment()
    inventory = load_inventory(deployment.path)
    state_dir = inventory.lab_state_dir
    desired = desired_state(inventory)
    old = {fqdn: chain[0] for fqdn, chain in server_chains(deployment.path, (*EXPE, *EXPC)).items()}
    intermediate = load_certificates(acme_servers.pebble.intermediate_pem().encode())[0]

    result = run_cli("renew", "-i", deployment.path, "--due-within", "400")
    assert result.code == 0, result.out + result.err
    now = server_chains(deployment.path, (*EXPE, *EXPC))
    for fqdn in (*EXPE, *EXPC):
        assert f"{fqdn}: renewed" in result.out
        leaf = now[fqdn][0]
        assert leaf != old[fqdn]
        assert leaf.issuer_name == intermediate.subject_name  # issued by Pebble, through the ACME order
        # exactly the SANs mrakit requires, on the key the box generated (its CSR, recorded in the state)
        assert sorted(leaf.dns_sans) == sorted(s.name for s in desired.node(fqdn).required_sans)
        record = json.loads((deployment.directory / STATE_FOLDER / f"{fqdn}.json").read_text())
        assert record["stage"] == "installed" and record["order_url"].startswith(acme_servers.pebble.directory_url[:-4])
        csr = x509.load_pem_x509_csr(record["csr_pem"].encode())
        assert leaf.public_key_fingerprint_sha256 == public_key_sha256(csr.public_key())
        assert len(requests_to(state_dir, CSR_POST, [fqdn])) == 1  # one CSR, generated on the box
    # the challenge records were published for the CA, and removed again
    assert challenge_records(acme_servers.bind, sorted({s.name for f in (*EXPE, *EXPC)
                                                        for s in desired.node(f).required_sans})) == {}
    # the account key was created on first use, readable by its owner only; no other key was written
    key = deployment.directory / "acme" / "account.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert not list((deployment.directory / STATE_FOLDER).rglob("*.key"))
    assert "PRIVATE KEY" not in result.out + result.err and acme_servers.bind.secret not in result.out + result.err

    # the doctor finds nothing wrong: every relation verifies and every handshake succeeds
    bundle = phone_roots(deployment.directory, state_dir, acme_servers.pebble.root_pem())
    report = doctor(load_inventory(deployment.path), phone_roots=bundle)
    errors = [f"{f.code} {f.node}: {f.message}" for f in report.findings if f.severity is Severity.ERROR]
    assert errors == []
    assert report.proofs and [p for p in report.proofs if not p.handshake.ok] == []

    # a second run finds nothing due and changes nothing, on the nodes or at the CA
    writes_before = sum(len(requests_to(state_dir, p)) for p in (TRUST_ADD, CERT_INSTALL, CSR_POST))
    states_before = {p.name: p.read_text() for p in (deployment.directory / STATE_FOLDER).glob("*.json")}
    again = run_cli("renew", "-i", deployment.path, "--due-within", "400")
    assert again.code == 0, again.err
    assert "nothing is due" in again.out
    assert sum(len(requests_to(state_dir, p)) for p in (TRUST_ADD, CERT_INSTALL, CSR_POST)) == writes_before
    assert {p.name: p.read_text() for p in (deployment.directory / STATE_FOLDER).glob("*.json")} == states_before


def test_renews_the_cucm_tomcat_certificate_through_the_box_csr(acme_deployment, acme_servers) -> None:
    from mrakit.session import connect

    deployment = acme_deployment()
    inventory = load_inventory(deployment.path)
    with connect(inventory) as connections:
        old = connections.cucm["cucm-pub.acme.local"].identity_certificate("tomcat")[0]
    result = run_cli("renew", "-i", deployment.path, "--cluster", "cucm-main", "--due-within", "800")
    assert result.code == 0, result.out + result.err
    with connect(inventory) as connections:
        leaf = connections.cucm["cucm-pub.acme.local"].identity_certificate("tomcat")[0]
    assert leaf != old and "Pebble" in leaf.issuer
    assert sorted(leaf.dns_sans) == sorted(n.fqdn for n in inventory.cucm["cucm-main"].nodes)
    bundle = phone_roots(deployment.directory, inventory.lab_state_dir, acme_servers.pebble.root_pem())
    assert doctor_problems(deployment.path, bundle) == []
