"""Phase 4 and duplicates: entries nothing needs are removed only with `prune: true`, and only when
mrakit can prove them unused; an entry listed twice is always reported (MRA023)."""

from __future__ import annotations

import datetime as dt

from mrakit.desired import NodeDesired, Reason, TrustRelation
from mrakit.observe import NodeObservation
from mrakit.pki.certview import CertView
from mrakit.pki.chain import complete_chain
from mrakit.planner.draft import Draft, action_id, label
from mrakit.planner.kinds import ActionKind, Phase
from mrakit.planner.model import Action, Hazard
from mrakit.planner.products import ProductPlanning
from mrakit.rules.trust import duplicate_entry, no_pruning_while_unreadable

_UNUSED = "not derived by mrakit, not named in the inventory and not needed by any current or desired chain"


class Pruning:
    def __init__(self, draft: Draft) -> None:
        self.draft = draft
        self._pool: list[CertView] | None = None

    def enabled(self, node: NodeDesired, product: ProductPlanning) -> bool:
        own = product.prune_setting(self.draft, node)
        return self.draft.inventory.defaults.prune if own is None else own

    def still_needed(self, node: str) -> set[str]:
        """Fingerprints the node needs for the chains presented today or desired: never removable."""
        needed: set[str] = set()
        pool = self.needed_pool()
        now = dt.datetime.now(dt.UTC)
        desired = self.draft.desired
        for rel in desired.relations:
            if rel.validator != node:
                continue
            for chain in (self.current_chain(rel), desired.known_certificates.get(rel.subject, {}).get(rel.kind)):
                if not chain:
                    continue
                cas, _ = complete_chain(chain[0], [*chain[1:], *pool], now)
                needed.update(c.fingerprint_sha256 for c in ([chain[0]] if chain[0].self_signed else cas))
        return needed

    def needed_pool(self) -> list[CertView]:
        if self._pool is None:
            authorities = [c for a in self.draft.inventory.authorities.values() for c in a.certificates]
            self._pool = [*self.draft.observed.trust_pool(), *authorities]
        return self._pool

    def current_chain(self, rel: TrustRelation) -> tuple[CertView, ...] | None:
        obs = self.draft.readable(rel.subject)
        return obs.certificates.get(rel.kind) if obs is not None else None

    def plan_removals(self, node: NodeDesired, obs: NodeObservation, product: ProductPlanning) -> None:
        draft = self.draft
        prune = self.enabled(node, product)
        unreadable = sorted({r.subject for r in draft.desired.relations
                             if r.validator == node.node and draft.readable(r.subject) is None})
        if prune and unreadable:
            # What an unreadable node presents is unknown: nothing it might need can be proven unused.
            draft.findings.append(no_pruning_while_unreadable(node.cluster, node.node, unreadable))
            prune = False
        named = {t.fingerprint for t in node.trust}
        needed = self.still_needed(node.node) | named | product.never_removed(draft, node)
        can_remove = obs.capabilities is not None and obs.capabilities.can_remove_trust
        for store, certs in sorted(obs.trust.items()):
            if not product.prunable_store(node, store):
                continue
            seen: set[str] = set()
            to_remove: list[tuple[CertView, str]] = []
            for cert in certs:
                duplicate = cert.fingerprint_sha256 in seen
                seen.add(cert.fingerprint_sha256)
                if duplicate:
                    draft.findings.append(duplicate_entry(node.cluster, node.node, store, cert))
                    if prune:
                        to_remove.append((cert, "a duplicate entry"))
                elif prune and cert.fingerprint_sha256 not in needed:
                    to_remove.append((cert, _UNUSED))
            if to_remove and len(to_remove) > draft.max_removal_ratio * max(1, len(certs)):
                draft.hazards.append(Hazard(
                    node.node, f"the plan would remove {len(to_remove)} of {len(certs)} entries from the {store} list "
                               f"of {node.node} (more than {draft.max_removal_ratio:.0%}); review it and re-run with "
                               "--force", overridable=True))
            for cert, why in to_remove:
                detail = f"{store}|{cert.fingerprint_sha256}|{why[:9]}"
                kind = ActionKind.TRUST_REMOVE if can_remove else ActionKind.MANUAL
                draft.actions.append(Action(
                    id=action_id(Phase.PRUNE, kind, node.node, detail), phase=Phase.PRUNE, kind=kind,
                    cluster=node.cluster, node=node.node, product=product.product, store=store,
                    subject=cert.subject, fingerprint=cert.fingerprint_sha256, pem=cert.pem if can_remove else None,
                    reasons=(Reason("prune", f'"{cert.display_name}" is {why}'),),
                    summary=f'remove "{cert.display_name}" from {label(node.cluster, node.node)}'
                            + ("" if can_remove else " by hand"),
                    instructions="" if can_remove else product.delete_by_hand(node, store, cert)))
