"""Apply's verification pass: it reads every node's trust lists and certificates again (what apply
wrote, and what anyone else changed meanwhile), and not what apply never changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from _plankit import CONTROL, EXPC1, EXPRESSWAYS, PUB, NewCa

from mrakit.applier import apply
from mrakit.inventory.load import load_inventory
from mrakit.planner import plan

NEVER_WRITTEN = ("/api/provisioning/certs/generate_csr", "/api/v1/provisioning/common/cluster/peers",
                 "/api/provisioning/common/domain", "/api/provisioning/controller/server/cucm")


def test_verification_reads_trust_and_certificates_but_not_what_apply_never_changes(
        make_deployment: Callable[..., Any], lab_connections: Callable[..., Any]) -> None:
    deployment = make_deployment("fresh")
    inventory = load_inventory(deployment.path)
    connections = lab_connections(deployment.path)
    lab = connections.lab
    the_plan = plan(inventory, connections=connections)
    planned = [(e["node"], e["path"]) for e in lab.request_log]
    assert {path for _, path in planned} >= set(NEVER_WRITTEN)  # the plan reads them all

    start = len(lab.request_log)
    result = apply(the_plan, inventory, connections=connections, check_stale=False)
    assert not result.failed, result.to_dict()
    applied = [(e["node"], e["method"], e["path"]) for e in lab.request_log[start:]]
    assert [a for a in applied if a[2] in NEVER_WRITTEN] == []
    for node in EXPRESSWAYS:  # read again after the writes: the trust list and the certificate
        assert (node, "GET", "/api/provisioning/certs/server") in applied
        assert (node, "GET", "/api/provisioning/certs/root") in applied
    axl = [a for a in applied if a[0] == PUB and a[2] == "/axl/"]
    assert len(axl) == 2  # version and phone security profiles, not the list of servers


def test_verification_judges_the_certificate_a_node_holds_now(
        make_deployment: Callable[..., Any], lab_connections: Callable[..., Any]) -> None:
    """A certificate replaced behind mrakit's back after the plan is what the verification judges."""
    deployment = make_deployment("fresh")
    inventory = load_inventory(deployment.path)
    connections = lab_connections(deployment.path)
    lab = connections.lab
    the_plan = plan(inventory, connections=connections)
    stranger = NewCa.create("Stranger PKI")
    with lab.state.mutate(EXPC1):
        node = lab.state.expressway[EXPC1]
        node.server_chain = [stranger.issuing.issue_leaf(EXPC1, [EXPC1]).cert.pem, stranger.issuing.cert.pem]

    result = apply(the_plan, inventory, connections=connections, check_stale=False)
    broken = {(c.validator, c.subject) for c in result.verification if not c.valid}
    assert broken and {subject for _, subject in broken} == {EXPC1}, broken
    assert {validator for validator, _ in broken} - set(CONTROL)  # its edges and CUCM no longer trust it
    assert result.failed
