"""A certificate on the box that is newer than the one the inventory names (INV001): kept, not rolled
back, unless it is not a valid certificate for that node."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from _plankit import EDGE, reissue_server_leaf

from mrakit.applier import apply
from mrakit.inventory.load import load_inventory
from mrakit.pki.certview import SERVER_AUTH
from mrakit.planner import plan
from mrakit.session import Session

HALF_AN_HOUR = dt.timedelta(minutes=30)  # the file starts an hour ago: newer, and already valid


def newer_server_auth_only_edge(make_deployment: Callable[..., Any], overrides: dict[str, Any] | None) -> Any:
    """x15-clientauth-loss, with the serverAuth-only replacement issued half an hour after the inventory's file."""
    deployment = make_deployment("x15-clientauth-loss", overrides)
    inventory = load_inventory(deployment.path)
    for cluster in inventory.edge_clusters():
        for peer in cluster.peers:
            assert peer.certificate is not None
            reissue_server_leaf(inventory.lab_state_dir, peer.fqdn, ekus=(SERVER_AUTH,),
                                not_before=peer.certificate.leaf.not_before + HALF_AN_HOUR)
    return deployment


def test_a_newer_certificate_is_kept_with_a_warning(make_deployment: Callable[..., Any],
                                                   lab_connections: Callable[..., Session]) -> None:
    deployment = newer_server_auth_only_edge(make_deployment, None)  # X15.5.1: serverAuth-only is fine on E
    inventory = load_inventory(deployment.path)
    connections = lab_connections(deployment.path)
    lab = connections.lab
    assert lab is not None
    the_plan = plan(inventory, connections=connections)
    assert not [a for a in the_plan.actions if a.node in EDGE]
    warnings = {f.node: f for f in the_plan.findings if f.code == "INV001"}
    assert set(warnings) == set(EDGE)
    named = {p.fqdn: p.certificate.leaf for c in inventory.edge_clusters() for p in c.peers if p.certificate}
    for edge in EDGE:
        installed = connections.expressway[edge].server_certificate()[0]
        assert warnings[edge].evidence["installed"] == installed.fingerprint_sha256
        # The message tells the two apart by serial and exact time, not by a date they share.
        message = warnings[edge].message
        assert f"serial {installed.serial_hex}, valid from {installed.not_before:%Y-%m-%dT%H:%M:%SZ}" in message
        assert f"serial {named[edge].serial_hex}, from {named[edge].not_before:%Y-%m-%dT%H:%M:%SZ}" in message
    writes = len(lab.writes())
    result = apply(the_plan, inventory, connections=connections)
    assert lab.writes()[writes:] == []
    assert not result.failed


def test_a_newer_certificate_missing_a_required_eku_is_replaced(
        make_deployment: Callable[..., Any], lab_connections: Callable[..., Session]) -> None:
    """On X15.3 the server certificate needs serverAuth and clientAuth (MRA001): a newer re-issue that lost
    clientAuth is no renewal to keep; the inventory's certificate goes back on, and apply converges."""
    deployment = newer_server_auth_only_edge(
        make_deployment, {"expressway": {"exp-e": {"version": "X15.3"}, "exp-c": {"version": "X15.3"}}})
    inventory = load_inventory(deployment.path)
    connections = lab_connections(deployment.path)
    the_plan = plan(inventory, connections=connections)
    installs = {a.node for a in the_plan.actions if a.kind == "cert.install"}
    assert installs == set(EDGE), [f.message for f in the_plan.findings]
    assert not [f for f in the_plan.findings if f.code == "INV001"]
    result = apply(the_plan, inventory, connections=connections)
    assert not result.failed, result.to_dict()
    for cluster in inventory.edge_clusters():
        for peer in cluster.peers:
            assert peer.certificate is not None
            assert connections.expressway[peer.fqdn].server_certificate()[0] == peer.certificate.leaf
    assert plan(inventory, connections=connections).summary() == "Plan: no changes"
