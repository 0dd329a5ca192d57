"""X15.5: the upgrade copies the server certificate and key into the client store. When the server
certificate is renewed, mrakit offers the route the product has ("Upload server certificate file as
client certificate") where the new certificate has both EKUs, and trusts its chain on the edge first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from _productkit import EXPC1, EXPC2, EXPE1, EXPE2

from mrakit.desired import desired_state
from mrakit.errors import UnsafePlanError
from mrakit.inventory.load import load_inventory
from mrakit.lab.state import LabState
from mrakit.pki.ca import BOTH_EKUS, CertificateAuthority
from mrakit.pki.certview import SERVER_AUTH
from mrakit.planner import plan
from mrakit.session import connect


def renew_control_cluster(path: Path, ekus: tuple[str, ...]) -> CertificateAuthority:
    """Both C peers get a certificate from a new CA, for a CSR generated on the box."""
    ca = CertificateAuthority.create_root("Renewal Root CA", organization="Renewal")
    inventory = load_inventory(path)
    desired = desired_state(inventory)
    data = yaml.safe_load(path.read_text())
    with connect(inventory) as connections:
        for peer in data["expressway"]["exp-c"]["peers"]:
            node = desired.node(peer["fqdn"])
            csr = connections.expressway[peer["fqdn"]].generate_csr(
                node.common_name or peer["fqdn"], tuple(s.name for s in node.required_sans))
            target = path.parent / f"renewed-{peer['fqdn']}.pem"
            target.write_text(ca.sign_csr(csr, ekus=ekus).pem + ca.cert.pem)
            peer["certificate"] = target.name
            peer.pop("key", None)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return ca


def test_renewing_the_server_certificate_offers_the_client_store_route(make_deployment: Callable[..., Any]) -> None:
    path = make_deployment().path
    node = LabState.load(load_inventory(path).lab_state_dir).expressway[EXPC1]
    assert node.client_chain == node.server_chain and node.client_key == node.server_key  # the upgrade's copy
    ca = renew_control_cluster(path, BOTH_EKUS)
    inventory = load_inventory(path)
    with connect(inventory) as connections:
        the_plan = plan(inventory, connections=connections)
    installs = {a.node: a for a in the_plan.actions if a.kind == "cert.install"}
    assert set(installs) == {EXPC1, EXPC2}
    routes = [a for a in the_plan.actions if a.kind == "manual" and "client" in a.summary]
    assert sorted(a.node for a in routes) == [EXPC1, EXPC2]
    for route in routes:
        assert route.depends_on == (installs[route.node].id,)
        assert route.summary.startswith("copy the new server certificate into the client store")
        assert "Upload server certificate file as client certificate" in route.instructions
    # the edge validates what C presents as client, which the route makes the new certificate: the edge
    # trusts its CA in phase 1, before anything is installed
    edge_adds = {a.node for a in the_plan.actions
                 if a.kind == "trust.add" and a.fingerprint == ca.cert.fingerprint_sha256}
    assert {EXPE1, EXPE2} <= edge_adds


def test_a_server_only_certificate_cannot_replace_the_copy_and_is_refused(make_deployment: Callable[..., Any]) -> None:
    """Without a separate client certificate in the inventory, the X15.5 C presents its server certificate as
    client too (the client store holds a copy): a serverAuth-only one is refused before anything changes."""
    path = make_deployment().path
    renew_control_cluster(path, (SERVER_AUTH,))
    inventory = load_inventory(path)
    with connect(inventory) as connections, pytest.raises(UnsafePlanError, match=r"lacks clientAuth.*MRA001"):
        plan(inventory, connections=connections)
