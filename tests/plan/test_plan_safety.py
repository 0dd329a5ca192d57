"""Make-before-break under failure: a certificate is never installed before every node that must
validate it trusts its chain, whatever failed, was unreachable, out of --limit, or not replicated yet."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from _plankit import CONTROL, EDGE, EXPC2, PUB, SUB, NewCa, handshake, rotate_cluster, traversal_handshake

from mrakit.applier import apply
from mrakit.errors import AdapterError
from mrakit.inventory.load import load_inventory
from mrakit.pki.certview import CertView
from mrakit.planner import plan
from mrakit.session import Session


def converged(deployment_path: Path, connections: Session) -> None:
    inventory = load_inventory(deployment_path)
    result = apply(plan(inventory, connections=connections), inventory, connections=connections)
    assert not result.failed, result.to_dict()


def rotate(deployment_path: Path, cluster: str, connections: Session, name: str) -> tuple[NewCa, dict[str, Any]]:
    ca = NewCa.create(name)
    leaves = rotate_cluster(deployment_path, cluster, ca,
                            lambda fqdn, cn, sans: connections.expressway[fqdn].generate_csr(cn, sans))
    return ca, leaves


def rewrite_lab(path: Path, **lab: Any) -> None:
    data = yaml.safe_load(path.read_text())
    data["lab"] = {**{k: v for k, v in data["lab"].items() if k not in ("nodes",)}, **lab}
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_install_is_skipped_when_a_trust_prerequisite_fails_and_a_rerun_converges(
        make_deployment: Callable[..., Any], lab_connections: Callable[..., Session]) -> None:
    deployment = make_deployment("missing-intermediate")
    connections = lab_connections(deployment.path)
    lab = connections.lab
    assert lab is not None
    converged(deployment.path, connections)
    old = {e: connections.expressway[e].server_certificate()[0] for e in EDGE}
    _, leaves = rotate(deployment.path, "exp-e", connections, "Skip PKI")
    inventory = load_inventory(deployment.path)
    the_plan = plan(inventory, connections=connections)

    def refuse(cert: CertView) -> None:
        raise AdapterError(f"{EXPC2} refused POST /api/provisioning/certs/root (HTTP 400): injected", node=EXPC2)

    real_add = connections.expressway[EXPC2].add_trusted_ca
    connections.expressway[EXPC2].add_trusted_ca = refuse  # type: ignore[method-assign]
    result = apply(the_plan, inventory, connections=connections)
    connections.expressway[EXPC2].add_trusted_ca = real_add  # type: ignore[method-assign]

    assert result.failed
    by_kind: dict[tuple[str, str], list[Any]] = {}
    for item in result.results:
        by_kind.setdefault((item.kind, item.node), []).append(item)
    assert {r.status for r in by_kind[("trust.add", EXPC2)]} == {"failed"}
    assert all("injected" in (r.error or "") for r in by_kind[("trust.add", EXPC2)])
    assert {r.status for r in by_kind[("trust.add", CONTROL[0])]} == {"changed"}
    for edge in EDGE:
        (install,) = by_kind[("cert.install", edge)]
        assert install.status == "skipped"
        assert install.error and install.error.startswith("trust prerequisites failed: ")
        assert "exp-c/expc2 (failed)" in install.error
        assert "exp-c/expc1" not in install.error
        # Nothing was installed: the edge keeps the certificate every control peer trusts.
        assert connections.expressway[edge].server_certificate()[0] == old[edge]
        for control in CONTROL:
            assert traversal_handshake(lab, control, edge).ok
    assert result.to_dict()["failed"] is True

    # A re-run converges: only what is still missing is planned.
    inventory = load_inventory(deployment.path)
    again = plan(inventory, connections=connections)
    assert sorted((a.kind, a.node) for a in again.actions if a.writes) == sorted(
        [("trust.add", EXPC2)] * 2 + [("cert.install", e) for e in EDGE])
    rerun = apply(again, inventory, connections=connections)
    assert not rerun.failed, rerun.to_dict()
    assert plan(inventory, connections=connections).summary() == "Plan: no changes"
    for edge in EDGE:
        assert connections.expressway[edge].server_certificate()[0] == leaves[edge]


def test_install_waits_for_an_unreachable_validator(make_deployment: Callable[..., Any],
                                                    lab_connections: Callable[..., Session]) -> None:
    deployment = make_deployment("missing-intermediate")
    connections = lab_connections(deployment.path)
    converged(deployment.path, connections)
    rotate(deployment.path, "exp-e", connections, "Unreachable PKI")
    connections.close()
    rewrite_lab(deployment.path, nodes={EXPC2: {"down": True}})
    connections = lab_connections(deployment.path, attempts=2, max_retry_seconds=2)
    inventory = load_inventory(deployment.path)
    the_plan = plan(inventory, connections=connections)
    assert EXPC2 in the_plan.unreachable
    result = apply(the_plan, inventory, connections=connections)
    installs = [r for r in result.results if r.kind == "cert.install"]
    connections.close()

    # expc2 comes back: it must still reach both edge peers.
    rewrite_lab(deployment.path)
    connections = lab_connections(deployment.path)
    lab = connections.lab
    assert lab is not None
    broken = [e for e in EDGE if not traversal_handshake(lab, EXPC2, e).ok]
    assert broken == [], f"{EXPC2} cannot reach {broken}: install statuses {[r.status for r in installs]}"


def test_limit_never_plans_an_install_without_its_validators_trust(
        make_deployment: Callable[..., Any], lab_connections: Callable[..., Session]) -> None:
    deployment = make_deployment("missing-intermediate")
    connections = lab_connections(deployment.path)
    lab = connections.lab
    assert lab is not None
    converged(deployment.path, connections)
    rotate(deployment.path, "exp-e", connections, "Limit PKI")
    inventory = load_inventory(deployment.path)
    limited = plan(inventory, connections=connections, limit=["exp-e"])
    assert {a.cluster for a in limited.actions} <= {"exp-e"}
    result = apply(limited, inventory, connections=connections)
    outage = [f"{c} -> {e}" for c in CONTROL for e in EDGE if not traversal_handshake(lab, c, e).ok]
    assert outage == []
    assert all(c.valid for c in result.verification)


def test_control_rotation_waits_for_cucm_trust_replication(make_deployment: Callable[..., Any],
                                                           lab_connections: Callable[..., Session]) -> None:
    """Trust uploaded to the CUCM publisher reaches the subscribers only after replication (MRA032: verify
    on each): a control peer's new certificate must not be installed before cucm-sub1 trusts it."""
    deployment = make_deployment("missing-intermediate", {"lab": {"replication_delay_ms": 1500}})
    connections = lab_connections(deployment.path)
    lab = connections.lab
    assert lab is not None
    converged(deployment.path, connections)
    for control in CONTROL:
        assert handshake(lab, control, SUB, "sip-tls").ok
    rotate(deployment.path, "exp-c", connections, "Control PKI")
    inventory = load_inventory(deployment.path)
    the_plan = plan(inventory, connections=connections)
    assert [a for a in the_plan.actions if a.kind == "trust.add" and a.node == PUB]
    failures: list[str] = []

    def check(phase: str, node: str, message: str) -> None:
        for control in CONTROL:
            for target in (PUB, SUB):
                result = handshake(lab, control, target, "sip-tls")
                if not result.ok:
                    failures.append(f"after {message}: {control} -> {target}: {result.error}")

    result = apply(the_plan, inventory, connections=connections, progress=check)
    assert failures == []
    assert not result.failed


def test_cucm_before_14_gets_manual_trust_steps(make_deployment: Callable[..., Any],
                                                lab_connections: Callable[..., Session]) -> None:
    """CUCM before 14 has no certificate REST API: it is still read (through AXL), and its trust additions
    become manual CLI steps instead of making the plan fail."""
    deployment = make_deployment("fresh", {"cucm": {"cucm-main": {"version": "12.5.1"}}})
    connections = lab_connections(deployment.path, attempts=1)
    inventory = load_inventory(deployment.path)
    the_plan = plan(inventory, connections=connections)
    assert the_plan.unreachable == {}
    manual = [a for a in the_plan.actions if a.node == PUB and a.kind == "manual" and a.store]
    assert sorted(a.store or "" for a in manual) == ["CallManager-trust"] * 2 + ["tomcat-trust"] * 2
    assert all("set cert import trust" in a.instructions for a in manual)
    assert not [a for a in the_plan.actions if a.node == PUB and a.kind == "trust.add"]
