"""Checks on what the nodes of a running lab present and trust (`doctor` online): each fires with its
exact code and node on a lab built or changed to break it, and stays silent otherwise."""

from __future__ import annotations

import pytest
from _doctorkit import (
    CONTROL,
    EDGE,
    EXPC1,
    EXPC2,
    EXPE1,
    EXPE2,
    EXPRESSWAYS,
    PUB,
    PUBLIC_TLS_CA,
    SUB,
    code_nodes,
    errors,
    findings,
    install_server,
    issue_for,
    nodes_of,
    parse,
    run_doctor,
    write_pem,
)

from mrakit.pki.ca import CertificateAuthority
from mrakit.pki.certview import SERVER_AUTH
from mrakit.pki.keys import private_key_pem

X153 = {"expressway": {"exp-e": {"version": "X15.3"}, "exp-c": {"version": "X15.3"}}}


def test_a_deployment_after_apply_is_clean(applied):
    # The silent case of the online checks below (MRA002, MRA003, MRA005, MRA020-25, MRA034, VER002, NET001, HS001):
    # the lab's certificates with the trust mrakit derives leave nothing but the renewal outlook.
    report = run_doctor(applied())
    assert code_nodes(report) == {("OUT002", EXPE1), ("OUT002", EXPE2)}
    assert report.summary()["handshakes"] == 16 and report.summary()["disagreements"] == 0
    assert all(p.handshake.ok and p.chain_valid for p in report.proofs)


# --- MRA001 --------------------------------------------------------------------------------------------

def test_mra001_x15_3_edge_presenting_a_serverauth_only_certificate(deploy):
    d = deploy("x15-clientauth-loss", X153)
    report = run_doctor(d)
    assert nodes_of(report, "MRA001", "error") == [EXPE1, EXPE2]
    presented = {fqdn: parse(d.state().expressway[fqdn].server_chain)[0] for fqdn in EDGE}
    for finding in findings(report, "MRA001"):
        # the certificate the node presents now, not the inventory's (which has both EKUs)
        assert finding.evidence["fingerprint_sha256"] == presented[finding.node].fingerprint_sha256
        assert "clientAuth" in finding.message


def test_mra001_silent_for_the_same_scenario_on_x15_5(deploy):
    report = run_doctor(deploy("x15-clientauth-loss"))
    assert findings(report, "MRA001") == []
    assert not report.has_errors


# --- MRA002 --------------------------------------------------------------------------------------------

def test_mra002_callmanager_presented_without_clientauth(applied):
    d = applied()
    ca = d.cas().private_issuing
    issued = ca.issue_leaf(PUB, [PUB, SUB], ekus=(SERVER_AUTH,))
    with d.lab_state() as state:
        state.cucm[PUB].identities["CallManager"] = [issued.cert.pem, ca.cert.pem]
        state.cucm[PUB].identity_keys["CallManager"] = private_key_pem(issued.key).decode("ascii")
    report = run_doctor(d)
    assert set(nodes_of(report, "MRA002")) == {PUB}
    assert {f.severity.value for f in findings(report, "MRA002")} == {"error"}  # X15.5 checks the EKU
    # CUCM as the TLS client of the C fails for purpose reasons, and the proof agrees with the verdict.
    cucm_to_c = [p for p in report.proofs if p.client == PUB and p.connection.startswith("secure registration (CUCM")]
    assert len(cucm_to_c) == 2 and all(not p.handshake.ok and not p.chain_valid for p in cucm_to_c)


# --- MRA003 --------------------------------------------------------------------------------------------

def test_mra003_temporary_certificates_on_every_expressway_peer(deploy):
    d = deploy("temporary-certs")
    report = run_doctor(d)
    assert nodes_of(report, "MRA003", "error") == sorted(EXPRESSWAYS)
    assert nodes_of(report, "MRA003", "warning") == []
    state = d.state()
    for finding in findings(report, "MRA003"):
        leaf = parse(state.expressway[finding.node].server_chain)[0]
        assert finding.evidence["fingerprint_sha256"] == leaf.fingerprint_sha256
        assert "Temporary CA" in finding.message


def test_mra003_after_apply_only_the_leftover_temporary_cas(applied):
    d = applied("temporary-certs")
    report = run_doctor(d)
    assert nodes_of(report, "MRA003", "warning") == sorted(EXPRESSWAYS)
    assert nodes_of(report, "MRA003", "error") == []
    state = d.state()
    for finding in findings(report, "MRA003"):
        temporary = [c for c in parse(state.expressway[finding.node].trust) if "Temporary" in c.subject]
        assert finding.evidence["fingerprint_sha256"] == temporary[0].fingerprint_sha256
    assert not report.has_errors


# --- MRA005 --------------------------------------------------------------------------------------------

def private_edge(d):
    ca = d.cas().private_issuing
    for fqdn in EDGE:
        install_server(d, fqdn, issue_for(d, fqdn, ca), [ca])


def test_mra005_edge_on_a_private_root_with_phones_in_scope(applied):
    d = applied()
    private_edge(d)
    report = run_doctor(d)
    assert nodes_of(report, "MRA005", "error") == [EXPE1, EXPE2]
    assert all(f.evidence["root"] == "CN=MRA Lab Private Root CA,O=MRA Lab" for f in findings(report, "MRA005"))
    assert findings(report, "MRA005", node=EXPC1) == []  # only the edge faces the phones


def test_mra005_is_a_warning_without_phones_or_endpoints(applied):
    d = applied()
    private_edge(d)
    d.merge({"endpoints": {"phones": False, "tc_endpoints": False, "jabber": True}})
    report = run_doctor(d)
    assert nodes_of(report, "MRA005", "warning") == [EXPE1, EXPE2]
    assert nodes_of(report, "MRA005", "error") == []


@pytest.mark.parametrize("offline", [False, True])
def test_mra005_silent_for_the_lab_public_root(applied, offline):
    # certifi does not hold the lab's stand-in public root: doctor adds it for lab inventories
    assert findings(run_doctor(applied(), offline=offline), "MRA005") == []


def test_mra005_phone_roots_file_replaces_the_default(applied, tmp_path):
    d = applied()
    other = write_pem(tmp_path / "roots.pem", [CertificateAuthority.create_root("Phone Root Elsewhere").cert])
    report = run_doctor(d, phone_roots=other)
    assert nodes_of(report, "MRA005", "error") == [EXPE1, EXPE2]  # the lab root is not added to a given bundle
    private_edge(d)
    private_root = write_pem(tmp_path / "private.pem", [d.cas().private_root])
    assert findings(run_doctor(d, phone_roots=private_root), "MRA005") == []


# --- MRA020 / MRA021 -------------------------------------------------------------------------------------

def test_mra020_missing_intermediate_exactly_on_the_control_peers(deploy):
    report = run_doctor(deploy("missing-intermediate"))
    assert [(f.code, f.node) for f in errors(report)] == [
        ("MRA020", EXPC1), ("MRA020", EXPC1), ("MRA020", EXPC2), ("MRA020", EXPC2)]
    for finding in errors(report):
        assert PUBLIC_TLS_CA in finding.message and PUBLIC_TLS_CA in finding.fix
        assert finding.evidence["reason"] == "missing_issuer" and finding.evidence["store"] == "trusted_ca"
    assert {f.evidence["relation"] for f in errors(report)} == {
        f"{c} -> {e} server" for c in CONTROL for e in EDGE}


def test_mra021_intermediate_trusted_without_its_root(applied):
    d = applied()
    with d.lab_state() as state:
        node = state.expressway[EXPC1]
        node.trust = [pem for pem, cert in zip(node.trust, parse(node.trust), strict=True)
                      if cert.common_name != "MRA Lab Public Root CA"]
    report = run_doctor(d)
    assert [(f.code, f.node) for f in errors(report)] == [("MRA021", EXPC1), ("MRA021", EXPC1)]
    assert all("MRA Lab Public Root CA" in f.message or "MRA Lab Public Root CA" in f.fix for f in errors(report))


def test_cucm_trust_failures_carry_the_cucm_rule_codes(deploy):
    d = deploy("fresh")
    with d.lab_state() as state:  # a CUCM that trusts nothing, not even the CA of its own identities
        for node in (PUB, SUB):
            state.cucm[node].trust = {"tomcat-trust": [], "CallManager-trust": []}
    report = run_doctor(d)
    own = [f for f in errors(report) if f.code == "CUCM001"]
    assert len(own) == 8 and {f.node for f in own} == {PUB, SUB}  # tomcat and CallManager of 2 servers, on both
    cucm_validates_c = [f for f in errors(report) if f.node in (PUB, SUB) and f.code != "CUCM001"]
    c_validates_cucm = [f for f in errors(report) if f.node in CONTROL and "cucm-main/" in f.message]
    assert len(cucm_validates_c) == 8 and len(c_validates_cucm) == 8
    assert all(f.evidence["reason"] == "missing_issuer" for f in cucm_validates_c + c_validates_cucm)
    assert {f.code for f in cucm_validates_c} == {"MRA032"}
    assert {f.code for f in c_validates_cucm} <= {"MRA031", "MRA033"}


def test_unreadable_cucm_trust_is_not_reported_as_missing(deploy):
    report = run_doctor(deploy("missing-intermediate", {"cucm": {"cucm-main": {"version": "12.5"}}}))
    assert nodes_of(report, "MRA020", "error") == [EXPC1, EXPC1, EXPC2, EXPC2]  # the real problem only


# --- MRA022 ------------------------------------------------------------------------------------------------

def test_mra022_self_signed_cucm_tomcat_wins_and_secure_registration_fails(deploy):
    d = deploy("self-signed-cucm")
    report = run_doctor(d)
    state = d.state()
    tomcat = parse(state.cucm[PUB].identities["tomcat"])[0]
    callmanager = parse(state.cucm[PUB].identities["CallManager"])[0]
    assert tomcat.subject == callmanager.subject
    for control in CONTROL:
        order = [c.fingerprint_sha256 for c in parse(state.expressway[control].trust)]
        assert order.index(tomcat.fingerprint_sha256) < order.index(callmanager.fingerprint_sha256)
        listed = [f for f in findings(report, "MRA022", node=control) if f.evidence.get("hidden")
                  == callmanager.fingerprint_sha256]
        assert len(listed) == 1, listed
        assert listed[0].severity.value == "error"
        assert listed[0].evidence["winner"] == tomcat.fingerprint_sha256
        assert listed[0].evidence["failing"] == [f"secure registration for {PUB}"]
        assert "TLS Verify" not in listed[0].message
        relation = [f for f in findings(report, "MRA022", node=control) if "cannot validate" in f.message
                    and PUB in f.message]
        assert len(relation) == 1 and "CallManager certificate (secure registration" in relation[0].message
    # TLS Verify (tomcat) validates; no MRA022 on the edge or on CUCM
    assert set(nodes_of(report, "MRA022")) == set(CONTROL)
    assert not [p for p in report.proofs if p.connection.startswith("TLS Verify") and not p.chain_valid]


def test_cucm_trust_lists_are_not_judged_by_the_expressway_rule(applied):
    d = applied()
    impostor = CertificateAuthority.create_root("MRA Lab Private Root CA", organization="MRA Lab").issue_intermediate(
        "MRA Lab Issuing CA", organization="MRA Lab")
    with d.lab_state() as state:
        for node in (PUB, SUB):
            for unit in ("tomcat-trust", "CallManager-trust"):
                state.cucm[node].trust[unit].insert(0, impostor.cert.pem)
    report = run_doctor(d)
    assert all(p.handshake.ok for p in report.proofs)  # CUCM does validate: every real handshake works
    assert [(f.code, f.node) for f in errors(report)] == []


# --- MRA023 ------------------------------------------------------------------------------------------------

def test_mra023_peer_drift_names_the_peer_and_the_missing_entries(deploy):
    report = run_doctor(deploy("peer-drift"))
    drift = {f.node: f for f in findings(report, "MRA023")}
    assert set(drift) == {EXPE2, EXPC2}
    assert all(f.severity.value == "warning" for f in drift.values())
    assert '"MRA Lab Public TLS CA"' in drift[EXPC2].message and "lacks 1 trusted CA" in drift[EXPC2].message
    assert '"MRA Lab Issuing CA"' in drift[EXPE2].message
    assert drift[EXPC2].cluster == "exp-c" and drift[EXPE2].cluster == "exp-e"


def test_mra023_duplicate_entry(applied):
    d = applied()
    with d.lab_state() as state:
        state.expressway[EXPE1].trust.append(state.expressway[EXPE1].trust[0])
        length = len(state.expressway[EXPE1].trust)
    report = run_doctor(d)
    dup = findings(report, "MRA023")
    assert [(f.node, f.severity.value) for f in dup] == [(EXPE1, "warning")]
    assert f"entries 1 and {length} of the trusted_ca list are the same certificate" in dup[0].message


# --- MRA025 ------------------------------------------------------------------------------------------------

def test_mra025_two_cas_with_one_common_name(applied):
    d = applied()
    namesake = CertificateAuthority.create_root("MRA Lab Issuing CA", organization="Someone Else")
    with d.lab_state() as state:
        state.expressway[EXPC1].trust.append(namesake.cert.pem)
    report = run_doctor(d)
    same_cn = findings(report, "MRA025")
    assert [(f.node, f.severity.value) for f in same_cn] == [(EXPC1, "warning")]
    assert same_cn[0].evidence["subjects"] == [
        "CN=MRA Lab Issuing CA,O=MRA Lab", "CN=MRA Lab Issuing CA,O=Someone Else"]
    assert findings(report, "MRA022") == []  # different subjects: not shadowing


# --- MRA034 ------------------------------------------------------------------------------------------------

def test_mra034_cucm_configured_by_ip_on_one_control_peer(applied):
    d = applied()
    with d.lab_state() as state:
        state.expressway[EXPC1].cucm_publishers = ["192.0.2.31"]
    report = run_doctor(d)
    assert nodes_of(report, "MRA034", "error") == [EXPC1]
    assert findings(report, "MRA034")[0].evidence == {"publisher": "192.0.2.31"}


# --- VER002 ------------------------------------------------------------------------------------------------

def test_ver002_node_reports_another_version(applied):
    d = applied()
    with d.lab_state() as state:
        state.expressway[EXPE1].version = "X15.3.2"
    report = run_doctor(d)
    assert nodes_of(report, "VER002", "warning") == [EXPE1]
    assert findings(report, "VER002")[0].evidence == {"reported": "X15.3.2"}
    assert "X15.5.1" in findings(report, "VER002")[0].message


def test_ver002_silent_for_another_patch_of_the_same_release(applied):
    d = applied()
    with d.lab_state() as state:
        state.expressway[EXPE1].version = "X15.5.2"
        state.expressway[EXPE2].version = "X15.5"
    assert findings(run_doctor(d), "VER002") == []  # the version rules depend on major.minor only


# --- OUT001 online --------------------------------------------------------------------------------------------

def test_out001_online_uses_the_presented_certificate(deploy, tmp_path):
    d = deploy("missing-intermediate", X153)
    roots = write_pem(tmp_path / "roots.pem", [d.cas().public_root])
    report = run_doctor(d, phone_roots=roots)
    assert nodes_of(report, "OUT001", "warning") == [EXPE1, EXPE2]
    assert all("serverAuth-only" in f.message and "X15.3" in f.message for f in findings(report, "OUT001"))
    ca = d.cas().public_issuing
    for fqdn in EDGE:  # what the node presents now decides, not the inventory's file
        install_server(d, fqdn, issue_for(d, fqdn, ca, days=60), [ca], in_file=False)
    assert findings(run_doctor(d, phone_roots=roots), "OUT001") == []


# --- NET001 --------------------------------------------------------------------------------------------------

def test_net001_a_node_that_is_down(applied):
    d = applied()
    d.merge({"lab": {"nodes": {EXPC2: {"down": True}}}})
    report = run_doctor(d)
    assert [(f.code, f.node) for f in errors(report)] == [("NET001", EXPC2)]
    assert findings(report, "NET001")[0].cluster == "exp-c"
    assert "could not read expc2.acme.local" in findings(report, "NET001")[0].message


def test_no_proof_for_a_node_that_could_not_be_read(applied):
    d = applied()
    d.merge({"lab": {"nodes": {EXPC2: {"down": True}}}})
    report = run_doctor(d)
    assert [p.to_dict() for p in report.proofs if EXPC2 in (p.client, p.server)] == []
