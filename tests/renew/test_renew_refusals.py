"""Mis-signed certificates are refused before anything changes: signed for another key, missing a
required SAN, wrong EKUs for the node's version."""

from __future__ import annotations

from pathlib import Path

import pytest
from _renewkit import EXPE1, EXPE2, PEERS, lab_json, one_line_error, run_cli, sign_csr_by_hand, write_count

from mrakit.desired import desired_state
from mrakit.errors import MrakitError, UnsafePlanError
from mrakit.inventory.load import load_inventory
from mrakit.lab.pki import lab_authorities
from mrakit.pki.load import load_certificate_file
from mrakit.planner import plan
from mrakit.renew import read_manifest, sign_csrs

X15_3 = {"expressway": {"exp-e": {"version": "X15.3"}, "exp-c": {"version": "X15.3"}}}


def _edge_csrs(inv_path: Path, csr_dir: Path) -> None:
    result = run_cli("csr", "-i", inv_path, "--cluster", "exp-e", "-o", csr_dir)
    assert result.code == 0, result.err


def _assert_refused_without_change(inv_path: Path, certificates: Path, *needles: str) -> str:
    """apply --certificates exits 1 with one error line containing `needles`, and nothing changed."""
    state_dir = load_inventory(inv_path).lab_state_dir
    before_writes, before_state = write_count(state_dir), lab_json(state_dir)
    result = run_cli("apply", "-i", inv_path, "--certificates", certificates, "--yes")
    assert result.code == 1, result.out + result.err
    line = one_line_error(result.err)
    for needle in needles:
        assert needle in line, (needle, line)
    assert write_count(state_dir) == before_writes, "a refused apply wrote to a node"
    assert lab_json(state_dir) == before_state
    return line


# --- (a) a certificate for another key ---------------------------------------------------------------

def test_certificate_for_another_key_is_refused_naming_the_file(make_deployment, tmp_path: Path) -> None:
    inv_path = make_deployment("fresh").path
    inventory = load_inventory(inv_path)
    csr_dir = tmp_path / "csr"
    _edge_csrs(inv_path, csr_dir)
    assert run_cli("sign", "-i", inv_path, "--csr-dir", csr_dir).code == 0
    # a CA-issued certificate with the right names, but for a fresh key nobody asked for
    issuer = lab_authorities(inventory.lab_state_dir).public_issuing
    sans = [s.name for s in desired_state(inventory).node(EXPE1).required_sans]
    stray = issuer.issue_leaf("mra.acme.com", sans, ekus=("serverAuth",))
    intruder = csr_dir / "expe1-from-the-ca-portal.pem"
    intruder.write_text(stray.cert.pem + issuer.cert.pem)
    line = _assert_refused_without_change(inv_path, csr_dir, str(intruder))
    assert "matches no pending CSR" in line
    # the library says the same thing, as an error, and the plan is never built
    with pytest.raises(MrakitError, match=r"expe1-from-the-ca-portal\.pem"):
        plan(inventory, certificates_dir=str(csr_dir))


def test_the_same_folder_without_the_intruder_is_accepted(make_deployment, tmp_path: Path) -> None:
    """Control for the refusals: the folder `mrakit sign` wrote is installed."""
    inv_path = make_deployment("fresh").path
    csr_dir = tmp_path / "csr"
    _edge_csrs(inv_path, csr_dir)
    assert run_cli("sign", "-i", inv_path, "--csr-dir", csr_dir).code == 0
    result = run_cli("apply", "-i", inv_path, "--certificates", csr_dir, "--yes")
    assert result.code == 0, result.out + result.err
    state = lab_json(load_inventory(inv_path).lab_state_dir)
    for fqdn in PEERS["exp-e"]:
        leaf = load_certificate_file(csr_dir / f"{fqdn}.pem")
        assert state["expressway"][fqdn]["server_chain"][0] == leaf.pem


# --- (b) a required SAN missing --------------------------------------------------------------------

@pytest.mark.parametrize("dropped", ["cluster", "peer", "domain"])
def test_certificate_missing_a_required_san_is_refused(make_deployment, tmp_path: Path, dropped: str) -> None:
    inv_path = make_deployment("fresh").path
    inventory = load_inventory(inv_path)
    csr_dir, signed_dir = tmp_path / "csr", tmp_path / "signed"
    _edge_csrs(inv_path, csr_dir)
    issuer = lab_authorities(inventory.lab_state_dir).public_issuing
    root = lab_authorities(inventory.lab_state_dir).public_root
    desired = desired_state(inventory)
    missing = {"cluster": "mra.acme.com", "peer": EXPE1, "domain": "acme.com"}[dropped]
    signed_dir.mkdir()
    for request in read_manifest(csr_dir):
        names = [s.name for s in desired.node(request.node).required_sans]
        if request.node == EXPE1:
            assert missing in names
            names.remove(missing)
        pem = sign_csr_by_hand(issuer, Path(request.csr_file), dns_names=names, ekus=("serverAuth",),
                               chain=[root.cert.pem])
        (signed_dir / f"{request.node}.pem").write_text(pem)
    (signed_dir / "manifest.json").write_text((csr_dir / "manifest.json").read_text())

    with pytest.raises(UnsafePlanError, match="refusing to install") as caught:
        plan(inventory, certificates_dir=str(signed_dir))
    assert EXPE1 in str(caught.value) and EXPE2 not in str(caught.value).split("(and")[0]
    line = _assert_refused_without_change(inv_path, signed_dir, "refusing to install", EXPE1)
    assert "nothing was changed" in line
    shown = run_cli("plan", "-i", inv_path, "--certificates", signed_dir)
    assert shown.code == 1 and one_line_error(shown.err) == line  # the plan is shown, then refused
    assert shown.out.startswith("Plan: ") and f"as the server certificate of exp-e/{EXPE1.split('.')[0]}" in shown.out


# --- (c) wrong EKUs for the version ------------------------------------------------------------------

def test_server_auth_only_on_x15_3_is_refused(make_deployment, tmp_path: Path) -> None:
    inv_path = make_deployment("fresh", X15_3).path
    inventory = load_inventory(inv_path)
    csr_dir, signed_dir = tmp_path / "csr", tmp_path / "signed"
    _edge_csrs(inv_path, csr_dir)
    written = sign_csrs(inventory, csr_dir, signed_dir, ekus=("serverAuth",))
    assert len(written) == 2 and all(load_certificate_file(p).ekus == ("serverAuth",) for p in written)
    with pytest.raises(UnsafePlanError, match="refusing to install"):
        plan(inventory, certificates_dir=str(signed_dir))
    line = _assert_refused_without_change(inv_path, signed_dir, "refusing to install")
    assert "MRA001" in line, line


def test_server_auth_only_via_cli_test_ca_on_x15_3_edge(make_deployment, tmp_path: Path) -> None:
    """`mrakit sign --ca-cert/--ca-key` chooses the EKUs the version needs: both on X15.3, so it installs
    (the control for the refusal above), while the same CSRs signed serverAuth-only are refused."""
    from _renewkit import make_test_ca

    inv_path = make_deployment("fresh", X15_3).path
    csr_dir = tmp_path / "csr"
    _edge_csrs(inv_path, csr_dir)
    ca = make_test_ca(tmp_path / "ca", "eku")
    bad = tmp_path / "bad"
    bad.mkdir()
    for request in read_manifest(csr_dir):
        names = list(request.sans)
        (bad / f"{request.node}.pem").write_text(
            sign_csr_by_hand(ca.ca, Path(request.csr_file), dns_names=names, ekus=("serverAuth",)))
    (bad / "manifest.json").write_text((csr_dir / "manifest.json").read_text())
    _assert_refused_without_change(inv_path, bad, "refusing to install", "MRA001")

    good = tmp_path / "good"
    result = run_cli("sign", "-i", inv_path, "--csr-dir", csr_dir, "-o", good, "--ca-cert", ca.cert,
                     "--ca-key", ca.key)
    assert result.code == 0, result.err
    assert all(set(load_certificate_file(good / f"{n}.pem").ekus) == {"serverAuth", "clientAuth"}
               for n in PEERS["exp-e"])
    result = run_cli("apply", "-i", inv_path, "--certificates", good, "--yes")
    assert result.code == 0, result.out + result.err


# --- (d) a damaged certificate file ------------------------------------------------------------------

def test_a_damaged_certificate_file_is_refused_not_skipped(make_deployment, tmp_path: Path) -> None:
    inv_path = make_deployment("fresh").path
    csr_dir = tmp_path / "csr"
    _edge_csrs(inv_path, csr_dir)
    assert run_cli("sign", "-i", inv_path, "--csr-dir", csr_dir).code == 0
    damaged = csr_dir / f"{EXPE1}.pem"
    damaged.write_text(damaged.read_text()[:900])  # a download cut short
    _assert_refused_without_change(inv_path, csr_dir, str(damaged))
