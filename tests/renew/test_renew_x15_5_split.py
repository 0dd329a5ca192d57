"""X15.5 split: a separate client certificate for every control peer, from a private test CA. No REST
call installs it (manual step naming the file); the edge peers must trust its chain first."""

from __future__ import annotations

from pathlib import Path

from _renewkit import EXPC1, EXPC2, PEERS, make_test_ca, request_log, run_cli, writes

from mrakit.inventory.load import load_inventory
from mrakit.lab.state import LabState
from mrakit.pki.load import load_certificate_file, load_certificates
from mrakit.planner import plan
from mrakit.renew import read_manifest

CONTROL, EDGE = PEERS["exp-c"], PEERS["exp-e"]


def _converged(make_deployment) -> Path:  # type: ignore[no-untyped-def]
    inv_path = make_deployment("fresh").path
    result = run_cli("apply", "-i", inv_path, "--yes")
    assert result.code == 0, result.out + result.err
    return inv_path


def _client_csrs(inv_path: Path, out: Path) -> None:
    result = run_cli("csr", "-i", inv_path, "--client", "--local-key", "-o", out)
    assert result.code == 0, result.err
    requests = read_manifest(out)
    assert {r.node for r in requests} == set(CONTROL), "only X15.5 control peers get a client CSR"
    assert all(r.kind == "client" and r.method == "local-key" for r in requests)


def _edge_trust(state_dir: Path, fqdn: str) -> list[str]:
    node = LabState.load(state_dir).expressway[fqdn]
    return [c.fingerprint_sha256 for pem in node.trust for c in load_certificates(pem.encode())]


def test_client_certificates_from_a_new_ca_need_edge_trust_and_manual_upload(make_deployment,
                                                                            tmp_path: Path) -> None:
    inv_path = _converged(make_deployment)
    inventory = load_inventory(inv_path)
    state_dir = inventory.lab_state_dir
    csr_dir, signed_dir = tmp_path / "client-csr", tmp_path / "client-signed"
    _client_csrs(inv_path, csr_dir)
    ca = make_test_ca(tmp_path / "ca", "client")
    result = run_cli("sign", "-i", inv_path, "--csr-dir", csr_dir, "-o", signed_dir, "--ca-cert", ca.cert,
                     "--ca-key", ca.key)
    assert result.code == 0, result.err
    files = {fqdn: signed_dir / f"{fqdn}-client.pem" for fqdn in CONTROL}
    for path in files.values():
        assert "clientAuth" in load_certificate_file(path).ekus
    client_before = {f: LabState.load(state_dir).expressway[f].client_chain for f in CONTROL}

    the_plan = plan(inventory, certificates_dir=str(signed_dir))
    adds = [a for a in the_plan.actions if a.kind == "trust.add"]
    assert {a.node for a in adds if a.fingerprint == ca.ca.cert.fingerprint_sha256} >= set(EDGE)
    for fqdn in EDGE:
        assert [a.fingerprint for a in adds if a.node == fqdn] == [ca.ca.cert.fingerprint_sha256]
    manual = {a.node: a for a in the_plan.actions if a.kind == "manual" and a.certificate_kind == "client"}
    assert set(manual) == set(CONTROL)
    for fqdn, action in manual.items():
        assert str(files[fqdn]) in action.instructions, action.instructions
        assert action.fingerprint == load_certificate_file(files[fqdn]).fingerprint_sha256
        assert set(action.depends_on) >= {a.id for a in adds if a.node in EDGE}, "upload before the edge trusts"
    assert not [a for a in the_plan.actions if a.kind == "cert.install"], "no REST call installs a client cert"

    before = len(request_log(state_dir))
    result = run_cli("apply", "-i", inv_path, "--certificates", signed_dir, "--yes")
    assert result.code == 0, result.out + result.err
    for fqdn in CONTROL:
        assert f"install the client certificate of exp-c/{fqdn.split('.')[0]} by hand" in result.out
        assert str(files[fqdn]) in result.out
    new_writes = writes(request_log(state_dir)[before:])
    assert not [e for e in new_writes if e["node"] in CONTROL], "something was written to a control peer"
    assert {e["node"] for e in new_writes} >= set(EDGE)
    for fqdn in EDGE:
        assert ca.ca.cert.fingerprint_sha256 in _edge_trust(state_dir, fqdn)
    assert {f: LabState.load(state_dir).expressway[f].client_chain for f in CONTROL} == client_before

    # converged: a second apply only repeats the manual uploads
    count = len(writes(request_log(state_dir)))
    result = run_cli("apply", "-i", inv_path, "--certificates", signed_dir, "--yes")
    assert result.code == 0 and len(writes(request_log(state_dir))) == count


def test_client_certificates_from_an_already_trusted_ca_need_no_edge_change(make_deployment,
                                                                           tmp_path: Path) -> None:
    """Control: signed by the lab's private CA, which the edge already trusts, only the uploads remain."""
    inv_path = _converged(make_deployment)
    csr_dir = tmp_path / "client"
    _client_csrs(inv_path, csr_dir)
    assert run_cli("sign", "-i", inv_path, "--csr-dir", csr_dir).code == 0
    the_plan = plan(load_inventory(inv_path), certificates_dir=str(csr_dir))
    assert not the_plan.has_changes, [a.summary for a in the_plan.actions if a.writes]
    assert {a.node for a in the_plan.actions if a.kind == "manual"} == {EXPC1, EXPC2}


def test_manual_client_upload_names_the_private_key_file(make_deployment, tmp_path: Path) -> None:
    inv_path = make_deployment("fresh").path
    csr_dir = tmp_path / "client"
    _client_csrs(inv_path, csr_dir)
    assert run_cli("sign", "-i", inv_path, "--csr-dir", csr_dir).code == 0
    keys = {r.node: r.key_file for r in read_manifest(csr_dir)}
    the_plan = plan(load_inventory(inv_path), certificates_dir=str(csr_dir))
    manual = {a.node: a for a in the_plan.actions if a.kind == "manual" and a.certificate_kind == "client"}
    assert set(manual) == set(CONTROL)
    for fqdn, action in manual.items():
        assert keys[fqdn] and keys[fqdn] in action.instructions, action.instructions


def test_client_csr_on_the_box_does_not_replace_the_pending_server_csr(make_deployment, tmp_path: Path) -> None:
    inv_path = make_deployment("fresh").path
    state_dir = load_inventory(inv_path).lab_state_dir
    assert run_cli("csr", "-i", inv_path, "--cluster", "exp-c", "-o", tmp_path / "server").code == 0
    pending = {f: LabState.load(state_dir).expressway[f].pending_csr for f in CONTROL}
    assert all(pending.values())
    result = run_cli("csr", "-i", inv_path, "--client", "-o", tmp_path / "client")
    assert {f: LabState.load(state_dir).expressway[f].pending_csr for f in CONTROL} == pending, (
        f"`mrakit csr --client` (exit {result.code}) replaced the server CSR pending on the control peers")
