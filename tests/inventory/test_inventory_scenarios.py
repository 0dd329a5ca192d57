"""Scenario inventories (tests/inventory/scenarios/*.yaml) → the exact desired trust lists and required SANs.

Every expected value is computed from the CA objects the test created, following the rule book
(docs/rules.md): who validates whom, and for each such relation every
intermediate and the root of the validated chain (MRA020/MRA021) in the validator's store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mrakit.desired import DesiredState, DesiredTrust, NodeDesired
from mrakit.inventory.load import load_inventory
from mrakit.pki import SERVER_AUTH, CertificateAuthority, CertView

SERVER_ONLY = (SERVER_AUTH,)
TRUSTED_CA, TOMCAT, CALLMANAGER = "trusted_ca", "tomcat-trust", "CallManager-trust"


def entry_for(node: NodeDesired, cert: CertView, store: str = TRUSTED_CA) -> DesiredTrust:
    matches = [t for t in node.trust if t.store == store and t.fingerprint == cert.fingerprint_sha256]
    assert len(matches) == 1, f"{cert.subject} appears {len(matches)} times in {node.node}'s {store}"
    return matches[0]


def codes(entry: DesiredTrust) -> set[str]:
    return {r.code for r in entry.reasons}


def assert_peers_share_one_list(state: DesiredState) -> None:
    """MRA023: every peer of an Expressway cluster gets the same ordered trusted CA list."""
    by_cluster: dict[str, list[NodeDesired]] = {}
    for node in state.nodes:
        if node.product == "expressway":
            by_cluster.setdefault(node.cluster, []).append(node)
    assert by_cluster, "no Expressway nodes derived"
    for cluster, nodes in by_cluster.items():
        lists = {n.node: [(t.store, t.fingerprint) for t in n.trust] for n in nodes}
        first = next(iter(lists.values()))
        assert first, f"{cluster}: empty trust list"
        assert all(other == first for other in lists.values()), f"{cluster}: peers differ: {lists}"


def node_names(state: DesiredState) -> list[str]:
    return [n.node for n in state.nodes]


# ------------------------------------------------------------------------------------------------------------
def test_same_ca_for_c_and_e(inventory, pki, trust_entries, expected_entries, sans_of):
    acme = pki.chain("Acme")
    ws = inventory("same-ca-for-c-and-e")
    ws.certs("pki/acme-chain.pem", acme.certs)
    for n in (1, 2):
        ws.leaf(f"pki/expe{n}.pem", acme.leaf("mra.acme.com", ["mra.acme.com", f"expe{n}.acme.com", "acme.com"]))
        ws.leaf(f"pki/expc{n}.pem", acme.leaf(
            "expc.acme.local", [f"expc{n}.acme.local", "acme.com", "secure-8865.acme.local"]))
    # The cluster's `certificates` are multi-server: every server of the cluster is a SAN.
    cluster_names = ["cucm-pub.acme.local", "cucm-sub1.acme.local"]
    ws.leaf("pki/cucm-tomcat.pem", acme.leaf("cucm-pub.acme.local", cluster_names))
    ws.leaf("pki/cucm-callmanager.pem", acme.leaf("cucm-pub.acme.local", cluster_names))

    state = ws.desired()

    # The subscriber is not a node of its own: trust uploaded on the publisher replicates (MRA032).
    assert node_names(state) == [
        "expe1.acme.com", "expe2.acme.com", "expc1.acme.local", "expc2.acme.local", "cucm-pub.acme.local"]
    both = expected_entries((TRUSTED_CA, acme.certs))
    for fqdn in ("expe1.acme.com", "expe2.acme.com", "expc1.acme.local", "expc2.acme.local"):
        assert trust_entries(state.node(fqdn)) == both, fqdn
    # C is X15.5.1 (≥ X14.0.2): the C chain goes into both CUCM stores.
    assert trust_entries(state.node("cucm-pub.acme.local")) == expected_entries(
        (TOMCAT, acme.certs), (CALLMANAGER, acme.certs))
    assert_peers_share_one_list(state)

    # Reasons: the edge trusts the C chain for the traversal zone (MRA020, on every peer MRA023); the C
    # trusts the same CAs for the traversal zone and for CUCM's tomcat/CallManager (MRA031, also MRA033).
    for cert in acme.certs:
        assert codes(entry_for(state.node("expe2.acme.com"), cert)) == {"MRA020", "MRA023"}
        c_entry = entry_for(state.node("expc1.acme.local"), cert)
        assert codes(c_entry) == {"MRA020", "MRA023", "MRA031"}
        assert any("MRA033" in r.text for r in c_entry.reasons if r.code == "MRA031")
        for store in (TOMCAT, CALLMANAGER):
            # C's chain (MRA032), which is also the chain of CUCM's own multi-server identities (CUCM001)
            assert codes(entry_for(state.node("cucm-pub.acme.local"), cert, store)) == {"MRA032", "CUCM001"}

    assert sans_of(state.node("expe2.acme.com")) == [
        ("mra.acme.com", "MRA015"), ("expe2.acme.com", "MRA015"), ("acme.com", "MRA013")]
    assert sans_of(state.node("expc1.acme.local")) == [
        ("expc.acme.local", "MRA015"), ("expc1.acme.local", "MRA015"), ("acme.com", "MRA010"),
        ("secure-8865.acme.local", "MRA012")]
    assert state.node("cucm-pub.acme.local").required_sans == ()
    assert state.node("expe1.acme.com").common_name == "mra.acme.com"
    assert state.node("expc2.acme.local").common_name == "expc.acme.local"
    assert ws.judged(state).all() == []


# ------------------------------------------------------------------------------------------------------------
def _different_cas(inventory, pki):
    edge, control, voice, sip = (pki.chain(n) for n in ("Edge", "Control", "Voice", "Sip"))
    ws = inventory("different-cas")
    ws.certs("pki/control-chain.pem", control.certs)
    ws.certs("pki/voice-chain.pem", voice.certs)
    ws.certs("pki/sip-chain.pem", sip.certs)
    for n in (1, 2):
        ws.leaf(f"pki/expe{n}.pem",
                edge.leaf("mra.acme.com", [f"expe{n}.acme.com", "acme.com", "acme.net"]), edge.certs)
        ws.leaf(f"pki/expc{n}.pem", control.leaf("expc.acme.local", [f"expc{n}.acme.local", "acme.com", "acme.net"]))
    ws.leaf("pki/cucm-tomcat.pem", voice.leaf("cucm-pub.acme.local"))
    ws.leaf("pki/cucm-callmanager.pem", sip.leaf("cucm-pub.acme.local"))
    return ws, edge, control, voice, sip


def test_different_cas_each_side_trusts_the_other_sides_chain(inventory, pki, trust_entries, expected_entries,
                                                              sans_of):
    ws, edge, control, voice, _sip = _different_cas(inventory, pki)
    state = ws.desired()

    for fqdn in ("expe1.acme.com", "expe2.acme.com"):
        assert trust_entries(state.node(fqdn)) == expected_entries((TRUSTED_CA, control.certs)), fqdn
    # C: the edge chain (completed from the edge's own files) and CUCM's tomcat chain (TLS Verify on);
    # not the CallManager chain, because secure registration is off.
    for fqdn in ("expc1.acme.local", "expc2.acme.local"):
        assert trust_entries(state.node(fqdn)) == expected_entries(
            (TRUSTED_CA, edge.certs), (TRUSTED_CA, voice.certs)), fqdn
    # The publisher also holds the chains of the cluster's own identities (CUCM001: an install needs them).
    assert trust_entries(state.node("cucm-pub.acme.local")) == expected_entries(
        (TOMCAT, control.certs), (CALLMANAGER, control.certs), (TOMCAT, voice.certs), (CALLMANAGER, _sip.certs))
    assert_peers_share_one_list(state)

    c1 = state.node("expc1.acme.local")
    for cert in edge.certs:
        assert codes(entry_for(c1, cert)) == {"MRA020", "MRA023"}
    for cert in voice.certs:
        entry = entry_for(c1, cert)
        assert codes(entry) == {"MRA031", "MRA023"}
        assert all("tomcat" in r.text and "MRA033" in r.text for r in entry.reasons if r.code == "MRA031")
    assert sans_of(state.node("expe1.acme.com")) == [
        ("mra.acme.com", "MRA015"), ("expe1.acme.com", "MRA015"), ("acme.com", "MRA013"), ("acme.net", "MRA013")]
    assert sans_of(state.node("expc2.acme.local")) == [
        ("expc.acme.local", "MRA015"), ("expc2.acme.local", "MRA015"), ("acme.com", "MRA010"),
        ("acme.net", "MRA010")]
    assert ws.judged(state).all() == []


@pytest.mark.parametrize(("version", "stores"), [
    ("X14.3", {TOMCAT, CALLMANAGER}),
    ("X14.0.2", {TOMCAT, CALLMANAGER}),     # from X14.0.2 both, even with CUCM non-secure
    ("X14.0.1", {TOMCAT}),                  # before: tomcat-trust for TLS Verify only
])
def test_cucm_publisher_stores_depend_on_the_control_version(inventory, pki, trust_entries, expected_entries,
                                                             version, stores):
    ws, _edge, control, voice, sip = _different_cas(inventory, pki)
    ws.edit("version: X14.3", f"version: {version}", count=2)
    state = ws.desired()
    publisher = state.node("cucm-pub.acme.local")
    own = ((TOMCAT, voice.certs), (CALLMANAGER, sip.certs))  # its own identities' chains, whatever the version
    assert trust_entries(publisher) == expected_entries(*((store, control.certs) for store in sorted(stores)), *own)
    assert ws.judged(state).all() == []


def test_secure_registration_adds_the_callmanager_chain_on_c(inventory, pki, trust_entries, expected_entries):
    ws, edge, _control, voice, sip = _different_cas(inventory, pki)
    ws.edit("secure_registration: false", "secure_registration: true")
    state = ws.desired()
    c2 = state.node("expc2.acme.local")
    assert trust_entries(c2) == expected_entries(
        (TRUSTED_CA, edge.certs), (TRUSTED_CA, voice.certs), (TRUSTED_CA, sip.certs))
    for cert in sip.certs:
        entry = entry_for(c2, cert)
        assert codes(entry) == {"MRA031", "MRA023"}
        assert all("CallManager" in r.text for r in entry.reasons if r.code == "MRA031")


def test_tls_verify_off_and_pre_x14_0_2_leaves_cucm_out_entirely(inventory, pki, trust_entries, expected_entries):
    ws, edge, _control, voice, sip = _different_cas(inventory, pki)
    ws.edit("version: X14.3", "version: X14.0.1", count=2)
    ws.edit("tls_verify: true", "tls_verify: false")
    state = ws.desired()
    # Nothing of the C: only the chains of CUCM's own identities (CUCM001).
    assert trust_entries(state.node("cucm-pub.acme.local")) == expected_entries(
        (TOMCAT, voice.certs), (CALLMANAGER, sip.certs))
    assert trust_entries(state.node("expc1.acme.local")) == expected_entries((TRUSTED_CA, edge.certs))


# ------------------------------------------------------------------------------------------------------------
def test_public_e_private_c(inventory, pki, trust_entries, expected_entries, sans_of):
    public, acme, adc = pki.chain("Public"), pki.chain("Acme"), pki.chain("ADC")
    ws = inventory("public-e-private-c")
    ws.certs("pki/public-chain.pem", public.certs)
    ws.certs("pki/acme-chain.pem", acme.certs)
    ws.certs("pki/lb-root.pem", [adc.root.cert])
    for n in (1, 2):
        ws.leaf(f"pki/expe{n}.pem", public.leaf("mra.acme.com", [f"expe{n}.acme.com", "acme.com"], ekus=SERVER_ONLY))
        ws.leaf(f"pki/expc{n}.pem", acme.leaf("expc.acme.local", [f"expc{n}.acme.local", "acme.com"]))

    state = ws.desired()

    assert node_names(state) == ["expe1.acme.com", "expe2.acme.com", "expc1.acme.local", "expc2.acme.local"]
    for fqdn in ("expe1.acme.com", "expe2.acme.com"):
        assert trust_entries(state.node(fqdn)) == expected_entries(
            (TRUSTED_CA, acme.certs), (TRUSTED_CA, [adc.root.cert])), fqdn
        lb = entry_for(state.node(fqdn), adc.root.cert)
        assert [(r.code, r.text) for r in lb.reasons] == [
            ("inventory", "named in expressway.exp-e.trust[0] (authority lb-root)")]
    for fqdn in ("expc1.acme.local", "expc2.acme.local"):
        assert trust_entries(state.node(fqdn)) == expected_entries((TRUSTED_CA, public.certs)), fqdn
        for cert in public.certs:
            assert codes(entry_for(state.node(fqdn), cert)) == {"MRA020", "MRA023"}
    assert_peers_share_one_list(state)
    assert sans_of(state.node("expe1.acme.com")) == [
        ("mra.acme.com", "MRA015"), ("expe1.acme.com", "MRA015"), ("acme.com", "MRA013")]
    assert sans_of(state.node("expc2.acme.local")) == [
        ("expc.acme.local", "MRA015"), ("expc2.acme.local", "MRA015"), ("acme.com", "MRA010")]
    # serverAuth-only on the X15.5 edge is fine; nothing else to report either.
    assert ws.judged(state).all() == []


def test_public_e_private_c_validates_clean_through_the_cli(inventory, pki, run_mrakit):
    public, acme, adc = pki.chain("Public"), pki.chain("Acme"), pki.chain("ADC")
    ws = inventory("public-e-private-c")
    ws.certs("pki/public-chain.pem", public.certs)
    ws.certs("pki/acme-chain.pem", acme.certs)
    ws.certs("pki/lb-root.pem", [adc.root.cert])
    for n in (1, 2):
        ws.leaf(f"pki/expe{n}.pem", public.leaf("mra.acme.com", [f"expe{n}.acme.com", "acme.com"], ekus=SERVER_ONLY))
        ws.leaf(f"pki/expc{n}.pem", acme.leaf("expc.acme.local", [f"expc{n}.acme.local", "acme.com"]))
    assert ws.missing_files() == set()
    proc = run_mrakit("validate", "-i", ws.path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 nodes" in proc.stdout
    assert "0 error(s), 0 warning(s)" in proc.stdout
    assert proc.stderr == ""


# ------------------------------------------------------------------------------------------------------------
def test_x15_5_split_client_cert_edge_trusts_the_client_chain(inventory, pki, trust_entries, expected_entries,
                                                              sans_of):
    public, server, client = pki.chain("Public"), pki.chain("Acme Server"), pki.chain("Acme Client")
    ws = inventory("x15-5-split-client-cert")
    ws.certs("pki/public-chain.pem", public.certs)
    ws.certs("pki/server-chain.pem", server.certs)
    ws.certs("pki/client-chain.pem", client.certs)
    for n in (1, 2):
        ws.leaf(f"pki/expe{n}.pem", public.leaf("mra.acme.com", [f"expe{n}.acme.com", "acme.com"], ekus=SERVER_ONLY))
        names = [f"expc{n}.acme.local", "acme.com"]
        ws.leaf(f"pki/expc{n}.pem", server.leaf("expc.acme.local", names, ekus=SERVER_ONLY))
        ws.leaf(f"pki/expc{n}-client.pem", client.leaf("expc.acme.local", names))
    ws.leaf("pki/cucm-tomcat.pem", server.leaf("cucm-pub.acme.local"))
    ws.leaf("pki/cucm-callmanager.pem", server.leaf("cucm-pub.acme.local"))

    state = ws.desired()

    # E validates the certificate C presents as TLS client: the client certificate (Acme Client chain).
    for fqdn in ("expe1.acme.com", "expe2.acme.com"):
        entries = trust_entries(state.node(fqdn))
        assert entries == expected_entries((TRUSTED_CA, client.certs)), fqdn
        assert not {c.fingerprint_sha256 for c in server.certs} & {e[2] for e in entries}
        for cert in client.certs:
            assert all("client certificate" in r.text for r in entry_for(state.node(fqdn), cert).reasons
                       if r.code == "MRA020")
    # C validates E's server certificate (public) and CUCM's tomcat (Acme Server).
    for fqdn in ("expc1.acme.local", "expc2.acme.local"):
        assert trust_entries(state.node(fqdn)) == expected_entries(
            (TRUSTED_CA, public.certs), (TRUSTED_CA, server.certs)), fqdn
    # CUCM: tomcat-trust validates what C presents as TLS client (the client certificate); CallManager-trust
    # also validates C's server certificate when CUCM connects to C for SIP (MRA032, C ≥ X14.0.2).
    # … and each unit holds the chain of CUCM's own identity of that unit (CUCM001): Acme Server here.
    assert trust_entries(state.node("cucm-pub.acme.local")) == expected_entries(
        (TOMCAT, client.certs), (TOMCAT, server.certs), (CALLMANAGER, client.certs), (CALLMANAGER, server.certs))
    assert_peers_share_one_list(state)
    assert sans_of(state.node("expc2.acme.local")) == [
        ("expc.acme.local", "MRA015"), ("expc2.acme.local", "MRA015"), ("acme.com", "MRA010")]
    c2 = state.node("expc2.acme.local")
    assert c2.client_certificate is not None
    assert c2.client_certificate.key_path == ws.dir / "pki/expc2-client.key"
    assert ws.judged(state).all() == []


# ------------------------------------------------------------------------------------------------------------
def test_self_signed_cucm_same_subject_is_mra022_on_every_c_peer(inventory, pki, trust_entries, expected_entries,
                                                                 sans_of):
    acme = pki.chain("Acme")
    # CUCM's default identities: self-signed, subject = the publisher FQDN, one key each.
    tomcat = CertificateAuthority.create_root("cucm-pub.acme.local")
    callmanager = CertificateAuthority.create_root("cucm-pub.acme.local")
    assert tomcat.cert.subject == callmanager.cert.subject == "CN=cucm-pub.acme.local"
    ws = inventory("self-signed-cucm")
    ws.certs("pki/acme-chain.pem", acme.certs)
    for n in (1, 2):
        ws.leaf(f"pki/expe{n}.pem", acme.leaf("mra.acme.com", [f"expe{n}.acme.com", "acme.com"]))
        ws.leaf(f"pki/expc{n}.pem", acme.leaf("expc.acme.local", [
            f"expc{n}.acme.local", "acme.com", "secure-8865.acme.local", "secure-dx80.acme.local"]))
    ws.certs("pki/cucm-tomcat.pem", [tomcat.cert])
    ws.certs("pki/cucm-callmanager.pem", [callmanager.cert])

    state = ws.desired()

    for fqdn in ("expc1.acme.local", "expc2.acme.local"):
        node = state.node(fqdn)
        # Both self-signed certificates are needed (each is its own trust anchor), plus the edge chain.
        assert trust_entries(node) == expected_entries(
            (TRUSTED_CA, acme.certs), (TRUSTED_CA, [tomcat.cert, callmanager.cert])), fqdn
        assert codes(entry_for(node, tomcat.cert)) == {"MRA031", "MRA023"}
        assert codes(entry_for(node, callmanager.cert)) == {"MRA031", "MRA023"}
        mra022 = [f for f in ws.judged(state).of_node(fqdn) if f.code == "MRA022"]
        assert len(mra022) == 1, ws.judged(state).of_node(fqdn)
        assert mra022[0].severity == "error"
        assert mra022[0].node == fqdn and mra022[0].cluster == "exp-c"
        assert "CN=cucm-pub.acme.local" in mra022[0].message
        assert sorted(mra022[0].evidence["fingerprints"]) == sorted(
            [tomcat.cert.fingerprint_sha256, callmanager.cert.fingerprint_sha256])
        assert sans_of(node)[-2:] == [("secure-8865.acme.local", "MRA012"), ("secure-dx80.acme.local", "MRA012")]
    for fqdn in ("expe1.acme.com", "expe2.acme.com"):
        assert trust_entries(state.node(fqdn)) == expected_entries((TRUSTED_CA, acme.certs))
        assert ws.judged(state).of_node(fqdn) == ()
    # … and its own self-signed identities, each in its unit (CUCM001).
    assert trust_entries(state.node("cucm-pub.acme.local")) == expected_entries(
        (TOMCAT, acme.certs), (CALLMANAGER, acme.certs), (TOMCAT, [tomcat.cert]), (CALLMANAGER, [callmanager.cert]))
    assert_peers_share_one_list(state)
    assert sorted((f.code, f.node) for f in ws.judged(state).all()) == [
        ("MRA022", "expc1.acme.local"), ("MRA022", "expc2.acme.local")]


# ------------------------------------------------------------------------------------------------------------
def test_two_control_clusters_sharing_one_edge(inventory, pki, trust_entries, expected_entries, sans_of):
    public, acme, beta = pki.chain("Public"), pki.chain("Acme"), pki.chain("Beta")
    ws = inventory("two-control-clusters-sharing-one-edge")
    ws.certs("pki/public-chain.pem", public.certs)
    ws.certs("pki/acme-chain.pem", acme.certs)
    ws.certs("pki/beta-chain.pem", beta.certs)
    for n in (1, 2):
        ws.leaf(f"pki/expe{n}.pem", public.leaf(
            "mra.hosting.net", [f"expe{n}.hosting.net", "acme.com", "beta.com", "beta.org"], ekus=SERVER_ONLY))
        ws.leaf(f"pki/expc{n}-acme.pem", acme.leaf("expc.acme.local", [f"expc{n}.acme.local", "acme.com"]))
    ws.leaf("pki/expc-beta.pem", beta.leaf("expc.beta.local", ["beta.com", "beta.org"]))

    state = ws.desired()

    for fqdn in ("expe1.hosting.net", "expe2.hosting.net"):
        node = state.node(fqdn)
        assert trust_entries(node) == expected_entries((TRUSTED_CA, acme.certs), (TRUSTED_CA, beta.certs)), fqdn
        assert sans_of(node) == [
            ("mra.hosting.net", "MRA015"), (fqdn, "MRA015"),
            ("acme.com", "MRA013"), ("beta.com", "MRA013"), ("beta.org", "MRA013")]
        assert all("exp-c-beta/" in r.text for c in beta.certs for r in entry_for(node, c).reasons
                   if r.code == "MRA020")
    for fqdn in ("expc1.acme.local", "expc2.acme.local", "expc.beta.local"):
        assert trust_entries(state.node(fqdn)) == expected_entries((TRUSTED_CA, public.certs)), fqdn
    assert sans_of(state.node("expc2.acme.local")) == [
        ("expc.acme.local", "MRA015"), ("expc2.acme.local", "MRA015"), ("acme.com", "MRA010")]
    single = state.node("expc.beta.local")
    assert single.common_name == "expc.beta.local"
    assert sans_of(single) == [("expc.beta.local", "MRA017"), ("beta.com", "MRA010"), ("beta.org", "MRA010")]
    assert_peers_share_one_list(state)
    assert ws.judged(state).all() == []


def test_edge_missing_the_second_tenants_domain_is_mra013(inventory, pki):
    public, acme, beta = pki.chain("Public"), pki.chain("Acme"), pki.chain("Beta")
    ws = inventory("two-control-clusters-sharing-one-edge")
    ws.certs("pki/public-chain.pem", public.certs)
    ws.certs("pki/acme-chain.pem", acme.certs)
    ws.certs("pki/beta-chain.pem", beta.certs)
    for n in (1, 2):
        ws.leaf(f"pki/expe{n}.pem", public.leaf(
            "mra.hosting.net", [f"expe{n}.hosting.net", "acme.com", "beta.com"], ekus=SERVER_ONLY))
        ws.leaf(f"pki/expc{n}-acme.pem", acme.leaf("expc.acme.local", [f"expc{n}.acme.local", "acme.com"]))
    ws.leaf("pki/expc-beta.pem", beta.leaf("expc.beta.local", ["beta.com", "beta.org"]))
    state = ws.desired()
    found = sorted((f.code, f.severity.value, f.node, f.evidence.get("missing_san")) for f in ws.judged(state).all())
    assert found == [("MRA013", "error", "expe1.hosting.net", "beta.org"),
                     ("MRA013", "error", "expe2.hosting.net", "beta.org")]


# ------------------------------------------------------------------------------------------------------------
E_XMPP_SANS = ["mra.acme.com", "collab-edge.acme.com", "chat1.acme.com", "chat2.acme.com", "im.acme.com"]


def _xmpp(inventory, pki, e_sans: list[str] = E_XMPP_SANS):
    acme = pki.chain("Acme")
    ws = inventory("xmpp-federation")
    ws.certs("pki/acme-chain.pem", acme.certs)
    for n in (1, 2):
        ws.leaf(f"pki/expe{n}.pem", acme.leaf("mra.acme.com", [f"expe{n}.acme.com", *e_sans]))
        ws.leaf(f"pki/expc{n}.pem", acme.leaf(
            "expc.acme.local", [f"expc{n}.acme.local", "acme.com", "chat1.acme.com", "chat2.acme.com"]))
    return ws, acme


def test_xmpp_federation_names_on_c_and_e(inventory, pki, trust_entries, expected_entries, sans_of):
    ws, acme = _xmpp(inventory, pki)
    state = ws.desired()
    for n in (1, 2):
        assert sans_of(state.node(f"expe{n}.acme.com")) == [
            ("mra.acme.com", "MRA015"), (f"expe{n}.acme.com", "MRA015"),
            ("collab-edge.acme.com", "MRA013"),
            ("chat1.acme.com", "MRA014"), ("chat2.acme.com", "MRA014"), ("im.acme.com", "MRA014")]
        # Chat aliases on C (MRA011); the federation domain is an edge-only requirement.
        assert sans_of(state.node(f"expc{n}.acme.local")) == [
            ("expc.acme.local", "MRA015"), (f"expc{n}.acme.local", "MRA015"), ("acme.com", "MRA010"),
            ("chat1.acme.com", "MRA011"), ("chat2.acme.com", "MRA011")]
        assert trust_entries(state.node(f"expe{n}.acme.com")) == expected_entries((TRUSTED_CA, acme.certs))
        assert trust_entries(state.node(f"expc{n}.acme.local")) == expected_entries((TRUSTED_CA, acme.certs))
    assert_peers_share_one_list(state)
    assert ws.judged(state).all() == []


def test_xmpp_edge_certificate_without_a_chat_alias_is_mra014(inventory, pki):
    ws, _acme = _xmpp(inventory, pki, e_sans=[s for s in E_XMPP_SANS if s != "chat2.acme.com"])
    state = ws.desired()
    found = sorted((f.code, f.severity.value, f.node, f.evidence.get("missing_san")) for f in ws.judged(state).all())
    assert found == [("MRA014", "error", "expe1.acme.com", "chat2.acme.com"),
                     ("MRA014", "error", "expe2.acme.com", "chat2.acme.com")]


# ------------------------------------------------------------------------------------------------------------
ALL_SCENARIOS = sorted(p.stem for p in Path(__file__).with_name("scenarios").glob("*.yaml"))


def test_every_scenario_file_is_covered_here():
    expected = ["different-cas", "public-e-private-c", "same-ca-for-c-and-e", "self-signed-cucm",
                "two-control-clusters-sharing-one-edge", "x15-5-split-client-cert", "xmpp-federation"]
    found = list(ALL_SCENARIOS)
    assert found == expected


@pytest.mark.parametrize("name", ALL_SCENARIOS)
def test_scenario_without_its_certificates_still_loads_for_lab_init(inventory, name: str):
    """Each scenario is schema-valid on its own: with require_files=False it loads without any file."""
    ws = inventory(name)
    loaded = load_inventory(ws.path, require_files=False)
    assert loaded.expressway and all(c.peers for c in loaded.expressway.values())
