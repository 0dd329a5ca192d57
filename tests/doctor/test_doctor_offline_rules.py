"""Checks that need only the inventory and its certificate files (`doctor --offline`): each fires
with its exact code and node on a deployment built to break it, and stays silent on the example."""

from __future__ import annotations

import datetime as dt

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
    SUB,
    code_nodes,
    findings,
    install_server,
    issue_for,
    nodes_of,
    required_names,
    run_doctor,
    write_pem,
)

from mrakit.pki.ca import CertificateAuthority
from mrakit.pki.certview import SERVER_AUTH
from mrakit.pki.keys import write_private_key
from mrakit.pki.load import load_certificate_file

UTC = dt.UTC
X153 = {"expressway": {"exp-e": {"version": "X15.3"}, "exp-c": {"version": "X15.3"}}}


def test_the_example_offline_has_nothing_but_the_renewal_outlook(deploy):
    d = deploy()
    report = run_doctor(d, offline=True)
    assert code_nodes(report) == {("OUT002", EXPE1), ("OUT002", EXPE2)}
    assert report.mode == "offline" and report.proofs == ()
    assert not report.has_errors


# --- MRA001: EKUs by version -------------------------------------------------------------------------

def test_mra001_serverauth_only_edge_before_x15_4(deploy):
    d = deploy("fresh", X153)
    ca = d.cas().public_issuing
    for fqdn in EDGE:
        install_server(d, fqdn, issue_for(d, fqdn, ca, ekus=(SERVER_AUTH,)), [ca], in_lab=False)
    report = run_doctor(d, offline=True)
    assert nodes_of(report, "MRA001", "error") == [EXPE1, EXPE2]
    assert all("clientAuth" in f.message and "X15.3" in f.message for f in findings(report, "MRA001"))


def test_mra001_silent_for_an_x15_4_edge_with_server_eku_upload(deploy):
    d = deploy("fresh", X153)
    d.merge({"expressway": {"exp-e": {"version": "X15.4", "server_eku_upload": True},
                            "exp-c": {"version": "X15.4"}}})
    ca = d.cas().public_issuing
    for fqdn in EDGE:
        install_server(d, fqdn, issue_for(d, fqdn, ca, ekus=(SERVER_AUTH,)), [ca], in_lab=False)
    assert findings(run_doctor(d, offline=True), "MRA001") == []
    d.merge({"expressway": {"exp-e": {"server_eku_upload": False}}})
    assert nodes_of(run_doctor(d, offline=True), "MRA001", "error") == [EXPE1, EXPE2]


# --- MRA002: CallManager EKUs --------------------------------------------------------------------------

def serverauth_only_callmanager(d):
    issued = d.cas().private_issuing.issue_leaf(PUB, [PUB, SUB], ekus=(SERVER_AUTH,))  # multi-server
    path = d.pki("cucm-callmanager.pem")
    write_pem(path, [issued.cert, d.cas().private_issuing])
    write_private_key(path.with_suffix(".key"), issued.key)


def test_mra002_callmanager_certificate_without_clientauth(deploy):
    d = deploy()
    serverauth_only_callmanager(d)
    report = run_doctor(d, offline=True)
    assert set(nodes_of(report, "MRA002")) == {PUB}
    # The example's C runs X15.5.1, which checks inbound SIP TLS peers for clientAuth: an error, and said why.
    assert {f.severity.value for f in findings(report, "MRA002")} == {"error"}
    assert all("clientAuth" in f.message and "ExtendedKeyUsage Checking Mode" in f.message
               for f in findings(report, "MRA002"))
    # Before X15.5 the C does not check it: a warning.
    d.merge({"expressway": {"exp-c": {"version": "X15.4.1"}, "exp-e": {"version": "X15.4.1"}}})
    earlier = findings(run_doctor(d, offline=True), "MRA002")
    assert {f.severity.value for f in earlier} == {"warning"}
    assert not any("Checking Mode" in f.message for f in earlier)
    # Without secure registration CUCM is never a TLS client towards the C: nothing to say.
    d.merge({"cucm": {"cucm-main": {"secure_registration": False}}})
    assert findings(run_doctor(d, offline=True), "MRA002") == []


def test_mra002_is_reported_once_per_certificate(deploy):
    d = deploy()
    serverauth_only_callmanager(d)
    assert nodes_of(run_doctor(d, offline=True), "MRA002") == [PUB]


# --- MRA004, MRA006, MRA009: one certificate ---------------------------------------------------------------

def test_mra004_wildcard_san(deploy):
    d = deploy()
    ca = d.cas().public_issuing
    install_server(d, EXPE1, issue_for(d, EXPE1, ca, extra_sans=["*.acme.com"]), [ca], in_lab=False)
    report = run_doctor(d, offline=True)
    assert nodes_of(report, "MRA004", "error") == [EXPE1]
    assert findings(report, "MRA004")[0].evidence["wildcards"] == ["*.acme.com"]


def test_mra006_sans_beyond_999_characters_are_reported_by_name(deploy):
    d = deploy()
    ca = d.cas().public_issuing
    extra = [f"host{i:03d}.a-rather-long-subdomain.acme.com" for i in range(30)]
    cert = issue_for(d, EXPE1, ca, extra_sans=extra)
    assert cert.cert.san_field_length > 999
    install_server(d, EXPE1, cert, [ca], in_lab=False)
    report = run_doctor(d, offline=True)
    assert nodes_of(report, "MRA006", "error") == [EXPE1]
    ignored = findings(report, "MRA006")[0].evidence["ignored"]
    assert ignored and set(ignored) <= set(extra) and extra[-1] in ignored and extra[0] not in ignored
    # The names the node needs come first and are within the limit: no missing-SAN findings.
    assert not [f for f in report.findings if f.code in ("MRA013", "MRA015")]


def test_mra006_required_sans_alone_exceed_999_characters(deploy):
    d = deploy()
    domains = [f"tenant{i:02d}.example-collaboration.com" for i in range(30)]
    d.merge({"expressway": {"exp-c": {"domains": ["acme.com", *domains]}}})
    report = run_doctor(d, offline=True)
    assert nodes_of(report, "MRA006", "error") == sorted(EXPRESSWAYS)
    assert all(f.evidence["san_field_length"] > 999 for f in findings(report, "MRA006"))


def test_mra009_server_certificate_without_cn(deploy):
    d = deploy()
    ca = d.cas().public_issuing
    install_server(d, EXPE2, issue_for(d, EXPE2, ca, common_name=None), [ca], in_lab=False)
    report = run_doctor(d, offline=True)
    assert nodes_of(report, "MRA009", "error") == [EXPE2]


# --- MRA007: validity ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("offset", "severity"), [(dt.timedelta(days=-10), "warning"), (dt.timedelta(days=1), "error")])
def test_mra007_expiring_and_expired(deploy, offset, severity):
    d = deploy()
    not_after = load_certificate_file(d.pki("expe1.pem")).not_after
    report = run_doctor(d, offline=True, at=not_after + offset)
    # Every Expressway certificate was issued for 180 days; CUCM's for 730.
    assert nodes_of(report, "MRA007", severity) == sorted(EXPRESSWAYS)
    assert findings(report, "MRA007", node=PUB) == []


def test_mra007_silent_well_before_the_window(deploy):
    d = deploy()
    not_after = load_certificate_file(d.pki("expe1.pem")).not_after
    assert findings(run_doctor(d, offline=True, at=not_after - dt.timedelta(days=31)), "MRA007") == []


# --- MRA008: key -------------------------------------------------------------------------------------------

def test_mra008_certificate_and_key_do_not_match(deploy):
    d = deploy()
    d.edit(lambda data: data["expressway"]["exp-e"]["peers"][0].update(key="pki/expe2.key"))
    report = run_doctor(d, offline=True)
    assert nodes_of(report, "MRA008", "error") == [EXPE1]
    assert "expe2.key" in findings(report, "MRA008")[0].message


# --- MRA010–MRA015: required SANs ---------------------------------------------------------------------------

def test_mra010_and_mra013_a_new_domain_on_the_control(deploy):
    d = deploy()
    d.merge({"expressway": {"exp-c": {"domains": ["acme.com", "acme-extra.net"]}}})
    report = run_doctor(d, offline=True)
    assert nodes_of(report, "MRA010", "error") == sorted(CONTROL)
    assert nodes_of(report, "MRA013", "error") == sorted(EDGE)
    assert all(f.evidence["missing_san"] == "acme-extra.net" for f in findings(report, "MRA010") + findings(
        report, "MRA013"))


def test_mra013_is_a_warning_for_jabber_only(deploy):
    d = deploy()
    d.merge({"expressway": {"exp-c": {"domains": ["acme.com", "acme-extra.net"]}},
             "endpoints": {"phones": False, "tc_endpoints": False}})
    report = run_doctor(d, offline=True)
    assert nodes_of(report, "MRA013", "warning") == sorted(EDGE)
    assert nodes_of(report, "MRA013", "error") == []
    assert nodes_of(report, "MRA010", "error") == sorted(CONTROL)  # the C needs it either way


def test_mra011_and_mra014_chat_node_alias(deploy):
    d = deploy()
    d.merge({"expressway": {"exp-c": {"xmpp_federation": {"chat_node_aliases": ["chat.acme.com"],
                                                          "federation_domains": []}}}})
    report = run_doctor(d, offline=True)
    assert nodes_of(report, "MRA011", "error") == sorted(CONTROL)
    assert nodes_of(report, "MRA014", "error") == sorted(EDGE)


def test_mra014_federation_domain_only_on_the_edge(deploy):
    d = deploy()
    d.merge({"expressway": {"exp-c": {"xmpp_federation": {"chat_node_aliases": [],
                                                          "federation_domains": ["partner.example"]}}}})
    report = run_doctor(d, offline=True)
    assert nodes_of(report, "MRA014", "error") == sorted(EDGE)
    assert [f for f in report.findings if f.code in ("MRA010", "MRA011") ] == []


def test_mra012_secure_phone_profile(deploy):
    d = deploy()
    d.merge({"cucm": {"cucm-main": {"phone_security_profiles": ["secure-8865.acme.local", "secure-7841.acme.local"]}}})
    report = run_doctor(d, offline=True)
    assert nodes_of(report, "MRA012", "error") == sorted(CONTROL)
    assert {f.evidence["missing_san"] for f in findings(report, "MRA012")} == {"secure-7841.acme.local"}
    d.merge({"cucm": {"cucm-main": {"secure_registration": False}}})
    assert findings(run_doctor(d, offline=True), "MRA012") == []


def test_mra015_cluster_fqdn_changed(deploy):
    d = deploy()
    d.merge({"expressway": {"exp-e": {"cluster_fqdn": "edge.acme.com"}}})
    report = run_doctor(d, offline=True)
    assert nodes_of(report, "MRA015", "error") == sorted(EDGE)  # SAN edge.acme.com missing
    assert nodes_of(report, "MRA015", "warning") == sorted(EDGE)  # CN mra.acme.com, expected edge.acme.com
    assert findings(report, "MRA015", node=EXPC1) == []


def test_mra015_peer_fqdn_missing_from_its_certificate(deploy):
    d = deploy()
    ca = d.cas().private_issuing
    _, sans = required_names(d, EXPC2)
    install_server(d, EXPC2, issue_for(d, EXPC2, ca, sans=[s for s in sans if s != EXPC2]), [ca], in_lab=False)
    report = run_doctor(d, offline=True)
    assert nodes_of(report, "MRA015", "error") == [EXPC2]
    assert findings(report, "MRA015")[0].evidence["missing_san"] == EXPC2


# --- MRA016, MRA017: cluster layout -------------------------------------------------------------------------

def test_mra016_two_peers_share_one_key(deploy):
    d = deploy()
    ca = d.cas().public_issuing
    first = issue_for(d, EXPE1, ca)
    install_server(d, EXPE1, first, [ca], in_lab=False)
    install_server(d, EXPE2, issue_for(d, EXPE2, ca, key=first.key), [ca], in_lab=False)
    report = run_doctor(d, offline=True)
    shared = findings(report, "MRA016")
    assert [(f.severity.value, f.cluster) for f in shared] == [("warning", "exp-e")]
    assert shared[0].evidence["peers"] == [EXPE1, EXPE2]
    assert findings(report, "MRA008") == []  # each key file matches its certificate


def test_mra016_silent_with_one_key_per_peer(deploy):
    assert findings(run_doctor(deploy(), offline=True), "MRA016") == []


SINGLE_EDGE = {"expressway": {"exp-e": {"peers": [{"fqdn": EXPE1, "address": "198.51.100.11",
                                                   "certificate": "pki/expe1.pem"}]}}}


def test_mra017_non_clustered_edge_cn(deploy):
    d = deploy("fresh", SINGLE_EDGE)
    assert findings(run_doctor(d, offline=True), "MRA017") == []
    ca = d.cas().public_issuing
    install_server(d, EXPE1, issue_for(d, EXPE1, ca, common_name="mra.acme.com"), [ca], in_lab=False)
    report = run_doctor(d, offline=True)
    assert nodes_of(report, "MRA017", "warning") == [EXPE1]
    assert "expected \"expe1.acme.com\"" in findings(report, "MRA017")[0].message


# --- VER001: C and E versions ---------------------------------------------------------------------------------

def test_ver001_split_versions_must_match(deploy):
    d = deploy()
    d.merge({"expressway": {"exp-c": {"version": "X15.4"}}})
    report = run_doctor(d, offline=True)
    ver = findings(report, "VER001")
    assert [(f.severity.value, f.cluster, f.node) for f in ver] == [("error", "exp-c", None)]
    assert ver[0].evidence == {"control": "X15.4.0", "edge": "X15.5.1"}


def test_ver001_is_a_warning_before_x15_5(deploy):
    d = deploy("fresh", X153)
    assert findings(run_doctor(d, offline=True), "VER001") == []
    d.merge({"expressway": {"exp-e": {"version": "X15.4"}}})
    assert [f.severity.value for f in findings(run_doctor(d, offline=True), "VER001")] == ["warning"]


# --- OUT001 / OUT002: the renewal outlook -------------------------------------------------------------------------

def public_root_file(d):
    return write_pem(d.directory / "phone-roots.pem", [d.cas().public_root])


def test_out001_x15_3_edge_renewed_after_2027_03_15(deploy):
    d = deploy("fresh", X153)
    report = run_doctor(d, offline=True, phone_roots=public_root_file(d))
    out = findings(report, "OUT001")
    assert nodes_of(report, "OUT001", "warning") == [EXPE1, EXPE2]
    for finding in out:
        assert "serverAuth-only" in finding.message and "X15.3" in finding.message
        assert finding.evidence["version"] == "X15.3.0"
        assert dt.date.fromisoformat(finding.evidence["renewal_due"]) >= dt.date(2027, 3, 15)
    assert findings(report, "OUT001", node=EXPC1) == []  # private CA: not affected


def test_out001_silent_when_the_renewal_comes_before_2027_03_15(deploy):
    d = deploy("fresh", X153)
    ca = d.cas().public_issuing
    for fqdn in EDGE:  # 60 days: renewed around 2027-01, while public CAs still sign clientAuth
        install_server(d, fqdn, issue_for(d, fqdn, ca, days=60), [ca], in_lab=False)
    assert findings(run_doctor(d, offline=True, phone_roots=public_root_file(d)), "OUT001") == []


def test_out001_silent_on_x15_5(deploy):
    d = deploy()
    assert findings(run_doctor(d, offline=True, phone_roots=public_root_file(d)), "OUT001") == []


def test_out001_silent_when_the_root_is_not_a_phone_root(deploy, tmp_path):
    d = deploy("fresh", X153)
    other = write_pem(tmp_path / "other-roots.pem", [CertificateAuthority.create_root("Some Other Root").cert])
    report = run_doctor(d, offline=True, phone_roots=other)
    assert findings(report, "OUT001") == [] and findings(report, "OUT002") == []


def test_out001_lets_encrypt_dropped_clientauth_on_2026_02_11(deploy, tmp_path):
    d = deploy("fresh", X153)
    root = CertificateAuthority.create_root("ISRG Root X1", organization="Internet Security Research Group")
    issuing = root.issue_intermediate("R10", organization="Let's Encrypt")
    for fqdn in EDGE:  # renewed before 2027-03-15, but Let's Encrypt already stopped clientAuth
        install_server(d, fqdn, issue_for(d, fqdn, issuing, days=60), [issuing, root], in_lab=False)
    report = run_doctor(d, offline=True, phone_roots=write_pem(tmp_path / "isrg.pem", [root]))
    assert nodes_of(report, "OUT001", "warning") == [EXPE1, EXPE2]


def test_out002_lifetime_at_the_next_renewal(deploy):
    d = deploy()
    report = run_doctor(d, offline=True)
    assert nodes_of(report, "OUT002", "info") == [EXPE1, EXPE2]
    assert {f.evidence["max_lifetime_days"] for f in findings(report, "OUT002")} == {100}
    ca = d.cas().public_issuing
    install_server(d, EXPE1, issue_for(d, EXPE1, ca, days=60), [ca], in_lab=False)
    lifetimes = {f.node: f.evidence["max_lifetime_days"] for f in findings(run_doctor(d, offline=True), "OUT002")}
    assert lifetimes == {EXPE1: 200, EXPE2: 100}


def test_out002_silent_before_2026_03_15(deploy):
    d = deploy()
    ca = d.cas().public_issuing
    start = dt.datetime(2025, 12, 1, tzinfo=UTC)
    for fqdn in EDGE:
        install_server(d, fqdn, issue_for(d, fqdn, ca, not_before=start, days=90), [ca], in_lab=False)
    report = run_doctor(d, offline=True, at=dt.datetime(2026, 1, 15, tzinfo=UTC))
    assert findings(report, "OUT002") == []
    assert [f for f in findings(report, "MRA007") if f.node in EDGE] == []  # the edges are valid then


def test_out_checks_only_for_public_certificates(deploy):
    report = run_doctor(deploy(), offline=True)
    assert {f.node for f in report.findings if f.code.startswith("OUT")} == {EXPE1, EXPE2}
