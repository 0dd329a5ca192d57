"""Trust that reached the CUCM publisher but not a subscriber is uploaded again, and apply waits for
it: a re-run after a replication that never arrived converges on every node."""

from __future__ import annotations

from mrakit.applier import apply
from mrakit.inventory.load import load_inventory
from mrakit.lab.state import LabState
from mrakit.pki.load import load_certificates
from mrakit.planner import plan

SUB = "cucm-sub1.acme.local"
PUB = "cucm-pub.acme.local"


def fingerprints(pems: list[str]) -> set[str]:
    return {load_certificates(p.encode())[0].fingerprint_sha256 for p in pems}


def test_a_subscriber_missing_replicated_trust_gets_it_again(make_deployment, lab_connections) -> None:
    deployment = make_deployment("fresh")
    inventory = load_inventory(deployment.path)
    with lab_connections(deployment.path) as connections:
        assert not apply(plan(inventory, connections=connections), inventory, connections=connections).failed
    # The replication of one entry to the subscriber was lost.
    state = LabState.load(inventory.lab_state_dir)
    on_publisher = fingerprints(state.cucm[PUB].trust["tomcat-trust"])
    lost = state.cucm[SUB].trust["tomcat-trust"].pop()
    lost_fp = fingerprints([lost]).pop()
    assert lost_fp in on_publisher
    state.save([SUB])

    with lab_connections(deployment.path) as connections:
        again = plan(inventory, connections=connections)
        [action] = [a for a in again.actions if a.kind == "trust.add"]
        assert (action.node, action.store, action.fingerprint) == (PUB, "tomcat-trust", lost_fp)
        assert any(r.code == "MRA032" and SUB in r.text for r in action.reasons)
        result = apply(again, inventory, connections=connections)
        assert not result.failed, result.summary()
        assert lost_fp in fingerprints(LabState.load(inventory.lab_state_dir).cucm[SUB].trust["tomcat-trust"])
        assert not plan(inventory, connections=connections).has_changes


def test_a_subscriber_known_unreachable_is_not_waited_for_and_the_result_says_so(make_deployment,
                                                                                  lab_connections) -> None:
    """Without the skip, each addition on the publisher would wait the whole replication timeout for a
    node that cannot answer, then count as failed."""
    deployment = make_deployment("fresh", {"lab": {"nodes": {SUB: {"down": True}}}})
    inventory = load_inventory(deployment.path)
    state = LabState.load(inventory.lab_state_dir)
    for node in state.cucm.values():  # a CUCM that trusts nothing yet: trust goes to the publisher
        node.trust = {"tomcat-trust": [], "CallManager-trust": []}
    state.save()
    with lab_connections(deployment.path) as connections:
        the_plan = plan(inventory, connections=connections)
        assert SUB in the_plan.unreachable
        notes: list[tuple[str, str, str]] = []
        result = apply(the_plan, inventory, connections=connections, replication_timeout=5,
                       progress=lambda *note: notes.append(note))
    on_publisher = [r for r in result.results if r.node == PUB and r.kind == "trust.add"]
    assert on_publisher and all(r.status == "changed" for r in on_publisher)
    assert all(r.error == f"replication to {SUB} not waited for: the node is unreachable" for r in on_publisher)
    assert ("replication", SUB, "unreachable: not waiting for the publisher's trust to arrive") in notes
    assert SUB in result.unreachable and result.failed  # the node is still reported, and the run is not clean
