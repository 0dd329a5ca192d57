"""CUCM node by node: each server's own certificates and platform login, a cluster-level block as a
multi-server certificate, identity installs that wait for their CA in the server's own trust unit,
issuers found on the node that presents them (and never half a chain), and a CA renewed under its
old name, which CUCM keeps only once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from _productkit import EXPC1, EXPC2, PUB, SUB

from mrakit.applier import apply
from mrakit.errors import InventoryError
from mrakit.inventory.load import load_inventory
from mrakit.lab.pki import lab_authorities
from mrakit.lab.seed import init_lab
from mrakit.lab.state import LabState
from mrakit.pki.ca import BOTH_EKUS, CertificateAuthority
from mrakit.pki.certview import CertView
from mrakit.pki.keys import private_key_pem, write_private_key
from mrakit.pki.load import load_certificates, load_csr_file
from mrakit.planner import plan
from mrakit.renew import request_csrs
from mrakit.session import Session, connect


def write_chain(path: Path, certs: list[CertView]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(c.pem for c in certs))
    return str(path.relative_to(path.parent.parent))


def per_node(data: dict[str, Any], directory: Path, ca: CertificateAuthority, chain: list[CertView]) -> None:
    """Give the publisher and the subscriber certificates of their own (CN and SAN: the server), from `ca`."""
    cucm = data["cucm"]["cucm-main"]
    cucm.pop("certificates", None)
    for server in (cucm["publisher"], *cucm["subscribers"]):
        files = {}
        for kind in ("tomcat", "callmanager"):
            issued = ca.issue_leaf(server["fqdn"], [server["fqdn"]], ekus=BOTH_EKUS)
            path = directory / "pki" / f"{server['fqdn']}-{kind}.pem"
            files[kind] = write_chain(path, [issued.cert, *chain])
            write_private_key(path.with_suffix(".key"), issued.key)
        server["certificates"] = files


def deployment(make_deployment: Callable[..., Any], change: Callable[[dict[str, Any], Path], None]) -> Path:
    """The example deployment (fresh, replication immediate), its inventory changed, its lab initialised again."""
    path = make_deployment(overrides={"lab": {"replication_delay_ms": 0}}).path
    data = yaml.safe_load(path.read_text())
    change(data, path.parent)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    init_lab(path, "fresh")
    return path


def converge(path: Path, connections: Session) -> None:
    inventory = load_inventory(path)
    result = apply(plan(inventory, connections=connections), inventory, connections=connections, check_stale=False)
    assert not result.failed, result.summary()


def identity(connections: Session, fqdn: str, service: str = "tomcat") -> CertView:
    return connections.cucm[fqdn].identity_certificate(service)[0]


# --- the inventory ----------------------------------------------------------------------------------------

def test_each_server_gets_the_certificates_the_inventory_names_for_it(
        make_deployment: Callable[..., Any], lab_connections: Callable[..., Session]) -> None:
    voice = CertificateAuthority.create_root("Voice Root CA", organization="Voice")

    def change(data: dict[str, Any], directory: Path) -> None:
        data["authorities"]["voice"] = {"file": write_chain(directory / "pki" / "voice.pem", [voice.cert])}
        per_node(data, directory, voice, [voice.cert])

    path = deployment(make_deployment, change)
    inventory = load_inventory(path)
    cucm = inventory.cucm["cucm-main"]
    for server in cucm.nodes:
        assert set(cucm.certificates_of(server)) == {"tomcat", "callmanager"}
        assert not cucm.multi_server("tomcat", server)
    connections = lab_connections(path)
    for fqdn in (PUB, SUB):
        leaf = identity(connections, fqdn)
        assert leaf.common_name == fqdn and leaf.dns_sans == (fqdn,)
        assert leaf == cucm.certificates_of(cucm.node(fqdn))["tomcat"].leaf
    converge(path, connections)
    # nothing left to do: every server already presents what the inventory names
    assert plan(load_inventory(path), connections=connections).has_changes is False


def test_a_multi_server_certificate_must_name_every_server(make_deployment: Callable[..., Any]) -> None:
    path = make_deployment().path
    ca = lab_authorities(load_inventory(path).lab_state_dir).private_issuing
    issued = ca.issue_leaf(PUB, [PUB], ekus=BOTH_EKUS)
    (path.parent / "pki" / "cucm-tomcat.pem").write_text(issued.cert.pem + ca.cert.pem)
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert caught.value.path == "cucm.cucm-main.certificates.tomcat"
    assert caught.value.line is not None
    assert "multi-server" in caught.value.message and SUB in caught.value.message


def test_unnamed_servers_are_issued_by_the_ca_of_their_cluster_when_its_key_is_given(
        make_deployment: Callable[..., Any], lab_connections: Callable[..., Session]) -> None:
    voice = CertificateAuthority.create_root("Voice Root CA", organization="Voice")

    def change(data: dict[str, Any], directory: Path) -> None:
        authority = directory / "pki" / "voice.pem"
        data["authorities"]["voice"] = {"file": write_chain(authority, [voice.cert])}
        write_private_key(authority.with_suffix(".key"), voice.key)  # the lab may sign with it
        per_node(data, directory, voice, [voice.cert])
        del data["cucm"]["cucm-main"]["subscribers"][0]["certificates"]  # nothing named for the subscriber

    connections = lab_connections(deployment(make_deployment, change))
    assert identity(connections, SUB).issuer == voice.cert.subject
    assert identity(connections, SUB, "CallManager").issuer == voice.cert.subject


# --- identity installs wait for their CA in the server's own trust unit -----------------------------------

def test_per_server_renewal_installs_on_each_server_after_its_ca_is_trusted(
        make_deployment: Callable[..., Any], tmp_path: Path) -> None:
    voice = CertificateAuthority.create_root("Voice Root CA", organization="Voice")

    def change(data: dict[str, Any], directory: Path) -> None:
        data["authorities"]["voice"] = {"file": write_chain(directory / "pki" / "voice.pem", [voice.cert])}
        per_node(data, directory, voice, [voice.cert])

    path = deployment(make_deployment, change)
    renewed = CertificateAuthority.create_root("Renewed Voice Root CA", organization="Voice 2")
    inventory = load_inventory(path)
    with connect(inventory) as connections:
        converge(path, connections)
        requests = request_csrs(inventory, tmp_path / "csr", cucm_services=["tomcat"], expressway=False,
                                connections=connections)
        # one CSR per server, each generated on the server it is for
        assert sorted((r.node, r.multi_server) for r in requests) == [(PUB, False), (SUB, False)]
        signed = tmp_path / "signed"
        signed.mkdir()
        for request in requests:
            leaf = renewed.sign_csr(load_csr_file(request.csr_file), ekus=BOTH_EKUS)
            (signed / f"{request.node}-tomcat.pem").write_text(leaf.pem + renewed.cert.pem)
        (signed / "manifest.json").write_text((tmp_path / "csr" / "manifest.json").read_text())
        the_plan = plan(inventory, connections=connections, certificates_dir=str(signed))
        installs = {a.node: a for a in the_plan.actions if a.kind == "cert.install"}
        assert set(installs) == {PUB, SUB}
        trust = {a.id: a for a in the_plan.actions if a.kind == "trust.add"}
        for fqdn, install in installs.items():
            # each install waits for the new root in tomcat-trust, written on the publisher (CUCM001)
            own = [trust[d] for d in install.depends_on if d in trust and trust[d].node == PUB]
            assert [(a.store, a.fingerprint) for a in own] == [("tomcat-trust", renewed.cert.fingerprint_sha256)]
            assert any(r.code == "CUCM001" for r in own[0].reasons), fqdn
        result = apply(the_plan, inventory, connections=connections)
        assert not result.failed, result.summary()
        for fqdn in (PUB, SUB):
            assert identity(connections, fqdn).issuer == renewed.cert.subject
            assert identity(connections, fqdn).dns_sans == (fqdn,)


def test_a_multi_server_renewal_is_one_csr_on_the_publisher(make_deployment: Callable[..., Any],
                                                           tmp_path: Path) -> None:
    path = make_deployment(overrides={"lab": {"replication_delay_ms": 0}}).path
    inventory = load_inventory(path)
    with connect(inventory) as connections:
        (request,) = request_csrs(inventory, tmp_path / "csr", cucm_services=["tomcat"], expressway=False,
                                  connections=connections)
        assert (request.node, request.multi_server, set(request.sans)) == (PUB, True, {PUB, SUB})


# --- issuers no file names --------------------------------------------------------------------------------

def hidden_subscriber(path: Path, *, keep_root: bool = True) -> tuple[CertificateAuthority, CertificateAuthority]:
    """The subscriber presents certificates from a CA nothing in the inventory names; the cluster's trust
    units hold that CA (as CUCM requires), the root only when `keep_root`. The inventory names the
    publisher's certificates only."""
    data = yaml.safe_load(path.read_text())
    cucm = data["cucm"]["cucm-main"]
    cucm["publisher"]["certificates"] = cucm.pop("certificates")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    root = CertificateAuthority.create_root("Hidden Root CA", organization="Hidden")
    issuing = root.issue_intermediate("Hidden Issuing CA", organization="Hidden")
    state = LabState.load(load_inventory(path).lab_state_dir)
    for service in ("tomcat", "CallManager"):
        issued = issuing.issue_leaf(SUB, [SUB], ekus=BOTH_EKUS)
        state.cucm[SUB].identities[service] = [issued.cert.pem, issuing.cert.pem]
        state.cucm[SUB].identity_keys[service] = private_key_pem(issued.key).decode("ascii")
    for node in state.cucm.values():
        for unit in ("tomcat-trust", "CallManager-trust"):
            node.trust[unit] += [issuing.cert.pem] + ([root.cert.pem] if keep_root else [])
    state.save()
    return root, issuing


def test_a_subscriber_from_a_ca_no_file_names_converges_with_the_issuer_found_on_it(
        make_deployment: Callable[..., Any]) -> None:
    path = make_deployment(overrides={"lab": {"replication_delay_ms": 0}}).path
    root, issuing = hidden_subscriber(path)
    inventory = load_inventory(path)
    with connect(inventory) as connections:
        the_plan = plan(inventory, connections=connections)
        hidden = {root.cert.fingerprint_sha256, issuing.cert.fingerprint_sha256}
        adds = [a for a in the_plan.actions if a.kind == "trust.add" and a.fingerprint in hidden]
        assert {(a.node, a.fingerprint) for a in adds} == {(c, fp) for c in (EXPC1, EXPC2) for fp in hidden}
        # the intermediate comes with the subscriber's certificate; its root only from the subscriber's own
        # trust store: planned from there, saying so
        for action in adds:
            found = [r.text for r in action.reasons if r.code == "INV003"]
            if action.fingerprint == root.cert.fingerprint_sha256:
                assert found and "found in cucm-sub1's tomcat-trust" in found[0], action.reasons
            else:
                assert not found
        warnings = [f for f in the_plan.findings if f.code == "INV003"]
        assert {f.evidence["subject"] for f in warnings} == {root.cert.subject}
        assert all(f.severity.value == "warning" and f.node == SUB for f in warnings)
        result = apply(the_plan, inventory, connections=connections)
        assert not result.failed, result.summary()  # every relation verified, the subscriber's included
        assert all(c.valid for c in result.verification if c.subject == SUB)


@pytest.mark.parametrize("why", ["pinned", "root-not-found"])
def test_never_half_a_chain(make_deployment: Callable[..., Any], why: str) -> None:
    overrides: dict[str, Any] = {"lab": {"replication_delay_ms": 0}}
    if why == "pinned":
        overrides["defaults"] = {"authorities_from_nodes": False}
    path = make_deployment(overrides=overrides).path
    # pinned: the root is on the node, but CAs found on nodes are refused; otherwise the root is nowhere
    root, issuing = hidden_subscriber(path, keep_root=why == "pinned")
    inventory = load_inventory(path)
    with connect(inventory) as connections:
        the_plan = plan(inventory, connections=connections)
    hidden = {root.cert.fingerprint_sha256, issuing.cert.fingerprint_sha256}
    assert not [a for a in the_plan.actions if a.fingerprint in hidden]  # not even the intermediate
    held = [f for f in the_plan.findings if f.node == SUB and f.code in ("MRA020", "MRA021")]
    assert held and all("nothing of this chain is uploaded" in f.message and "authorities" in f.fix for f in held)
    assert not [f for f in the_plan.findings if f.code == "INV003"]


# --- a CA renewed under its old name ------------------------------------------------------------------------

def test_a_ca_renewed_under_its_old_name_replaces_the_old_one_on_cucm(make_deployment: Callable[..., Any]) -> None:
    path = make_deployment(overrides={"lab": {"replication_delay_ms": 0}}).path
    old = CertificateAuthority.create_root("Clash CA", organization="Acme",
                                           not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=60))
    renewed = CertificateAuthority.create_root("Clash CA", organization="Acme",
                                               not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    state = LabState.load(load_inventory(path).lab_state_dir)
    for node in state.cucm.values():
        node.trust["tomcat-trust"].append(old.cert.pem)
    state.save()
    data = yaml.safe_load(path.read_text())
    data["authorities"]["clash"] = {"file": write_chain(path.parent / "pki" / "clash.pem", [renewed.cert])}
    # C's certificates from the renewed CA: CUCM must trust it, under the name the old one has
    for index, peer in enumerate(data["expressway"]["exp-c"]["peers"]):
        current = load_certificates((path.parent / peer["certificate"]).read_bytes())[0]
        issued = renewed.issue_leaf(current.common_name, list(current.dns_sans), ekus=BOTH_EKUS)
        target = path.parent / "pki" / f"clash-expc{index + 1}.pem"
        peer["certificate"] = write_chain(target, [issued.cert, renewed.cert])
        write_private_key(path.parent / "pki" / f"clash-expc{index + 1}.key", issued.key)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    inventory = load_inventory(path)
    with connect(inventory) as connections:
        the_plan = plan(inventory, connections=connections)
    phase1 = [a for a in the_plan.actions if a.phase == 1]
    replacing = [a for a in phase1 if a.node == PUB and a.fingerprint == renewed.cert.fingerprint_sha256
                 and a.store == "tomcat-trust"]
    assert len(replacing) == 1 and replacing[0].kind == "trust.add"
    assert replacing[0].summary.startswith('replace "Clash CA" with the newer "Clash CA"')
    assert any(r.code == "CUCM002" and "one certificate per name" in r.text for r in replacing[0].reasons)
    # planned after every other trust addition, right before the installs that need it
    replacing_at = [i for i, a in enumerate(phase1) if a.summary.startswith("replace ")]
    assert replacing_at == list(range(len(phase1) - len(replacing_at), len(phase1)))
    assert any(f.code == "CUCM002" and f.severity.value == "warning" for f in the_plan.findings)
