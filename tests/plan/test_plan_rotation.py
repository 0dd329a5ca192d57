"""Rotation without outage: the edge cluster moves to a certificate from a new CA, and after every
single step of apply the traversal zone still works, proven by a real mutual-TLS handshake from each
control peer (its current certificate and trust list) to each edge peer's traversal listener."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from _plankit import CONTROL, EDGE, NewCa, parse, rotate_cluster, traversal_handshake

from mrakit.applier import apply
from mrakit.inventory.load import load_inventory
from mrakit.pki.chain import verify_chain
from mrakit.planner import PHASE_CERTS, PHASE_TRUST, plan
from mrakit.session import Session


def test_edge_rotation_to_a_new_ca_keeps_the_traversal_zone_up(
        make_deployment: Callable[..., Any], lab_connections: Callable[..., Session]) -> None:
    deployment = make_deployment("fresh")
    connections = lab_connections(deployment.path)
    lab = connections.lab
    assert lab is not None
    inventory = load_inventory(deployment.path)
    assert not apply(plan(inventory, connections=connections), inventory, connections=connections).failed
    old_trust = {c: list(lab.state.expressway[c].trust) for c in CONTROL}
    for control in CONTROL:
        for edge in EDGE:
            assert traversal_handshake(lab, control, edge).ok

    ca = NewCa.create("Rotation PKI")
    leaves = rotate_cluster(deployment.path, "exp-e", ca,
                            lambda fqdn, cn, sans: connections.expressway[fqdn].generate_csr(cn, sans))
    inventory = load_inventory(deployment.path)
    # The probe can fail: a control peer trusting only the new CA cannot reach the (still old) edge.
    refused = traversal_handshake(lab, CONTROL[0], EDGE[0], trust_pems=[ca.root.cert.pem, ca.issuing.cert.pem])
    assert not refused.ok

    the_plan = plan(inventory, connections=connections)
    kinds = sorted((a.kind, a.node, a.fingerprint) for a in the_plan.actions if a.kind != "manual")
    assert kinds == sorted(
        [("trust.add", c, fp) for c in CONTROL for fp in ca.fingerprints]
        + [("cert.install", e, leaves[e].fingerprint_sha256) for e in EDGE])
    for action in the_plan.actions:
        if action.kind == "trust.add":
            assert action.phase == PHASE_TRUST and {"MRA020", "MRA023"} <= {r.code for r in action.reasons}

    # Record when each write runs, and make an overlap between two installs visible.
    spans: list[tuple[str, str, float, float]] = []
    lock = threading.Lock()

    def timed(kind: str, node: str, call: Callable[..., Any], pause: float) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                return call(*args, **kwargs)
            finally:
                time.sleep(pause)
                with lock:
                    spans.append((kind, node, started, time.monotonic()))
        return run

    for control in CONTROL:
        adapter = connections.expressway[control]
        adapter.add_trusted_ca = timed("trust.add", control, adapter.add_trusted_ca, 0.0)  # type: ignore[method-assign]
    for edge in EDGE:
        adapter = connections.expressway[edge]
        adapter.install_server_certificate = timed(  # type: ignore[method-assign]
            "cert.install", edge, adapter.install_server_certificate, 0.05)

    failures: list[str] = []
    probes: list[str] = []

    def check_traversal(phase: str, node: str, message: str) -> None:
        for control in CONTROL:
            for edge in EDGE:
                handshake = traversal_handshake(lab, control, edge)
                probes.append(f"{phase} {node}")
                if not handshake.ok:
                    failures.append(f"after [{phase}] {node}: {message}: {control} -> {edge}: {handshake.error}")
                with lab.state.lock:
                    leaf = parse(lab.state.expressway[edge].server_chain[:1])[0]
                    trust = parse(lab.state.expressway[control].trust)
                verdict = verify_chain(leaf, trust, (), purpose="server", semantics="expressway")
                if not verdict.valid:
                    failures.append(f"after [{phase}] {node}: {control} cannot validate {edge}: {verdict.detail}")

    result = apply(the_plan, inventory, connections=connections, progress=check_traversal)
    assert failures == []
    assert not result.failed, result.to_dict()
    assert all(c.valid for c in result.verification)
    writing = [a for a in the_plan.actions if a.writes]
    assert len([p for p in probes if p.startswith("phase")]) == len(writing) * len(CONTROL) * len(EDGE)

    # The edge now presents the new certificate, to the adapter and on the wire.
    for edge in EDGE:
        assert connections.expressway[edge].server_certificate()[0] == leaves[edge]
        for control in CONTROL:
            handshake = traversal_handshake(lab, control, edge)
            assert handshake.ok and handshake.peer_der == leaves[edge].der
            # ... which the control peers' trust from before the rotation could not have validated.
            assert not traversal_handshake(lab, control, edge, trust_pems=old_trust[control]).ok

    # Phase order in the result, and in time: every trust addition before the first install.
    order = [(r.kind, r.node) for r in result.results]
    last_trust = max(i for i, (kind, node) in enumerate(order) if kind == "trust.add")
    first_install = min(i for i, (kind, node) in enumerate(order) if kind == "cert.install")
    assert last_trust < first_install
    assert all(a.phase == PHASE_CERTS for a in the_plan.actions if a.kind == "cert.install")
    installs = sorted((s for s in spans if s[0] == "cert.install"), key=lambda s: s[2])
    trusts = [s for s in spans if s[0] == "trust.add"]
    assert len(installs) == len(EDGE) and len(trusts) == len(CONTROL) * 2
    assert max(s[3] for s in trusts) <= installs[0][2]
    # Rolling: one edge peer at a time.
    for before, after in itertools.pairwise(installs):
        assert before[3] <= after[2], f"{before[1]} and {after[1]} were installed at the same time"
