"""The whole renewal loop on the lab: CSR on the box → lab CA → apply --certificates → doctor,
for the edge and the control cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from _renewkit import CLUSTER_FQDN, PEERS, lab_json, run_cli, write_count, writes

from mrakit.desired import desired_state
from mrakit.diagnosis import doctor
from mrakit.findings import Severity
from mrakit.handshake import probe
from mrakit.inventory.load import load_inventory
from mrakit.lab.state import LabState
from mrakit.observe import observe
from mrakit.pki.load import load_certificate_file, load_certificates_file, load_csr_file
from mrakit.planner import plan
from mrakit.renew import csr_names, read_manifest
from mrakit.session import connect


@pytest.mark.parametrize("cluster", ["exp-e", "exp-c"])
def test_full_renewal_loop_converges(make_deployment, tmp_path: Path, cluster: str) -> None:
    deployment = make_deployment("fresh")
    inv_path = deployment.path
    inventory = load_inventory(inv_path)
    state_dir = inventory.lab_state_dir
    desired = desired_state(inventory)
    peers = PEERS[cluster]
    old = {fqdn: LabState.load(state_dir).expressway[fqdn].server_chain[0] for fqdn in peers}
    csr_dir, signed_dir = tmp_path / "csr", tmp_path / "signed"

    # 1. CSRs generated on the box, with the SANs mrakit computes
    result = run_cli("csr", "-i", inv_path, "--cluster", cluster, "-o", csr_dir)
    assert result.code == 0, result.err
    requests = {r.node: r for r in read_manifest(csr_dir)}
    assert set(requests) == set(peers)
    lab = LabState.load(state_dir)
    for fqdn in peers:
        request = requests[fqdn]
        required = [s.name for s in desired.node(fqdn).required_sans]
        assert required, f"no required SANs computed for {fqdn}"
        assert request.method == "on-box" and request.key_file is None and request.kind == "server"
        names = csr_names(request.csr_file)
        assert sorted(names) == sorted(required) and len(names) == len(set(names)), (fqdn, names, required)
        assert list(request.sans) == list(names)
        csr = load_csr_file(request.csr_file)
        cn = [a.value for a in csr.subject if a.oid.dotted_string == "2.5.4.3"]
        assert cn == [CLUSTER_FQDN[cluster]] == [request.common_name]
        # the key lives on the box: the CSR is the one pending there
        assert lab.expressway[fqdn].pending_csr, f"no CSR pending on {fqdn}"
        assert load_csr_file(csr_dir / f"{fqdn}.csr").public_key() == csr.public_key()
    assert not list(csr_dir.glob("*.key")), "an on-box CSR must not leave a key here"

    # 2. signed by the lab's CA; the manifest travels with the certificates
    result = run_cli("sign", "-i", inv_path, "--csr-dir", csr_dir, "-o", signed_dir)
    assert result.code == 0, result.err
    assert (signed_dir / "manifest.json").exists()
    signed = {fqdn: load_certificate_file(signed_dir / f"{fqdn}.pem") for fqdn in peers}
    for fqdn, leaf in signed.items():
        assert leaf.public_key_fingerprint_sha256 == requests[fqdn].public_key_sha256
        assert sorted(leaf.dns_sans) == sorted(requests[fqdn].sans)

    # 3. apply --certificates
    result = run_cli("apply", "-i", inv_path, "--certificates", signed_dir, "--yes")
    assert result.code == 0, result.out + result.err
    for fqdn in peers:
        assert f"install {fqdn}.pem as the server certificate" in result.out

    # 4. the doctor finds no error
    report = doctor(load_inventory(inv_path))
    errors = [f"{f.code} {f.node}: {f.message}" for f in report.findings if f.severity is Severity.ERROR]
    assert errors == []
    assert report.proofs and all(p.handshake.ok for p in report.proofs)

    # 5. the nodes present the signed certificates: over TLS, through the API and in the lab state
    lab = LabState.load(state_dir)
    with connect(inventory) as connections:
        assert connections.lab is not None
        observed = observe(inventory, connections.expressway, connections.cucm)
        for fqdn in peers:
            want = signed[fqdn].fingerprint_sha256
            (port,) = connections.lab.endpoints[fqdn].tls.values()
            presented = probe("127.0.0.1", port, server_name=fqdn)
            assert presented.ok and presented.presented[0].fingerprint_sha256 == want
            assert observed.nodes[fqdn].certificates["server"][0].fingerprint_sha256 == want
            assert lab.expressway[fqdn].server_chain[0] != old[fqdn]
            assert not lab.expressway[fqdn].pending_csr, "the pending CSR is consumed by the install"
            chain = load_certificates_file(signed_dir / f"{fqdn}.pem")
            assert [c.fingerprint_sha256 for c in observed.nodes[fqdn].certificates["server"]][:1] == [
                chain[0].fingerprint_sha256]

    # 6. a second apply writes nothing; the plan is empty
    before_log, before_state = write_count(state_dir), lab_json(state_dir)
    result = run_cli("apply", "-i", inv_path, "--certificates", signed_dir, "--yes")
    assert result.code == 0, result.out + result.err
    assert "Plan: no changes" in result.out
    assert write_count(state_dir) == before_log
    assert lab_json(state_dir) == before_state
    again = plan(load_inventory(inv_path), certificates_dir=str(signed_dir))
    assert again.actions == (), [a.summary for a in again.actions]
    # without --certificates the inventory still names the old files: mrakit must not roll back
    plain = plan(load_inventory(inv_path))
    assert not plain.has_changes, [a.summary for a in plain.actions if a.writes]
    assert write_count(state_dir) == before_log


def test_apply_writes_only_what_the_plan_says(make_deployment, tmp_path: Path) -> None:
    """The renewal of the edge on a converged deployment writes the two installs and nothing else."""
    deployment = make_deployment("fresh")
    inv_path = deployment.path
    state_dir = load_inventory(inv_path).lab_state_dir
    assert run_cli("apply", "-i", inv_path, "--yes").code == 0  # converge the trust first
    assert run_cli("csr", "-i", inv_path, "--cluster", "exp-e", "-o", tmp_path / "csr").code == 0
    assert run_cli("sign", "-i", inv_path, "--csr-dir", tmp_path / "csr").code == 0
    before = len(writes_in(state_dir))
    result = run_cli("apply", "-i", inv_path, "--certificates", tmp_path / "csr", "--yes")
    assert result.code == 0, result.out + result.err
    new = writes_in(state_dir)[before:]
    assert sorted({e["node"] for e in new}) == sorted(PEERS["exp-e"]), new
    assert len(new) == 2, new


def writes_in(state_dir: Path) -> list:  # type: ignore[type-arg]
    from _renewkit import request_log

    return writes(request_log(state_dir))
