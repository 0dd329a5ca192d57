"""The CA moves to a new intermediate (Pebble restarted: new root, new intermediate): the control
cluster is made to trust it before the edge's certificate from it is installed, and the plan keeps
the control cluster trusting every intermediate the CA issues from (acme.issuers); the doctor
warns while it trusts only some."""

from __future__ import annotations

import json

from _acmekit import (
    CERT_INSTALL,
    EXPC,
    EXPE,
    TRUST_ADD,
    doctor_problems,
    phone_roots,
    renew_report_validator,
    run_cli,
    server_chains,
)

from mrakit.inventory.load import load_inventory
from mrakit.lab.state import REQUEST_LOG
from mrakit.pki.load import load_certificates


def test_new_intermediate_is_trusted_on_c_before_the_edge_certificate_from_it_is_installed(
        acme_deployment, acme_servers) -> None:
    deployment = acme_deployment()
    state_dir = load_inventory(deployment.path).lab_state_dir
    first = run_cli("renew", "-i", deployment.path, "--cluster", "exp-e", "--due-within", "400")
    assert first.code == 0, first.out + first.err
    first_root = acme_servers.pebble.root_pem()

    acme_servers.pebble.restart()  # the CA now issues from a new intermediate, under a new root
    acme_servers.publish_issuers(keep=True)  # its published set: the old and the new intermediate
    new_intermediate = load_certificates(acme_servers.pebble.intermediate_pem().encode())[0]
    roots = phone_roots(deployment.directory, state_dir, first_root, acme_servers.pebble.root_pem())

    # C trusts the intermediate E chains to today, not the CA's new one: the doctor warns …
    problems = doctor_problems(deployment.path, roots)
    assert sorted(p.split(":")[0] for p in problems) == [f"ACME001 {fqdn}" for fqdn in EXPC], problems
    # … and the plan adds the new intermediate (and its root) to every C peer, before any renewal
    planned = run_cli("plan", "-i", deployment.path, "--format", "json")
    assert planned.code == 0, planned.err
    actions = json.loads(planned.out)["actions"]
    adds = {(a["node"], a["fingerprint_sha256"]) for a in actions if a["kind"] == "trust.add"}
    assert {(fqdn, new_intermediate.fingerprint_sha256) for fqdn in EXPC} <= adds
    assert not [a for a in actions if a["kind"] == "cert.install"]

    log_start = len((state_dir / REQUEST_LOG).read_text().splitlines())
    second = run_cli("renew", "-i", deployment.path, "--cluster", "exp-e", "--due-within", "3650", "--format", "json")
    assert second.code == 0, second.out + second.err
    report = json.loads(second.out)
    renew_report_validator().validate(report)
    assert [(o["node"], o["status"]) for o in report["outcomes"]] == [(fqdn, "installed") for fqdn in EXPE]
    chains = server_chains(deployment.path, EXPE)
    assert all(chain[0].issuer_name == new_intermediate.subject_name for chain in chains.values())

    # every trust addition on C came before the first install on E
    entries = [json.loads(line) for line in (state_dir / REQUEST_LOG).read_text().splitlines()[log_start:]]
    writes = [(e["node"], e["path"]) for e in entries if e["method"] == "POST" and e["status"] < 300]
    c_adds = [i for i, (node, path) in enumerate(writes) if node in EXPC and path == TRUST_ADD]
    e_installs = [i for i, (node, path) in enumerate(writes) if node in EXPE and path == CERT_INSTALL]
    assert c_adds and e_installs and max(c_adds) < min(e_installs), writes
    assert doctor_problems(deployment.path, roots) == []
