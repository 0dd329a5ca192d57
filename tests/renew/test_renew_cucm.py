"""Renewing CUCM's tomcat certificate: CSR on the publisher with every node as SAN, lab CA, apply."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from _renewkit import PUB, lab_json, run_cli, sign_csr_by_hand, write_count

from mrakit.handshake import probe
from mrakit.inventory.load import load_inventory
from mrakit.lab.pki import lab_authorities
from mrakit.pki.load import load_certificate_file, load_csr_file
from mrakit.planner import plan
from mrakit.renew import csr_names, read_manifest
from mrakit.session import connect

SUB = "cucm-sub1.acme.local"


def test_tomcat_renewal_loop(make_deployment, tmp_path: Path) -> None:
    inv_path = make_deployment("fresh").path
    inventory = load_inventory(inv_path)
    state_dir = inventory.lab_state_dir
    csr_dir = tmp_path / "tomcat"
    result = run_cli("csr", "-i", inv_path, "--cluster", "cucm-main", "--cucm", "tomcat", "-o", csr_dir)
    assert result.code == 0, result.err
    (request,) = read_manifest(csr_dir)
    assert (request.node, request.kind, request.product, request.method) == (PUB, "tomcat", "cucm", "on-box")
    assert sorted(csr_names(request.csr_file)) == sorted([PUB, SUB])
    csr = load_csr_file(request.csr_file)
    assert [a.value for a in csr.subject if a.oid.dotted_string == "2.5.4.3"] == [PUB]

    assert run_cli("sign", "-i", inv_path, "--csr-dir", csr_dir).code == 0
    signed = load_certificate_file(csr_dir / f"{PUB}-tomcat.pem")
    result = run_cli("apply", "-i", inv_path, "--certificates", csr_dir, "--yes")
    assert result.code == 0, result.out + result.err
    # the example names a multi-server tomcat certificate: installed once, restarted on every server
    assert "restart Cisco Tomcat on cucm-pub, cucm-sub1" in result.out
    with connect(inventory) as connections:
        assert connections.lab is not None
        presented = probe("127.0.0.1", connections.lab.endpoints[PUB].tls["tomcat"], server_name=PUB)
    assert presented.presented[0].fingerprint_sha256 == signed.fingerprint_sha256

    before, state = write_count(state_dir), lab_json(state_dir)
    assert run_cli("apply", "-i", inv_path, "--certificates", csr_dir, "--yes").code == 0
    assert (write_count(state_dir), lab_json(state_dir)) == (before, state)
    assert plan(inventory, certificates_dir=str(csr_dir)).actions == ()


def _renew_tomcat_by_hand(inv_path: Path, csr_dir: Path, delta: dt.timedelta) -> None:
    """Renew tomcat with a certificate whose notBefore is the named one's plus `delta`."""
    inventory = load_inventory(inv_path)
    assert run_cli("csr", "-i", inv_path, "--cluster", "cucm-main", "--cucm", "tomcat", "-o", csr_dir).code == 0
    (request,) = read_manifest(csr_dir)
    old = inventory.cucm["cucm-main"].certificates["tomcat"].leaf
    cas = lab_authorities(inventory.lab_state_dir)
    pem = sign_csr_by_hand(cas.private_issuing, Path(request.csr_file), dns_names=list(request.sans),
                           chain=[cas.private_root.cert.pem], not_before=old.not_before + delta)
    (csr_dir / f"{PUB}-tomcat.pem").write_text(pem)
    result = run_cli("apply", "-i", inv_path, "--certificates", csr_dir, "--yes")
    assert result.code == 0, result.out + result.err


def test_a_plain_plan_after_a_renewal_keeps_the_newer_certificate(make_deployment, tmp_path: Path) -> None:
    """INV001: the inventory still names the old tomcat file; mrakit keeps the newer installed one."""
    inv_path = make_deployment("fresh").path
    _renew_tomcat_by_hand(inv_path, tmp_path / "tomcat", dt.timedelta(seconds=1))
    state_dir = load_inventory(inv_path).lab_state_dir
    before = write_count(state_dir)
    again = plan(load_inventory(inv_path))
    assert not [a.summary for a in again.actions if a.kind == "cert.install"]
    assert [f.node for f in again.findings if f.code == "INV001"] == [PUB]
    result = run_cli("apply", "-i", inv_path, "--yes")
    assert result.code == 0, result.out + result.err
    assert write_count(state_dir) == before


def test_renewal_with_the_same_not_before_is_not_rolled_back(make_deployment, tmp_path: Path) -> None:
    inv_path = make_deployment("fresh").path
    _renew_tomcat_by_hand(inv_path, tmp_path / "tomcat", dt.timedelta(0))
    again = plan(load_inventory(inv_path))
    assert not [a.summary for a in again.actions if a.kind == "cert.install"]
