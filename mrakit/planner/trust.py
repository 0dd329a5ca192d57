"""Phase 1: every trust entry a validator lacks, added before anything that needs it."""

from __future__ import annotations

from dataclasses import replace

from mrakit.desired import NodeDesired, Reason
from mrakit.observe import NodeObservation
from mrakit.planner.draft import Draft, action_id, label
from mrakit.planner.kinds import ActionKind, Phase
from mrakit.planner.model import Action
from mrakit.planner.products import ProductPlanning


def plan_trust_additions(draft: Draft, node: NodeDesired, obs: NodeObservation, product: ProductPlanning) -> None:
    for store in sorted({t.store for t in node.trust}):
        present = {c.fingerprint_sha256 for c in obs.trust.get(store, ())}
        for entry in node.trust_in(store):
            lagging = product.lagging_copies(draft, node, store, entry.fingerprint)
            if entry.fingerprint in present and not lagging:
                continue
            if entry.fingerprint in present:
                # On the publisher but not on every subscriber: uploading it again on the publisher
                # replicates it again, and apply waits for that.
                entry = replace(entry, reasons=(*entry.reasons, Reason(
                    "MRA032", f"not on {', '.join(lagging)} yet: trust reaches the subscribers only by "
                              "replication from the publisher")))
            added_id = action_id(Phase.TRUST, ActionKind.TRUST_ADD, node.node, f"{store}|{entry.fingerprint}")
            if product.add_trust_in_place(draft, node, obs, store, entry, added_id):
                continue
            draft.added[(node.node, store, entry.fingerprint)] = added_id
            draft.actions.append(Action(
                id=added_id, phase=Phase.TRUST, kind=ActionKind.TRUST_ADD, cluster=node.cluster, node=node.node,
                product=product.product, store=store, subject=entry.subject, fingerprint=entry.fingerprint,
                pem=entry.cert.pem, reasons=entry.reasons,
                summary=f'add "{entry.cert.display_name}" to the {product.trust_list_name(store)} of '
                        f"{label(node.cluster, node.node)}"))
