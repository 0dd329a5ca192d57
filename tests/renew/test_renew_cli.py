"""`mrakit sign` only for the lab or an explicit test CA; `--local-key` keys; MRA006 before any node."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml
from _renewkit import EXPC1, EXPC2, PEERS, make_test_ca, one_line_error, request_log, run_cli, write_count
from cryptography.hazmat.primitives import serialization

from mrakit.inventory.load import load_inventory
from mrakit.pki.chain import Purpose, verify_chain
from mrakit.pki.load import load_certificate_file, load_certificates_file, load_csr_file, load_private_key_file
from mrakit.renew import read_manifest


def _spki(public_key) -> bytes:  # type: ignore[no-untyped-def]
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _non_lab_copy(inv_path: Path) -> Path:
    """The same inventory with `connection: rest` (it is only loaded, never connected)."""
    data = yaml.safe_load(inv_path.read_text())
    data["defaults"]["connection"] = "rest"
    path = inv_path.with_name("production.yaml")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# --- mrakit sign ---------------------------------------------------------------------------------------

def test_sign_refuses_a_non_lab_inventory_without_a_ca_key(make_deployment, tmp_path: Path) -> None:
    inv_path = make_deployment("fresh").path
    csr_dir = tmp_path / "csr"
    assert run_cli("csr", "-i", inv_path, "--cluster", "exp-e", "-o", csr_dir).code == 0
    production = _non_lab_copy(inv_path)
    out = tmp_path / "signed"

    result = run_cli("sign", "-i", production, "--csr-dir", csr_dir, "-o", out)
    assert result.code == 1
    line = one_line_error(result.err)
    assert "connection: lab" in line and "--ca-key" in line, line
    assert not out.exists() or not list(out.iterdir()), "a refused sign wrote something"

    ca = make_test_ca(tmp_path / "ca", "pipeline")
    result = run_cli("sign", "-i", production, "--csr-dir", csr_dir, "-o", out, "--ca-cert", ca.cert,
                     "--ca-key", ca.key, "--days", "30")
    assert result.code == 0, result.err
    for fqdn in PEERS["exp-e"]:
        chain = load_certificates_file(out / f"{fqdn}.pem")
        assert chain[0].issuer == ca.ca.cert.subject and chain[1] == ca.ca.cert
        assert (chain[0].not_after - chain[0].not_before).days == 30
        assert verify_chain(chain[0], [ca.ca.cert], purpose=Purpose.SERVER).valid
    manifest = {r.node: r for r in read_manifest(out)}
    assert set(manifest) == set(PEERS["exp-e"])


def test_sign_needs_both_ca_cert_and_ca_key(make_deployment, tmp_path: Path) -> None:
    inv_path = make_deployment("fresh").path
    csr_dir = tmp_path / "csr"
    assert run_cli("csr", "-i", inv_path, "--cluster", "exp-e", "-o", csr_dir).code == 0
    ca = make_test_ca(tmp_path / "ca", "half")
    result = run_cli("sign", "-i", inv_path, "--csr-dir", csr_dir, "--ca-cert", ca.cert)
    assert result.code == 1
    assert "--ca-cert and --ca-key go together" in one_line_error(result.err)
    result = run_cli("sign", "-i", _non_lab_copy(inv_path), "--csr-dir", csr_dir, "--ca-key", ca.key)
    assert result.code == 1
    one_line_error(result.err)
    assert not list(csr_dir.glob("*.pem"))


def test_sign_without_a_manifest_says_what_to_do(make_deployment, tmp_path: Path) -> None:
    inv_path = make_deployment("fresh").path
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("sign", "-i", inv_path, "--csr-dir", empty)
    assert result.code == 1
    assert "mrakit csr" in one_line_error(result.err)


# --- --local-key -----------------------------------------------------------------------------------------

def test_local_key_csrs_have_0600_keys_matching_the_csr(make_deployment, tmp_path: Path) -> None:
    inv_path = make_deployment("fresh").path
    state_dir = load_inventory(inv_path).lab_state_dir
    out = tmp_path / "local"
    result = run_cli("csr", "-i", inv_path, "--cluster", "exp-c", "-o", out, "--local-key")
    assert result.code == 0, result.err
    requests = {r.node: r for r in read_manifest(out)}
    assert set(requests) == {EXPC1, EXPC2}
    for request in requests.values():
        assert request.method == "local-key" and request.key_file
        key_path = Path(request.key_file)
        assert key_path.exists()
        assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600, oct(os.stat(key_path).st_mode)
        key = load_private_key_file(key_path)
        csr = load_csr_file(request.csr_file)
        assert csr.is_signature_valid
        assert _spki(csr.public_key()) == _spki(key.public_key())
        assert "PRIVATE KEY" not in Path(request.csr_file).read_text()
    assert "PRIVATE KEY" not in (out / "manifest.json").read_text()
    # keys made here: no node is asked to generate (or store) anything
    assert write_count(state_dir) == 0


def test_local_key_loop_signs_the_local_key(make_deployment, tmp_path: Path) -> None:
    inv_path = make_deployment("fresh").path
    out = tmp_path / "local"
    assert run_cli("csr", "-i", inv_path, "--cluster", "exp-c", "-o", out, "--local-key").code == 0
    assert run_cli("sign", "-i", inv_path, "--csr-dir", out).code == 0
    for request in read_manifest(out):
        leaf = load_certificate_file(out / f"{request.node}.pem")
        key = load_private_key_file(request.key_file or "")
        assert leaf.public_key_der == _spki(key.public_key())


# --- MRA006: the 999-character SAN field -------------------------------------------------------------

LONG_DOMAINS = ["acme.com"] + [f"very-long-collaboration-subdomain-{i:02d}.example-enterprise.com" for i in range(20)]


def test_csr_refuses_more_than_999_san_characters_before_contacting_any_node(make_deployment,
                                                                               tmp_path: Path) -> None:
    inv_path = make_deployment("fresh", {"expressway": {"exp-c": {"domains": LONG_DOMAINS}}}).path
    state_dir = load_inventory(inv_path).lab_state_dir
    (state_dir / "requests.jsonl").unlink(missing_ok=True)
    for cluster in ("exp-c", "exp-e"):
        out = tmp_path / cluster
        result = run_cli("csr", "-i", inv_path, "--cluster", cluster, "-o", out)
        assert result.code == 1, result.out
        line = one_line_error(result.err)
        assert "MRA006" in line and "999" in line, line
        assert not out.exists() or not list(out.iterdir())
    assert request_log(state_dir) == [], "a node was contacted although the CSR was refused up front"


def test_csr_under_the_limit_is_accepted(make_deployment, tmp_path: Path) -> None:
    """Control for MRA006: a handful of long domains stays under 999 characters and passes."""
    inv_path = make_deployment("fresh", {"expressway": {"exp-c": {"domains": LONG_DOMAINS[:4]}}}).path
    result = run_cli("csr", "-i", inv_path, "--cluster", "exp-c", "-o", tmp_path / "csr")
    assert result.code == 0, result.err
    assert all(len(",".join(r.sans)) <= 999 for r in read_manifest(tmp_path / "csr"))


# --- paths in the manifest ---------------------------------------------------------------------------------

def test_sign_works_from_another_directory(make_deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inv_path = make_deployment("fresh").path
    monkeypatch.chdir(inv_path.parent)
    assert run_cli("csr", "-i", inv_path.name, "--cluster", "exp-e", "-o", "renewal").code == 0
    monkeypatch.chdir(tmp_path)
    result = run_cli("sign", "-i", inv_path, "--csr-dir", inv_path.parent / "renewal")
    assert result.code == 0, result.err
