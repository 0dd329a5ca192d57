"""Every lab fault kind is retried, reconciled or reported as the adapters promise, reproducibly by seed.

The seeds are chosen by replaying the lab's own FaultInjector (one seeded stream per node), so each
test knows exactly which request meets which fault, and then checks the lab's request log for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from _labkit import new_root

from mrakit.errors import AdapterError, NodeUnreachable
from mrakit.inventory.load import load_inventory
from mrakit.inventory.model import FaultProfile, LabSettings
from mrakit.lab.faults import FaultDecision, FaultInjector
from mrakit.lab.state import LabState
from mrakit.session import Session

EXPE1, EXPC1, EXPC2 = "expe1.acme.com", "expc1.acme.local", "expc2.acme.local"
PUB, SUB = "cucm-pub.acme.local", "cucm-sub1.acme.local"
ROOT = "/api/provisioning/certs/root"
SERVER = "/api/provisioning/certs/server"
CSR = "/api/provisioning/certs/generate_csr"
FAST = {"connect": 1, "read": 0.5}

Want = Callable[[FaultDecision], bool]


def clean(d: FaultDecision) -> bool:
    return not (d.error or d.reset or d.hang)


def seed_for(node: str, profile: dict[str, float], wanted: Sequence[Want]) -> int:
    """The first seed whose stream for `node` starts with decisions matching `wanted`, in order."""
    for seed in range(5000):
        injector = FaultInjector(LabSettings(node_faults={node: FaultProfile(**profile)}, seed=seed))
        if all(want(injector.decide(node)) for want in wanted):
            return seed
    raise AssertionError(f"no seed gives {node} that fault sequence")


def log_of(connections: Session, node: str) -> list[tuple[str, str, int, str | None]]:
    assert connections.lab is not None
    return [(e["method"], e["path"], e["status"], e.get("fault")) for e in connections.lab.request_log
            if e["node"] == node]


def node_faults(node: str, seed: int, **profile: Any) -> dict[str, Any]:
    return {"lab": {"seed": seed, "nodes": {node: profile}}, "defaults": {"timeouts": FAST}}


# --- 503 -----------------------------------------------------------------------------------------------

def run_reads_under_errors(make_deployment: Callable[..., Any], open_connections: Callable[..., Session],
                           seed: int) -> list[tuple[str, str, int, str | None]]:
    deployment = make_deployment(overrides={"lab": {"error_rate": 0.3, "seed": seed}})
    connections = open_connections(deployment.path, attempts=10, max_retry_seconds=5)
    node = connections.expressway[EXPE1]
    for _ in range(12):
        assert node.trusted_cas() == ()
        assert node.server_certificate()[0].common_name == "mra.acme.com"
    assert connections.cucm[PUB].process_nodes() == (PUB, SUB)  # AXL reads (POSTs) are retried too
    log = log_of(connections, EXPE1)
    connections.close()
    return log


def test_error_rate_reads_succeed_after_retries_reproducibly(make_deployment: Callable[..., Any],
                                                             open_connections: Callable[..., Session]) -> None:
    first = run_reads_under_errors(make_deployment, open_connections, seed=3)
    statuses = [status for _, _, status, _ in first]
    assert statuses.count(503) >= 3
    assert statuses.count(200) == 24
    assert set(statuses) == {200, 503}
    for index, (method, path, status, _) in enumerate(first):  # every 503 is followed by a retry of the same read
        if status == 503:
            assert first[index + 1][:2] == (method, path)
    again = run_reads_under_errors(make_deployment, open_connections, seed=3)
    assert again == first  # same seed, same faults, same requests
    other = run_reads_under_errors(make_deployment, open_connections, seed=4)
    assert [s for *_, s, _ in other] != statuses


def test_a_503_on_a_write_is_retried_and_applied_once(make_deployment: Callable[..., Any],
                                                      open_connections: Callable[..., Session]) -> None:
    seed = seed_for(EXPC1, {"error_rate": 0.5}, [lambda d: d.error, lambda d: d.error, clean])
    deployment = make_deployment(overrides=node_faults(EXPC1, seed, error_rate=0.5))
    connections = open_connections(deployment.path, attempts=5, max_retry_seconds=5)
    root = new_root("Retried Root").cert
    connections.expressway[EXPC1].add_trusted_ca(root)
    assert log_of(connections, EXPC1)[:3] == [("POST", ROOT, 503, None), ("POST", ROOT, 503, None),
                                              ("POST", ROOT, 200, None)]
    assert LabState.load(load_inventory(deployment.path).lab_state_dir).expressway[EXPC1].trust == [root.pem]


# --- resets --------------------------------------------------------------------------------------------

def test_a_reset_write_is_reconciled_by_a_read_and_applied_once(make_deployment: Callable[..., Any],
                                                                open_connections: Callable[..., Session]) -> None:
    seed = seed_for(EXPE1, {"reset_rate": 0.5}, [lambda d: d.reset, clean, clean, clean])
    deployment = make_deployment(overrides=node_faults(EXPE1, seed, reset_rate=0.5))
    connections = open_connections(deployment.path, attempts=5, max_retry_seconds=5)
    root = new_root("Reset Root").cert
    connections.expressway[EXPE1].add_trusted_ca(root)
    # the reconciling read, then the read that confirms the upload took
    assert log_of(connections, EXPE1) == [("POST", ROOT, 0, "reset"), ("GET", ROOT, 200, None),
                                          ("GET", ROOT, 200, None)]
    assert connections.expressway[EXPE1].trusted_cas() == (root,)  # exactly once
    assert connections.lab is not None
    assert [(w["node"], w["path"]) for w in connections.lab.writes()] == [(EXPE1, ROOT)]


def test_a_reset_certificate_install_is_reconciled(make_deployment: Callable[..., Any],
                                                   open_connections: Callable[..., Session]) -> None:
    # CSR (clean), reading the CSR back (clean), install (reset after it was applied), reconciling read (clean)
    seed = seed_for(EXPE1, {"reset_rate": 0.5}, [clean, clean, lambda d: d.reset, clean])
    deployment = make_deployment(overrides=node_faults(EXPE1, seed, reset_rate=0.5))
    connections = open_connections(deployment.path, attempts=5, max_retry_seconds=5)
    node = connections.expressway[EXPE1]
    csr = node.generate_csr("mra.acme.com", (EXPE1,))
    ca = new_root("Reset Install Root")
    leaf = ca.sign_csr(csr)
    node.install_server_certificate((leaf, ca.cert))
    assert log_of(connections, EXPE1) == [("POST", CSR, 200, None), ("GET", CSR, 200, None),
                                          ("POST", SERVER, 0, "reset"), ("GET", SERVER, 200, None)]
    assert LabState.load(load_inventory(deployment.path).lab_state_dir).expressway[EXPE1].server_chain[0] == leaf.pem


def test_a_reset_cucm_trust_upload_is_reconciled(make_deployment: Callable[..., Any],
                                                 open_connections: Callable[..., Session]) -> None:
    seed = seed_for(PUB, {"reset_rate": 0.5}, [lambda d: d.reset, clean, clean, clean])
    deployment = make_deployment(overrides=node_faults(PUB, seed, reset_rate=0.5))
    connections = open_connections(deployment.path, attempts=5, max_retry_seconds=5)
    root = new_root("CUCM Reset Root").cert
    connections.cucm[PUB].add_trusted_certificate("tomcat-trust", root)
    base = "/platformcom/api/v1/certmgr/config"
    read = ("GET", f"{base}/trust/certificate?service=tomcat", 200, None)
    assert log_of(connections, PUB) == [("POST", f"{base}/trust/certificates", 0, "reset"), read, read]
    assert connections.cucm[PUB].trusted_certificates("tomcat-trust").count(root) == 1


def test_a_reset_write_without_reconciliation_reports_an_unknown_outcome(
        make_deployment: Callable[..., Any], open_connections: Callable[..., Session]) -> None:
    seed = seed_for(EXPC1, {"reset_rate": 0.5}, [lambda d: d.reset])
    deployment = make_deployment(overrides=node_faults(EXPC1, seed, reset_rate=0.5))
    connections = open_connections(deployment.path, attempts=5, max_retry_seconds=5)
    with pytest.raises(AdapterError) as caught:
        connections.expressway[EXPC1].generate_csr("expc.acme.local", (EXPC1,))
    assert not isinstance(caught.value, NodeUnreachable)
    assert "outcome unknown" in str(caught.value)
    assert EXPC1 in str(caught.value) and caught.value.node == EXPC1
    assert log_of(connections, EXPC1) == [("POST", CSR, 0, "reset")]  # not retried blindly
    # the node did generate a key and CSR: that is why the outcome is unknown, not failed; re-reading finds it
    pending = connections.expressway[EXPC1].pending_csr()
    assert pending is not None
    assert LabState.load(load_inventory(deployment.path).lab_state_dir).expressway[EXPC1].pending_csr


def test_a_reset_cucm_csr_reports_an_unknown_outcome(make_deployment: Callable[..., Any],
                                                     open_connections: Callable[..., Session]) -> None:
    seed = seed_for(PUB, {"reset_rate": 0.5}, [lambda d: d.reset])
    deployment = make_deployment(overrides=node_faults(PUB, seed, reset_rate=0.5))
    connections = open_connections(deployment.path, attempts=5, max_retry_seconds=5)
    with pytest.raises(AdapterError, match="outcome unknown") as caught:
        connections.cucm[PUB].generate_csr("tomcat", PUB, (PUB,))
    assert not isinstance(caught.value, NodeUnreachable)
    assert len(log_of(connections, PUB)) == 1


# --- hangs -------------------------------------------------------------------------------------------

def test_a_hung_read_times_out_and_is_retried(make_deployment: Callable[..., Any],
                                              open_connections: Callable[..., Session]) -> None:
    seed = seed_for(EXPE1, {"hang_rate": 0.5}, [lambda d: d.hang, clean])
    deployment = make_deployment(overrides=node_faults(EXPE1, seed, hang_rate=0.5))
    connections = open_connections(deployment.path, attempts=3, max_retry_seconds=5)
    start = time.monotonic()
    assert connections.expressway[EXPE1].trusted_cas() == ()
    elapsed = time.monotonic() - start
    assert 0.45 <= elapsed < 3.0  # one read timeout (0.5 s), then the retry
    assert log_of(connections, EXPE1) == [("GET", ROOT, 0, "hang"), ("GET", ROOT, 200, None)]


def test_a_hung_write_is_reconciled_after_the_read_timeout(make_deployment: Callable[..., Any],
                                                           open_connections: Callable[..., Session]) -> None:
    seed = seed_for(EXPE1, {"hang_rate": 0.5}, [lambda d: d.hang, clean, clean, clean])
    deployment = make_deployment(overrides=node_faults(EXPE1, seed, hang_rate=0.5))
    connections = open_connections(deployment.path, attempts=3, max_retry_seconds=5)
    root = new_root("Hung Write Root").cert
    connections.expressway[EXPE1].add_trusted_ca(root)
    assert log_of(connections, EXPE1) == [("POST", ROOT, 0, "hang"), ("GET", ROOT, 200, None),
                                          ("GET", ROOT, 200, None)]
    assert connections.expressway[EXPE1].trusted_cas() == (root,)


def test_a_node_that_always_hangs_is_unreachable_within_a_bound(make_deployment: Callable[..., Any],
                                                                open_connections: Callable[..., Session]) -> None:
    deployment = make_deployment(overrides={"lab": {"nodes": {EXPE1: {"hang_rate": 1.0}}},
                                            "defaults": {"timeouts": {"connect": 1, "read": 0.3}}})
    connections = open_connections(deployment.path, attempts=3, max_retry_seconds=2)
    start = time.monotonic()
    with pytest.raises(NodeUnreachable) as caught:
        connections.expressway[EXPE1].version()
    elapsed = time.monotonic() - start
    assert elapsed < 3.0  # 3 x 0.3 s read timeouts and short back-offs; max_retry_seconds=2 caps it
    assert caught.value.node == EXPE1
    assert str(caught.value) == (f"{EXPE1} unreachable after 3 attempt(s): no answer from {EXPE1} within 0.3 s")
    assert [fault for *_, fault in log_of(connections, EXPE1)] == ["hang"] * 3
    assert connections.expressway["expe2.acme.com"].version() == "X15.5.1"  # only that node hangs


# --- down nodes -----------------------------------------------------------------------------------------

def test_a_down_node_refuses_connections_and_the_others_work(make_deployment: Callable[..., Any],
                                                             open_connections: Callable[..., Session]) -> None:
    deployment = make_deployment(overrides={"lab": {"nodes": {EXPC2: {"down": True}}}})
    connections = open_connections(deployment.path, attempts=3, max_retry_seconds=5)
    start = time.monotonic()
    with pytest.raises(NodeUnreachable) as caught:
        connections.expressway[EXPC2].trusted_cas()
    assert time.monotonic() - start < 2.0
    assert "connection refused" in str(caught.value)
    assert caught.value.node == EXPC2
    assert "after 3 attempt(s)" in str(caught.value)
    with pytest.raises(NodeUnreachable, match="connection refused"):  # a write is known not to have happened
        connections.expressway[EXPC2].add_trusted_ca(new_root("Down Root").cert)
    assert connections.expressway[EXPC1].version() == "X15.5.1"
    assert connections.expressway[EXPC1].trusted_cas() == ()
    assert connections.cucm[SUB].version() == "15.0.1"
    assert connections.lab is not None
    assert connections.lab.endpoints[EXPC2].tls == {}
    assert log_of(connections, EXPC2) == []


def test_a_lost_write_whose_reconciliation_fails_reports_an_unknown_outcome(
        make_deployment: Callable[..., Any], open_connections: Callable[..., Session]) -> None:
    # the POST is applied and its answer lost; every reconciling read is then reset too
    seed = seed_for(EXPE1, {"reset_rate": 0.9}, [lambda d: d.reset] * 4)
    deployment = make_deployment(overrides=node_faults(EXPE1, seed, reset_rate=0.9))
    connections = open_connections(deployment.path, attempts=3, max_retry_seconds=5)
    root = new_root("Lost Write Root").cert
    with pytest.raises(AdapterError) as caught:
        connections.expressway[EXPE1].add_trusted_ca(root)
    assert log_of(connections, EXPE1) == [("POST", ROOT, 0, "reset")] + [("GET", ROOT, 0, "reset")] * 3
    assert LabState.load(load_inventory(deployment.path).lab_state_dir).expressway[EXPE1].trust == [root.pem]
    assert "outcome unknown" in str(caught.value)  # today: "expe1.acme.com unreachable after 3 attempt(s): ..."
