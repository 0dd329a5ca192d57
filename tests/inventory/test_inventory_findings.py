"""Offline findings on the certificates an inventory names (desired_state → node and state findings):
MRA001 (version-aware EKUs), MRA004, MRA008, MRA010/MRA013, MRA016, MRA020 (chain cannot be completed)."""

from __future__ import annotations

import builtins
import json
import os

import pytest

from mrakit.desired import DesiredState, desired_state
from mrakit.pki import CLIENT_AUTH, SERVER_AUTH, generate_private_key, write_private_key
from mrakit.rules.registry import judge_desired

SERVER_ONLY = (SERVER_AUTH,)

EDGE_ONLY = """\
version: 1
authorities:
  acme-chain: {{file: pki/acme-chain.pem}}
expressway:
  exp-e:
    role: edge
    version: {version}
    server_eku_upload: {upload}
    cluster_fqdn: expe1.acme.com
    peers:
      - {{fqdn: expe1.acme.com, certificate: pki/expe1.pem}}
"""

PAIR = """\
version: 1
authorities:
  acme-chain: {file: pki/acme-chain.pem}
expressway:
  exp-e:
    role: edge
    version: X15.5.1
    cluster_fqdn: mra.acme.com
    peers:
      - {fqdn: expe1.acme.com, certificate: pki/expe1.pem}
      - {fqdn: expe2.acme.com, certificate: pki/expe2.pem}
  exp-c:
    role: control
    version: X15.5.1
    cluster_fqdn: expc.acme.local
    domains: [acme.com, acme.org]
    traversal: exp-e
    peers:
      - {fqdn: expc1.acme.local, certificate: pki/expc1.pem}
      - {fqdn: expc2.acme.local, certificate: pki/expc2.pem}
endpoints: {phones: true, jabber: true, tc_endpoints: false}
"""

E_SANS = ["mra.acme.com", "acme.com", "acme.org"]
C_SANS = ["expc.acme.local", "acme.com", "acme.org"]


def found(ws, state: DesiredState) -> list[tuple[str, str, str | None]]:
    """(code, severity, node) of every finding, sorted."""
    return sorted((f.code, f.severity.value, f.node) for f in ws.judged(state).all())


def pair(inventory, pki, *, e_sans=E_SANS, c_sans=C_SANS):
    """The PAIR inventory with correct certificates, unless told otherwise; returns (workspace, CA chain)."""
    acme = pki.chain("Acme")
    ws = inventory(text=PAIR)
    ws.certs("pki/acme-chain.pem", acme.certs)
    for n in (1, 2):
        ws.leaf(f"pki/expe{n}.pem", acme.leaf("mra.acme.com", [f"expe{n}.acme.com", *e_sans]))
        ws.leaf(f"pki/expc{n}.pem", acme.leaf("expc.acme.local", [f"expc{n}.acme.local", *c_sans]))
    return ws, acme


def test_correct_pair_has_no_findings(inventory, pki):
    ws, _acme = pair(inventory, pki)
    assert found(ws, ws.desired()) == []


# --------------------------------------------------------------------------------------------------- MRA001
@pytest.mark.parametrize(("version", "upload", "fires"), [
    ("X14.3", "false", True),
    ("X15.3.2", "false", True),      # before X15.4: both EKUs on both roles
    ("X15.3.2", "true", True),       # EnableServerEkuUpload does not exist before X15.4
    ("X15.4", "false", True),        # X15.4 without EnableServerEkuUpload: still both
    ("X15.4", "true", False),        # X15.4 edge with EnableServerEkuUpload: serverAuth-only accepted
    ("X15.5.1", "false", False),     # X15.5: the server store takes serverAuth-only
])
def test_mra001_server_auth_only_edge_certificate_by_version(inventory, pki, version, upload, fires):
    acme = pki.chain("Acme")
    ws = inventory(text=EDGE_ONLY.format(version=version, upload=upload))
    ws.certs("pki/acme-chain.pem", acme.certs)
    ws.leaf("pki/expe1.pem", acme.leaf("expe1.acme.com", ["expe1.acme.com"], ekus=SERVER_ONLY))
    state = ws.desired()
    assert found(ws, state) == ([("MRA001", "error", "expe1.acme.com")] if fires else [])
    if fires:
        (finding,) = ws.judged(state).all()
        assert "lacks clientAuth" in finding.message
        assert finding.cluster == "exp-e"


def test_mra001_not_for_a_certificate_with_both_ekus_on_an_old_edge(inventory, pki):
    acme = pki.chain("Acme")
    ws = inventory(text=EDGE_ONLY.format(version="X14.3", upload="false"))
    ws.certs("pki/acme-chain.pem", acme.certs)
    ws.leaf("pki/expe1.pem", acme.leaf("expe1.acme.com", ["expe1.acme.com"], ekus=(SERVER_AUTH, CLIENT_AUTH)))
    assert found(ws, ws.desired()) == []


def test_mra001_x15_5_control_without_client_certificate_needs_both_ekus(inventory, pki):
    """Without a client_certificate the C presents its server certificate as TLS client."""
    acme = pki.chain("Acme")
    ws = inventory(text=PAIR)
    ws.certs("pki/acme-chain.pem", acme.certs)
    for n in (1, 2):
        ws.leaf(f"pki/expe{n}.pem", acme.leaf("mra.acme.com", [f"expe{n}.acme.com", *E_SANS], ekus=SERVER_ONLY))
        ws.leaf(f"pki/expc{n}.pem", acme.leaf("expc.acme.local", [f"expc{n}.acme.local", *C_SANS], ekus=SERVER_ONLY))
    assert found(ws, ws.desired()) == [("MRA001", "error", "expc1.acme.local"), ("MRA001", "error", "expc2.acme.local")]


SPLIT_MIXED = PAIR.replace(
    "      - {fqdn: expc1.acme.local, certificate: pki/expc1.pem}\n",
    "      - {fqdn: expc1.acme.local, certificate: pki/expc1.pem, client_certificate: pki/expc1-client.pem}\n")


def test_mra001_x15_5_client_certificate_without_client_auth(inventory, pki):
    acme = pki.chain("Acme")
    ws = inventory(text=SPLIT_MIXED.replace(
        "pki/expc2.pem}", "pki/expc2.pem, client_certificate: pki/expc2-client.pem}"))
    ws.certs("pki/acme-chain.pem", acme.certs)
    for n in (1, 2):
        ws.leaf(f"pki/expe{n}.pem", acme.leaf("mra.acme.com", [f"expe{n}.acme.com", *E_SANS], ekus=SERVER_ONLY))
        ws.leaf(f"pki/expc{n}.pem", acme.leaf("expc.acme.local", [f"expc{n}.acme.local", *C_SANS], ekus=SERVER_ONLY))
    ws.leaf("pki/expc1-client.pem", acme.leaf("expc.acme.local", ["expc1.acme.local"], ekus=(CLIENT_AUTH,)))
    ws.leaf("pki/expc2-client.pem", acme.leaf("expc.acme.local", ["expc2.acme.local"], ekus=SERVER_ONLY))
    state = ws.desired()
    assert found(ws, state) == [("MRA001", "error", "expc2.acme.local")]
    assert "client certificate" in ws.judged(state).all()[0].message


def test_mra001_x15_5_peer_without_client_certificate_in_a_mixed_cluster(inventory, pki):
    acme = pki.chain("Acme")
    ws = inventory(text=SPLIT_MIXED)
    ws.certs("pki/acme-chain.pem", acme.certs)
    for n in (1, 2):
        ws.leaf(f"pki/expe{n}.pem", acme.leaf("mra.acme.com", [f"expe{n}.acme.com", *E_SANS], ekus=SERVER_ONLY))
        ws.leaf(f"pki/expc{n}.pem", acme.leaf("expc.acme.local", [f"expc{n}.acme.local", *C_SANS], ekus=SERVER_ONLY))
    ws.leaf("pki/expc1-client.pem", acme.leaf("expc.acme.local", ["expc1.acme.local"]))
    state = ws.desired()
    # expc2 has no client certificate, so its serverAuth-only server certificate is what it presents as client
    # (the EKU rule used to be decided per cluster, which let this pass).
    assert found(ws, state) == [("MRA001", "error", "expc2.acme.local")]
    assert "lacks clientAuth" in ws.judged(state).all()[0].message


def test_c_and_e_on_different_releases_from_x15_5_is_an_error(inventory, pki):
    ws, _acme = pair(inventory, pki)
    ws.edit("    version: X15.5.1\n    cluster_fqdn: mra.acme.com",
            "    version: X15.4\n    cluster_fqdn: mra.acme.com")
    state = ws.desired()
    version_findings = [f for f in ws.judged(state).general if f.cluster == "exp-c" and "same version" in f.message]
    assert len(version_findings) == 1
    assert version_findings[0].severity.value == "error"
    assert version_findings[0].evidence == {"control": "X15.5.1", "edge": "X15.4.0"}


# --------------------------------------------------------------------------------------------------- MRA004
@pytest.mark.parametrize(("common_name", "extra"), [
    ("mra.acme.com", ["*.acme.com"]),
    ("*.acme.com", []),
])
def test_mra004_wildcard_on_an_expressway_certificate(inventory, pki, common_name, extra):
    acme = pki.chain("Acme")
    ws, _ = pair(inventory, pki)
    ws.leaf("pki/expe1.pem", acme.leaf(common_name, ["mra.acme.com", "expe1.acme.com", *E_SANS, *extra]))
    state = ws.desired()
    codes = [(c, s, n) for c, s, n in found(ws, state) if c != "MRA015"]  # a wildcard CN is also a CN mismatch
    assert codes == [("MRA004", "error", "expe1.acme.com")]
    (finding,) = [f for f in ws.judged(state).all() if f.code == "MRA004"]
    assert finding.evidence["wildcards"] == ["*.acme.com"]


# ------------------------------------------------------------------------------------------- MRA010 / MRA013
def test_mra010_control_certificate_missing_a_domain(inventory, pki):
    ws, _acme = pair(inventory, pki, c_sans=["expc.acme.local", "acme.com"])
    state = ws.desired()
    assert found(ws, state) == [("MRA010", "error", "expc1.acme.local"), ("MRA010", "error", "expc2.acme.local")]
    assert {f.evidence["missing_san"] for f in ws.judged(state).all()} == {"acme.org"}


@pytest.mark.parametrize(("endpoints", "severity"), [
    ("{phones: true, jabber: true, tc_endpoints: false}", "error"),
    ("{phones: false, jabber: true, tc_endpoints: true}", "error"),    # room endpoints count as devices
    ("{phones: false, jabber: true, tc_endpoints: false}", "warning"),  # Jabber alone can accept a prompt
])
def test_mra013_edge_certificate_missing_a_domain(inventory, pki, endpoints, severity):
    ws, _acme = pair(inventory, pki, e_sans=["mra.acme.com", "acme.com"])
    ws.edit("{phones: true, jabber: true, tc_endpoints: false}", endpoints)
    state = ws.desired()
    assert found(ws, state) == [("MRA013", severity, "expe1.acme.com"), ("MRA013", severity, "expe2.acme.com")]
    assert {f.evidence["missing_san"] for f in ws.judged(state).all()} == {"acme.org"}


def test_mra015_missing_peer_fqdn_on_a_shared_certificate(inventory, pki):
    """One certificate copied to both peers must list every peer's FQDN (MRA016); here it lacks expe2."""
    acme = pki.chain("Acme")
    ws, _ = pair(inventory, pki)
    shared = acme.leaf("mra.acme.com", ["expe1.acme.com", *E_SANS])
    ws.leaf("pki/expe1.pem", shared)
    ws.leaf("pki/expe2.pem", shared)
    state = ws.desired()
    assert found(ws, state) == [("MRA015", "error", "expe2.acme.com"), ("MRA016", "warning", None)]


# --------------------------------------------------------------------------------------------------- MRA016
def test_mra016_two_peers_sharing_one_key(inventory, pki):
    acme = pki.chain("Acme")
    ws, _ = pair(inventory, pki)
    key = generate_private_key("p256")
    ws.leaf("pki/expc1.pem", acme.leaf("expc.acme.local", ["expc1.acme.local", *C_SANS], key=key))
    ws.leaf("pki/expc2.pem", acme.leaf("expc.acme.local", ["expc2.acme.local", *C_SANS], key=key))
    state = ws.desired()
    assert found(ws, state) == [("MRA016", "warning", None)]
    (finding,) = ws.judged(state).general
    assert finding.cluster == "exp-c"
    assert finding.evidence == {"peers": ["expc1.acme.local", "expc2.acme.local"]}


# --------------------------------------------------------------------------------------------------- MRA008
def test_mra008_certificate_does_not_match_its_key(inventory, pki):
    acme = pki.chain("Acme")
    ws, _ = pair(inventory, pki)
    issued = acme.leaf("mra.acme.com", ["expe2.acme.com", *E_SANS])
    ws.leaf("pki/expe2.pem", issued, key=generate_private_key("p256"))
    state = ws.desired()
    assert found(ws, state) == [("MRA008", "error", "expe2.acme.com")]
    (finding,) = ws.judged(state).all()
    assert finding.message == "expe2.pem does not match the private key expe2.key"
    assert finding.evidence == {"certificate": issued.cert.fingerprint_sha256}


def test_mra008_with_an_explicit_key_path(inventory, pki):
    ws, _ = pair(inventory, pki)
    ws.edit("{fqdn: expe2.acme.com, certificate: pki/expe2.pem}",
            "{fqdn: expe2.acme.com, certificate: pki/expe2.pem, key: keys/other.key}")
    (ws.dir / "keys").mkdir()
    write_private_key(ws.dir / "keys" / "other.key", generate_private_key("p256"))  # not expe2.pem's key
    state = ws.desired()
    assert found(ws, state) == [("MRA008", "error", "expe2.acme.com")]


# --------------------------------------------------------------------------------------------------- MRA020
@pytest.mark.parametrize("present", ["root-only", "issuing-only"])
def test_mra020_chain_cannot_be_completed(inventory, pki, trust_entries, expected_entries, present):
    acme = pki.chain("Acme")
    ws, _ = pair(inventory, pki)
    known = [acme.root.cert] if present == "root-only" else [acme.issuing.cert]
    ws.certs("pki/acme-chain.pem", known)
    missing = acme.issuing.cert if present == "root-only" else acme.root.cert
    state = ws.desired()

    # Nothing above the leaf is known: MRA020; the intermediate is known but not its root: MRA021.
    code = "MRA020" if present == "root-only" else "MRA021"
    mra020 = [f for f in ws.judged(state).general if f.code == code]
    assert sorted((f.cluster, f.node, f.severity.value) for f in mra020) == [
        ("exp-c", "expc1.acme.local", "error"), ("exp-c", "expc2.acme.local", "error"),
        ("exp-e", "expe1.acme.com", "error"), ("exp-e", "expe2.acme.com", "error")]
    for finding in mra020:
        assert finding.evidence["missing_issuer"] == missing.subject
        assert f"issuer {missing.subject!r} is not known" in finding.message
        assert "nothing of this chain is uploaded" in finding.message
    # Never half a chain: not even the known intermediate is trusted while its root is unknown.
    for fqdn in ("expe1.acme.com", "expc2.acme.local"):
        assert trust_entries(state.node(fqdn)) == []


@pytest.mark.parametrize("present", ["root-only", "issuing-only"])
def test_an_unresolved_chain_is_data_on_the_desired_state(inventory, pki, present):
    """The derivation says what it could not resolve (which relation, which certificate, which issuer,
    what it did find); the rules make MRA020/MRA021 of it."""
    acme = pki.chain("Acme")
    ws, _ = pair(inventory, pki)
    ws.certs("pki/acme-chain.pem", [acme.root.cert] if present == "root-only" else [acme.issuing.cert])
    missing = acme.issuing.cert if present == "root-only" else acme.root.cert
    state = ws.desired()

    assert sorted((u.relation.subject, u.relation.kind) for u in state.unresolved) == [
        ("expc1.acme.local", "server"), ("expc2.acme.local", "server"),
        ("expe1.acme.com", "server"), ("expe2.acme.com", "server")]
    for gap in state.unresolved:
        assert gap.missing_issuer == missing.subject
        assert gap.certificate.fingerprint_sha256 != missing.fingerprint_sha256
        assert gap.found == (() if present == "root-only" else (acme.issuing.cert,))
    assert [(f.code, f.node, f.evidence["certificate"]) for f in ws.judged(state).general] == [
        ("MRA020" if present == "root-only" else "MRA021", gap.relation.subject, gap.certificate.fingerprint_sha256)
        for gap in state.unresolved]


def test_deriving_reads_no_file(inventory, pki, monkeypatch):
    """The derivation is pure: a key that does not match its certificate is found by the rules (MRA008,
    which read the key file), never by desired_state."""
    ws, _ = pair(inventory, pki)
    ws.leaf("pki/expe2.pem", pki.chain("Acme").leaf("mra.acme.com", ["expe2.acme.com", *E_SANS]),
            key=generate_private_key("p256"))
    loaded = ws.load()

    def no_reading(*args, **kwargs):
        raise AssertionError(f"desired_state opened a file: {args[:1]}")

    with monkeypatch.context() as patched:
        patched.setattr(os, "open", no_reading)
        patched.setattr(builtins, "open", no_reading)
        state = desired_state(loaded)
    assert [(f.code, f.node) for f in judge_desired(loaded, state).all()] == [
        ("MRA008", "expe2.acme.com")]


def test_mra020_chain_completed_from_the_certificate_file(inventory, pki, trust_entries, expected_entries):
    """The same missing authority, but the leaf file carries its chain: nothing is missing."""
    acme = pki.chain("Acme")
    ws, _ = pair(inventory, pki)
    ws.certs("pki/acme-chain.pem", [acme.root.cert])
    for n in (1, 2):
        ws.leaf(f"pki/expe{n}.pem", acme.leaf("mra.acme.com", [f"expe{n}.acme.com", *E_SANS]), [acme.issuing.cert])
        ws.leaf(f"pki/expc{n}.pem", acme.leaf("expc.acme.local", [f"expc{n}.acme.local", *C_SANS]),
                [acme.issuing.cert])
    state = ws.desired()
    assert found(ws, state) == []
    assert trust_entries(state.node("expe1.acme.com")) == expected_entries(("trusted_ca", acme.certs))


def test_validate_exits_2_on_error_findings(inventory, pki, run_mrakit):
    ws, _ = pair(inventory, pki, c_sans=["expc.acme.local", "acme.com"])  # MRA010 errors
    proc = run_mrakit("validate", "-i", ws.path, "--format", "json")
    assert proc.returncode == 2, proc.stderr
    report = json.loads(proc.stdout)
    assert report["valid"] is True
    assert sorted((f["code"], f["node"]) for f in report["findings"]) == [
        ("MRA010", "expc1.acme.local"), ("MRA010", "expc2.acme.local")]


def test_validate_exits_0_on_warnings_only(inventory, pki, run_mrakit):
    ws, _ = pair(inventory, pki, e_sans=["mra.acme.com", "acme.com"])  # MRA013, Jabber only: warnings
    ws.edit("{phones: true, jabber: true, tc_endpoints: false}", "{phones: false, jabber: true}")
    proc = run_mrakit("validate", "-i", ws.path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 error(s), 2 warning(s)" in proc.stdout


# ------------------------------------------------------------------------------------- `trust` authorities
NAMED_TWICE = """\
version: 1
authorities:
  adc-root: {file: pki/adc-root.pem}
  adc-chain: {file: pki/adc-chain.pem}       # the ADC issuing CA, then the same ADC root again
expressway:
  exp-e:
    role: edge
    version: X15.5.1
    cluster_fqdn: mra.acme.com
    trust: [adc-root, adc-chain]
    peers:
      - {fqdn: expe1.acme.com}
      - {fqdn: expe2.acme.com}
"""


def test_ca_named_by_two_trust_authorities_is_listed_once(inventory, pki, trust_entries, expected_entries):
    adc = pki.chain("ADC")
    ws = inventory(text=NAMED_TWICE)
    ws.certs("pki/adc-root.pem", [adc.root.cert])
    ws.certs("pki/adc-chain.pem", adc.certs)
    state = ws.desired()
    for fqdn in ("expe1.acme.com", "expe2.acme.com"):
        assert trust_entries(state.node(fqdn)) == expected_entries(("trusted_ca", adc.certs))
    assert found(ws, state) == []


def test_trust_authorities_are_added_on_every_peer_with_an_inventory_reason(inventory, pki, trust_entries,
                                                                          expected_entries):
    adc = pki.chain("ADC")
    ws = inventory(text=NAMED_TWICE.replace("trust: [adc-root, adc-chain]", "trust: [adc-chain]"))
    ws.certs("pki/adc-root.pem", [adc.root.cert])
    ws.certs("pki/adc-chain.pem", adc.certs)
    state = ws.desired()
    for fqdn in ("expe1.acme.com", "expe2.acme.com"):
        node = state.node(fqdn)
        assert trust_entries(node) == expected_entries(("trusted_ca", adc.certs))
        assert [[(r.code, r.text) for r in t.reasons] for t in node.trust] == [
            [("inventory", "named in expressway.exp-e.trust[0] (authority adc-chain)")]] * 2
    assert found(ws, state) == []
