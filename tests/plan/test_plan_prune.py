"""Phase 4: prune only when asked, never an entry a current or desired chain needs, with a brake; on
the REST adapters (no known delete call) every removal is a manual step and apply writes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _plankit import CONTROL, EDGE, EXPC1, EXPC2, NewCa, rotate_cluster, trust_fingerprints
from mrakit_testkit import run_cli

from mrakit.applier import apply
from mrakit.errors import UnsafePlanError
from mrakit.inventory.load import load_inventory
from mrakit.lab.pki import lab_authorities
from mrakit.lab.state import LabState
from mrakit.observe import observe
from mrakit.planner import PHASE_PRUNE, compute_plan, plan, raise_if_unsafe
from mrakit.session import Session

PRUNE_C = {"expressway": {"exp-c": {"prune": True}}}


def converge(path: Any, connections: Session) -> None:
    inventory = load_inventory(path)
    assert not apply(plan(inventory, connections=connections), inventory, connections=connections).failed


@pytest.mark.parametrize("prune", [True, False], ids=["prune", "no-prune"])
def test_stray_and_duplicate_entries(make_deployment: Callable[..., Any],
                                     lab_connections: Callable[..., Session], prune: bool) -> None:
    deployment = make_deployment("missing-intermediate", PRUNE_C if prune else None)
    connections = lab_connections(deployment.path)
    lab = connections.lab
    assert lab is not None
    converge(deployment.path, connections)
    stray = NewCa.create("Stray").root.cert
    connections.expressway[EXPC1].add_trusted_ca(stray)
    duplicate = connections.expressway[EXPC2].trusted_cas()[0]
    connections.expressway[EXPC2].add_trusted_ca(duplicate)
    inventory = load_inventory(deployment.path)
    state_dir = inventory.lab_state_dir

    the_plan = plan(inventory, connections=connections)
    warnings = [f for f in the_plan.findings if f.code == "MRA023" and f.node == EXPC2]
    assert len(warnings) == 1 and duplicate.fingerprint_sha256[:16] in warnings[0].message
    if not prune:
        assert the_plan.actions == ()
        return
    removals = {(a.node, a.fingerprint): a for a in the_plan.actions}
    assert set(removals) == {(EXPC1, stray.fingerprint_sha256), (EXPC2, duplicate.fingerprint_sha256)}
    for action in removals.values():
        assert action.phase == PHASE_PRUNE and action.kind == "manual"  # the REST API cannot delete
        assert action.fingerprint and action.fingerprint in action.instructions
        assert [r.code for r in action.reasons] == ["prune"]
    assert "a duplicate entry" in removals[(EXPC2, duplicate.fingerprint_sha256)].reasons[0].text
    assert "not needed" in removals[(EXPC1, stray.fingerprint_sha256)].reasons[0].text
    assert not the_plan.has_changes and the_plan.summary() == "Plan: 2 manual steps"

    before, writes = trust_fingerprints(LabState.load(state_dir)), len(lab.writes())
    result = apply(the_plan, inventory, connections=connections)
    assert [r.status for r in result.results] == ["manual", "manual"]
    assert not result.failed
    assert lab.writes()[writes:] == []
    assert trust_fingerprints(LabState.load(state_dir)) == before


def test_removal_brake(make_deployment: Callable[..., Any], lab_connections: Callable[..., Session]) -> None:
    deployment = make_deployment("missing-intermediate", PRUNE_C)
    connections = lab_connections(deployment.path)
    converge(deployment.path, connections)
    for n in range(3):  # 3 of 7 entries (43 %) would go: over the default 30 %
        connections.expressway[EXPC1].add_trusted_ca(NewCa.create(f"Stray {n}").root.cert)
    inventory = load_inventory(deployment.path)
    with pytest.raises(UnsafePlanError, match=r"remove 3 of 7 entries .* expc1\.acme\.local .*--force"):
        plan(inventory, connections=connections)
    forced = plan(inventory, connections=connections, force=True)
    assert len([a for a in forced.actions if a.phase == PHASE_PRUNE and a.node == EXPC1]) == 3


def test_an_unsafe_plan_is_shown_then_refused(make_deployment: Callable[..., Any],
                                              lab_connections: Callable[..., Session], tmp_path: Path) -> None:
    deployment = make_deployment("missing-intermediate", PRUNE_C)
    connections = lab_connections(deployment.path)
    converge(deployment.path, connections)
    strays = [NewCa.create(f"Stray {n}").root.cert for n in range(3)]
    for stray in strays:
        connections.expressway[EXPC1].add_trusted_ca(stray)
    inventory = load_inventory(deployment.path)
    observed = observe(inventory, connections.expressway, connections.cucm)

    # Built whole: the removals are in it, and what makes it unsafe is data beside them.
    unsafe = compute_plan(inventory, observed)
    assert {a.fingerprint for a in unsafe.actions if a.phase == PHASE_PRUNE} == {s.fingerprint_sha256 for s in strays}
    assert [(h.node, h.overridable) for h in unsafe.hazards] == [(EXPC1, True)]
    with pytest.raises(UnsafePlanError, match="remove 3 of 7 entries"):
        raise_if_unsafe(unsafe)
    assert raise_if_unsafe(unsafe, force=True).hazards == ()  # accepted: apply takes it
    lab = connections.lab
    assert lab is not None
    writes = len(lab.writes())
    with pytest.raises(UnsafePlanError, match="remove 3 of 7 entries"):
        apply(unsafe, inventory, connections=connections)  # a library user skipping the check is refused too
    assert lab.writes()[writes:] == []

    saved = tmp_path / "plan.json"
    refused = run_cli("plan", "-i", str(deployment.path), "-o", str(saved), "-q")
    assert refused.code == 1
    assert refused.out.startswith("Plan: 3 manual steps")  # the plan a reviewer needs to see, printed first
    assert refused.err.strip().splitlines() == [
        f"mrakit: error: the plan would remove 3 of 7 entries from the trusted_ca list of {EXPC1} (more than 30%); "
        "review it and re-run with --force"]
    assert not saved.exists()  # refused plans are not saved for a later apply
    as_json = run_cli("plan", "-i", str(deployment.path), "--format", "json")
    assert as_json.code == 1  # one document on stdout, the error, for the script that parses it
    assert json.loads(as_json.out)["error"]["message"].startswith("the plan would remove 3 of 7 entries")
    assert run_cli("plan", "-i", str(deployment.path), "-o", str(saved), "-q", "--force").code == 0
    assert saved.exists()


def test_prune_keeps_what_the_current_chain_needs_during_a_rotation(
        make_deployment: Callable[..., Any], lab_connections: Callable[..., Session]) -> None:
    deployment = make_deployment("missing-intermediate",
                                 {**PRUNE_C, "defaults": {"max_removal_ratio": 0.5}})
    connections = lab_connections(deployment.path)
    converge(deployment.path, connections)
    cas = lab_authorities(load_inventory(deployment.path).lab_state_dir)
    old_public = {cas.public_issuing.cert.fingerprint_sha256, cas.public_root.cert.fingerprint_sha256}
    ca = NewCa.create("Prune PKI")
    rotate_cluster(deployment.path, "exp-e", ca,
                   lambda fqdn, cn, sans: connections.expressway[fqdn].generate_csr(cn, sans))
    inventory = load_inventory(deployment.path)

    during = plan(inventory, connections=connections)
    # The edge still presents the old public chain: the control peers keep trusting it.
    assert not [a for a in during.actions if a.phase == PHASE_PRUNE]
    assert not apply(during, inventory, connections=connections).failed

    after = plan(inventory, connections=connections)
    removals = {(a.node, a.fingerprint) for a in after.actions if a.phase == PHASE_PRUNE}
    assert removals == {(c, fp) for c in CONTROL for fp in old_public}
    assert not [a for a in after.actions if a.node in EDGE]
