"""Every lab scenario through plan → apply → plan → apply, on the example deployment.

The expected actions are worked out here from the scenario's definition and the lab's own CAs (not
from mrakit's desired state): exactly which CA goes on which node and store, which certificate is
installed where, with which rule codes; then apply must fix it, a second plan must be empty and a
second apply must not send a single write request. (self-signed-cucm leaves one manual step, the
re-issue of the subscriber's self-signed pair, and verification reports that relation as broken.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from _plankit import (
    ALL_NODES,
    CONTROL,
    EDGE,
    EXAMPLE_RELATIONS,
    EXPC1,
    EXPC2,
    EXPE1,
    EXPE2,
    EXPRESSWAYS,
    PUB,
    SUB,
    trust_fingerprints,
)

from mrakit.applier import apply
from mrakit.inventory.load import load_inventory
from mrakit.lab.pki import lab_authorities
from mrakit.lab.state import LabState
from mrakit.planner import PHASE_CERTS, PHASE_TRUST, Action, Plan, plan
from mrakit.session import Session

Key = tuple[str, str, str | None, str | None]


def key(action: Action, the_plan: Plan) -> Key:
    if action.kind == "trust.add":
        return (action.kind, action.node, action.store, action.fingerprint)
    if action.kind == "cert.install":
        return (action.kind, action.node, action.certificate_kind, action.fingerprint)
    # A restart: named by the certificate kind of the install it follows.
    installs = [a for a in the_plan.actions if a.id in action.depends_on and a.kind == "cert.install"]
    if action.summary.startswith("restart") and len(installs) == 1:
        return (action.kind, action.node, f"restart {installs[0].certificate_kind}", None)
    return (action.kind, action.node, ",".join(r.code for r in action.reasons) or action.summary, None)


class Expected:
    """The lab's CAs and the inventory's certificate files, to state expectations with."""

    def __init__(self, inventory_path: Any) -> None:
        inventory = load_inventory(inventory_path)
        self.inventory = inventory
        cas = lab_authorities(inventory.lab_state_dir)
        self.public = {cas.public_issuing.cert.fingerprint_sha256: "MRA Lab Public TLS CA",
                       cas.public_root.cert.fingerprint_sha256: "MRA Lab Public Root CA"}
        self.private = {cas.private_issuing.cert.fingerprint_sha256: "MRA Lab Issuing CA",
                        cas.private_root.cert.fingerprint_sha256: "MRA Lab Private Root CA"}
        self.public_issuing = cas.public_issuing.cert.fingerprint_sha256
        self.private_issuing = cas.private_issuing.cert.fingerprint_sha256
        self.names = {**self.public, **self.private}
        self.files = {peer.fqdn: peer.certificate for c in inventory.expressway.values() for peer in c.peers}
        self.cucm_files = dict(inventory.cucm["cucm-main"].certificates)

    def trust(self, nodes: tuple[str, ...], fingerprints: dict[str, str], store: str = "trusted_ca") -> set[Key]:
        return {("trust.add", n, store, fp) for n in nodes for fp in fingerprints}

    def full_trust(self) -> set[Key]:
        """What a node with no trust for the other side needs: E ← C's private chain, C ← E's public
        chain and the CUCM's private chain. The publisher needs nothing: C's private chain is the chain of
        CUCM's own identities, which a CUCM node always holds in both units (CUCM001)."""
        return self.trust(EDGE, self.private) | self.trust(CONTROL, self.public) | self.trust(CONTROL, self.private)

    def installs(self, nodes: tuple[str, ...]) -> set[Key]:
        installs: set[Key] = set()
        for fqdn in nodes:
            cert_file = self.files[fqdn]
            assert cert_file is not None
            installs |= {("cert.install", fqdn, "server", cert_file.leaf.fingerprint_sha256),
                         ("manual", fqdn, "restart server", None)}
        return installs


def expected_codes(action: Action, expected: Expected) -> set[str]:
    """The rule codes a trust addition's reasons must carry."""
    if action.product == "cucm":
        return {"MRA032"}
    if action.node in EDGE:
        return {"MRA020", "MRA023"}
    if action.fingerprint in expected.public:
        return {"MRA020", "MRA023"}
    return {"MRA031", "MRA023"}  # the CUCM's chain on a control peer (TLS verify / secure registration)


def validators(action: Action) -> set[tuple[str, str]]:
    """(node, store) pairs that validate the certificate `action` installs."""
    if action.node in EDGE:
        return {(c, "trusted_ca") for c in CONTROL}
    if action.node in CONTROL:
        return {(e, "trusted_ca") for e in EDGE} | {(PUB, "tomcat-trust"), (PUB, "CallManager-trust")}
    return {(c, "trusted_ca") for c in CONTROL}


def drift_expectation(state: LabState) -> set[Key]:
    """peer-drift: the last peer of each Expressway cluster lacks what its sibling has."""
    lists = trust_fingerprints(state)
    expected: set[Key] = set()
    for healthy, drifted in ((EXPE1, EXPE2), (EXPC1, EXPC2)):
        missing = set(lists[(healthy, "trusted_ca")]) - set(lists[(drifted, "trusted_ca")])
        assert missing, f"the peer-drift scenario left {drifted} with nothing missing"
        expected |= {("trust.add", drifted, "trusted_ca", fp) for fp in missing}
    return expected


def expectation(scenario: str, expected: Expected, state: LabState) -> set[Key]:
    if scenario == "fresh":
        return expected.full_trust()
    if scenario == "missing-intermediate":
        return {("trust.add", c, "trusted_ca", expected.public_issuing) for c in CONTROL}
    if scenario == "peer-drift":
        return drift_expectation(state)
    if scenario == "temporary-certs":
        # the X15.5 C peers' client store still holds the copy the upgrade made: the plan says to refresh it
        client_store = {("manual", c, "MRA001", None) for c in CONTROL}
        return expected.full_trust() | expected.installs(EXPRESSWAYS) | client_store
    if scenario == "x15-clientauth-loss":
        return expected.installs(EDGE)
    if scenario == "self-signed-cucm":
        # The publisher moves to the CA-signed certificates the inventory names: the control peers must
        # first trust the issuing CA (the private root is already there for the Expressways' chain).
        cucm = {("cert.install", PUB, kind, f.leaf.fingerprint_sha256) for kind, f in expected.cucm_files.items()}
        restarts = {("manual", PUB, f"restart {kind}", None) for kind in expected.cucm_files}
        # The subscriber keeps its self-signed pair (the inventory names certificates for the publisher):
        # a manual re-issue, because one of the two is hidden behind the other in C's trust list.
        return ({("trust.add", c, "trusted_ca", expected.private_issuing) for c in CONTROL} | cucm | restarts
                | {SUB_REISSUE})
    raise AssertionError(scenario)


SUB_REISSUE: Key = ("manual", SUB, "MRA022", None)
# The clientAuth loss breaks an Expressway only before X15.5: from X15.5 the example's edge certificate is
# serverAuth-only itself, and the replacement is a same-second renewal that mrakit keeps (INV001; see
# test_plan_renewal.py). On X15.3 both EKUs are required, so the inventory's certificate must go back on.
OVERRIDES = {"x15-clientauth-loss": {"expressway": {"exp-e": {"version": "X15.3"}, "exp-c": {"version": "X15.3"}}}}
SCENARIOS = ["fresh", "missing-intermediate", "peer-drift", "temporary-certs", "self-signed-cucm",
             "x15-clientauth-loss"]


def check_plan(scenario: str, the_plan: Plan, expected: Expected, state: LabState) -> None:
    want = expectation(scenario, expected, state)
    got = [key(a, the_plan) for a in the_plan.actions]
    assert len(got) == len(set(got)), f"an action is planned twice: {sorted(map(str, got))}"
    assert set(got) == want, (f"missing: {sorted(map(str, want - set(got)))}; "
                              f"unexpected: {sorted(map(str, set(got) - want))}")
    assert the_plan.unreachable == {}
    assert set(the_plan.node_fingerprints) == set(ALL_NODES)
    by_id = {a.id: a for a in the_plan.actions}
    for action in the_plan.actions:
        codes = {r.code for r in action.reasons}
        if action.kind == "trust.add":
            assert action.phase == PHASE_TRUST
            assert expected_codes(action, expected) <= codes, (action.summary, codes)
            assert action.fingerprint is not None
            name = expected.names[action.fingerprint]
            assert name in action.summary
            assert all(name in r.text or r.code in ("MRA023", "inventory") for r in action.reasons), action.reasons
            assert action.pem and "PRIVATE" not in action.pem
            assert [c.fingerprint_sha256 for c in action.certificates()] == [action.fingerprint]
        elif action.kind == "cert.install":
            assert action.phase == PHASE_CERTS
            # The inventory (or a renewal folder) asks for the certificate: its reason is `inventory`;
            # and the certificate it replaces on the node is named (subject, serial, not-after, sha256).
            assert codes == {"inventory", "replaces"}, action.reasons
            replaced = next(r.text for r in action.reasons if r.code == "replaces")
            assert " serial " in replaced and " not after " in replaced and " sha256 " in replaced
            assert any(".pem" in r.text for r in action.reasons), action.reasons
            # Make-before-break: it waits for every trust addition its validators get for its chain.
            chain = expected.public if action.node in EDGE else expected.private
            needed = {a.id for a in the_plan.actions if a.kind == "trust.add" and a.fingerprint in chain
                      and (a.node, a.store) in validators(action)}
            assert needed <= set(action.depends_on), f"{action.summary} does not wait for {needed}"
            assert action.certificates()[0].fingerprint_sha256 == action.fingerprint
        elif action.summary.startswith("restart"):
            assert action.kind == "manual" and not action.writes
            assert action.instructions, action.summary
            assert all(by_id[d].kind == "cert.install" and by_id[d].node == action.node for d in action.depends_on)
            assert action.depends_on, "a restart must follow its install"
        else:
            assert action.kind == "manual" and not action.writes and action.instructions
            assert codes and all(c.startswith("MRA0") for c in codes), action.reasons
    # Phases in order in the plan itself.
    assert [a.phase for a in the_plan.actions] == sorted(a.phase for a in the_plan.actions)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_plan_apply_replan(scenario: str, make_deployment: Callable[..., Any],
                                    lab_connections: Callable[..., Session]) -> None:
    deployment = make_deployment(scenario, OVERRIDES.get(scenario))
    expected = Expected(deployment.path)
    inventory = expected.inventory
    state_before = LabState.load(inventory.lab_state_dir)
    connections = lab_connections(deployment.path)
    lab = connections.lab
    assert lab is not None

    first = plan(inventory, connections=connections)
    check_plan(scenario, first, expected, state_before)
    assert first.has_changes
    # Deterministic: planning again from the same state gives the same actions, ids and order.
    again_dict, first_dict = plan(inventory, connections=connections).to_dict(), first.to_dict()
    assert {**again_dict, "created_at": None} == {**first_dict, "created_at": None}

    writes_before = len(lab.writes())
    result = apply(first, inventory, connections=connections)
    writes = lab.writes()[writes_before:]
    writing = [a for a in first.actions if a.writes]
    # One request per change: no retry, no duplicate (no faults in this lab).
    assert len(writes) == len(writing), writes
    assert all(e["status"] in (200, 201) for e in writes), writes
    statuses = {r.action_id: r.status for r in result.results}
    assert set(statuses) == {a.id for a in first.actions}
    for action in first.actions:
        assert statuses[action.id] == ("manual" if action.kind == "manual" else "changed"), action.summary
    assert len(result.verification) == EXAMPLE_RELATIONS
    broken = {(c.validator, c.subject, c.kind, c.reason) for c in result.verification if not c.valid}
    if scenario == "self-signed-cucm":
        # Until the manual re-issue is done, the Expressway-C can validate only one of cucm-sub1's two
        # self-signed certificates (the higher in its list): verification says so, and apply fails.
        assert {(v, s, r) for v, s, _, r in broken} == {(c, SUB, "shadowed_by_same_subject") for c in CONTROL}
        assert result.failed
    else:
        assert broken == set()
        assert not result.failed, result.to_dict()

    # What the plan said is what the nodes now hold, once each.
    lists = trust_fingerprints(LabState.load(inventory.lab_state_dir))
    for action in first.actions:
        if action.kind == "trust.add":
            assert lists[(action.node, action.store or "")].count(action.fingerprint or "") == 1, action.summary
    for (node, store), fingerprints in trust_fingerprints(state_before).items():
        assert set(fingerprints) <= set(lists[(node, store)]), f"{node} {store} lost an entry"

    second = plan(inventory, connections=connections)
    assert not second.has_changes
    if scenario == "self-signed-cucm":  # only the manual step is left
        assert [key(a, second) for a in second.actions] == [SUB_REISSUE]
        assert second.summary() == "Plan: 1 manual step"
    else:
        assert second.summary() == "Plan: no changes"
        assert second.actions == ()

    writes_before = len(lab.writes())
    again = apply(second, inventory, connections=connections)
    assert lab.writes()[writes_before:] == []
    assert [r.status for r in again.results] == ["manual"] * len(second.actions)
    assert len(again.verification) == EXAMPLE_RELATIONS


def test_limit_plans_only_the_named_clusters(make_deployment: Callable[..., Any],
                                             lab_connections: Callable[..., Session]) -> None:
    deployment = make_deployment("fresh")
    inventory = load_inventory(deployment.path)
    connections = lab_connections(deployment.path)
    full = plan(inventory, connections=connections)
    for clusters in (["exp-c"], ["exp-e", "cucm-main"]):
        limited = plan(inventory, connections=connections, limit=clusters)
        assert limited.actions == tuple(a for a in full.actions if a.cluster in clusters)
        assert limited.node_fingerprints == full.node_fingerprints  # every node is still observed
