"""Chaos: a generated 50-node lab with 503s, connection resets and a node that is down. Apply must
report exactly what happened, never lose or duplicate a trust entry, and converge on a re-run once
the faults are gone (the lab state is kept between the runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from _plankit import NewCa, csr_in_state, parse, rotate_cluster, trust_fingerprints

from mrakit.applier import apply
from mrakit.inventory.load import load_inventory
from mrakit.lab.fleet import control_peer, edge_peer, write_fleet
from mrakit.lab.seed import init_lab
from mrakit.lab.state import LabState
from mrakit.planner import Plan, plan
from mrakit.session import connect

PAIRS = 12  # 12 edge + 12 control clusters, 2 peers each: 48 Expressways, plus a publisher and a subscriber
DOWN = control_peer(3, 2)
ROTATED = "edge-1"  # moves to a new CA: phase 2 has installs whose prerequisites run under chaos
FAULTS = {"error_rate": 0.1, "reset_rate": 0.03, "seed": 11, "nodes": {DOWN: {"down": True}}}


def no_lost_or_duplicated_entry(before: dict[tuple[str, str], list[str]], state_dir: Path) -> None:
    after = trust_fingerprints(LabState.load(state_dir))
    for (node, store), fingerprints in before.items():
        missing = set(fingerprints) - set(after[(node, store)])
        assert not missing, f"{node} {store} lost {sorted(missing)}"
    for (node, store), fingerprints in after.items():
        assert len(fingerprints) == len(set(fingerprints)), f"{node} {store} holds a duplicate entry"


def check_report(the_plan: Plan, report: dict[str, Any], state_dir: Path) -> None:
    """Every action's status agrees with the lab's state and with its prerequisites."""
    actions = {a.id: a for a in the_plan.actions}
    items = {item["action"]: item for entries in report["nodes"].values() for item in entries}
    assert set(items) == set(actions)
    state = LabState.load(state_dir)
    lists = trust_fingerprints(state)
    for action_id, item in items.items():
        action = actions[action_id]
        assert item["node"] == action.node and item["kind"] == action.kind
        status, error = item["status"], item["error"]
        if action.kind == "manual":
            assert status == "manual"
            continue
        blocked = [d for d in action.depends_on if items[d]["status"] in ("failed", "skipped")]
        if blocked:
            assert status == "skipped", item
            assert error.startswith("trust prerequisites failed: ")
            for dep in blocked:
                assert items[dep]["summary"] in error
            continue
        assert status in ("changed", "failed"), item
        if status == "failed":
            assert error, item
        elif action.kind == "trust.add":
            assert action.fingerprint in lists[(action.node, action.store or "")], item
        elif action.kind == "cert.install":
            assert parse(state.expressway[action.node].server_chain[:1])[0].fingerprint_sha256 == action.fingerprint


@pytest.mark.slow
def test_chaos_partial_failure_is_reported_and_a_rerun_converges(tmp_path: Path, lab_env: dict[str, str]) -> None:
    path = write_fleet(tmp_path, PAIRS, 1, FAULTS)
    init_lab(path, "fresh")
    inventory = load_inventory(path)
    state_dir = inventory.lab_state_dir
    assert len(LabState.load(state_dir).node_names()) == 50
    ca = NewCa.create("Chaos PKI")
    leaves = rotate_cluster(path, ROTATED, ca, csr_in_state(state_dir))
    inventory = load_inventory(path)
    before = trust_fingerprints(LabState.load(state_dir))

    with connect(inventory, attempts=3, max_retry_seconds=5) as connections:
        assert connections.lab is not None
        first = plan(inventory, connections=connections)
        result = apply(first, inventory, connections=connections)
        log = list(connections.lab.request_log)

    assert DOWN in first.unreachable and "refused" in first.unreachable[DOWN]
    assert not [a for a in first.actions if a.node == DOWN]
    assert {a.node for a in first.actions if a.kind == "cert.install"} == {edge_peer(1, 1), edge_peer(1, 2)}, [
        a.summary for a in first.actions if a.phase == 2]
    assert [e for e in log if e.get("fault") or e["status"] == 503], "the lab injected no fault"
    assert not [e for e in log if e["method"] == "DELETE"]

    report = result.to_dict()
    assert result.failed and report["failed"] is True
    assert DOWN in report["unreachable"]
    assert DOWN not in report["nodes"]
    assert report["summary"] == result.summary()
    check_report(first, report, state_dir)
    no_lost_or_duplicated_entry(before, state_dir)

    # The faults go away and the down node comes back; the lab keeps its state.
    data = yaml.safe_load(path.read_text())
    data["lab"] = {k: v for k, v in data["lab"].items() if k not in ("error_rate", "reset_rate", "nodes")}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    inventory = load_inventory(path)
    with connect(inventory, attempts=3, max_retry_seconds=5) as connections:
        second = plan(inventory, connections=connections)
        assert second.unreachable == {}
        assert [a for a in second.actions if a.node == DOWN and a.kind == "trust.add"]
        rerun = apply(second, inventory, connections=connections)
        assert not rerun.failed, rerun.to_dict()
        assert all(c.valid for c in rerun.verification) and rerun.verification
        third = plan(inventory, connections=connections)
        assert third.summary() == "Plan: no changes", [a.summary for a in third.actions]
        for fqdn, leaf in leaves.items():
            assert connections.expressway[fqdn].server_certificate()[0] == leaf
    no_lost_or_duplicated_entry(before, state_dir)
