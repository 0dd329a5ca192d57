"""Desired vs observed → the whole plan, every action with its reasons, and what makes it unsafe.

Pure: no network, no writes, nothing raised for an unsafe plan (see safety.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from mrakit.desired import desired_for
from mrakit.inventory.model import Inventory
from mrakit.observe import ObservedState
from mrakit.planner.cucm import CucmPlanning
from mrakit.planner.draft import Draft
from mrakit.planner.expressway import ExpresswayPlanning
from mrakit.planner.holdback import hold_back_installs
from mrakit.planner.kinds import ActionKind, Product
from mrakit.planner.model import Action, Plan
from mrakit.planner.products import ProductPlanning
from mrakit.planner.prune import Pruning
from mrakit.planner.safety import install_hazards
from mrakit.planner.trust import plan_trust_additions
from mrakit.rules.context import CheckContext
from mrakit.rules.registry import PLAN_CHECKS, judge_offline, run_checks

PRODUCTS: dict[str, ProductPlanning] = {Product.EXPRESSWAY: ExpresswayPlanning(), Product.CUCM: CucmPlanning()}
_KIND_ORDER = {ActionKind.TRUST_ADD: 0, ActionKind.CERT_INSTALL: 1, ActionKind.MANUAL: 2, ActionKind.TRUST_REMOVE: 3}


def build_actions(draft: Draft) -> list[Action]:
    # Trust is worked out for every node, in scope or not: an install in scope must know what its
    # validators elsewhere still lack (hold_back_installs); out-of-scope actions are dropped there.
    for node, obs in draft.readable_nodes():
        plan_trust_additions(draft, node, obs, PRODUCTS[node.product])
    for product in PRODUCTS.values():
        product.installs(draft)
    hold_back_installs(draft, PRODUCTS)
    for product in PRODUCTS.values():
        product.after_installs(draft)
    pruning = Pruning(draft)
    for node, obs in draft.readable_nodes():
        if draft.in_scope(node.cluster):
            pruning.plan_removals(node, obs, PRODUCTS[node.product])
    for product in PRODUCTS.values():
        product.finish(draft)
    cluster_order = {name: i for i, name in enumerate([*draft.inventory.expressway, *draft.inventory.cucm])}
    node_order = {n.node: i for i, n in enumerate(draft.desired.nodes)}
    created = {a.id: index for index, a in enumerate(draft.actions)}
    # Within a node, actions keep the order they were derived in: on an Expressway the order of
    # trust entries decides which of two same-subject entries wins (MRA022).
    return sorted(
        draft.actions,
        key=lambda a: (a.phase, a.id in draft.replacing, cluster_order.get(a.cluster, 0), node_order.get(a.node, 0),
                       _KIND_ORDER[a.kind], created[a.id]),
    )


def compute_plan(
    inventory: Inventory,
    observed: ObservedState,
    *,
    limit: Sequence[str] | None = None,
    max_removal_ratio: float | None = None,
    at: dt.datetime | None = None,
) -> Plan:
    """The whole plan for `inventory` given what was observed, with its hazards as data: check it
    with `raise_if_unsafe` before applying it."""
    desired = desired_for(inventory, observed, at=at)
    draft = Draft.start(inventory, desired, observed, limit=limit, max_removal_ratio=max_removal_ratio)
    actions = build_actions(draft)
    ctx = CheckContext(inventory, desired, observed, (), desired.at)
    judged = judge_offline(ctx)
    hazards = [*draft.hazards, *install_hazards(judged, actions, PRODUCTS)]
    return Plan(
        # Absolute, so `mrakit apply PLAN.json` finds the inventory from any folder.
        inventory_path=str(Path(inventory.path).resolve()),
        inventory_sha256=inventory.sha256,
        created_at=(at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        node_fingerprints={fqdn: o.fingerprint for fqdn, o in sorted(observed.nodes.items())},
        actions=tuple(actions),
        findings=(*judged.all(), *draft.findings, *run_checks(PLAN_CHECKS, ctx)),
        unreachable={o.node: o.error or "" for o in observed.failed()},
        limit=tuple(sorted(limit)) if limit else (),
        hazards=tuple(hazards),
    )
