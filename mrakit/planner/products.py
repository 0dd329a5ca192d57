"""What planning does differently per product: hooks, so the planning steps hold no `product ==`
branches. Each product's hooks live in its own module (expressway.py, cucm.py)."""

from __future__ import annotations

from mrakit.desired import DesiredTrust, NodeDesired
from mrakit.observe import NodeObservation
from mrakit.pki.certview import CertView
from mrakit.planner.draft import Draft
from mrakit.planner.kinds import Product


class ProductPlanning:
    """The defaults; a product overrides what it does differently."""

    product: Product
    chain_semantics = "openssl"  # how the product builds a chain from its trust list (pki.chain)
    guarded_installs = False  # an install is refused when the rules find an install blocker in it

    def trust_list_name(self, store: str) -> str:
        """How the product's UI names the trust store, in action summaries."""
        return store

    def lagging_copies(self, draft: Draft, node: NodeDesired, store: str, fingerprint: str) -> list[str]:
        """Other nodes that should hold this entry through the product's own replication and do not."""
        return []

    def add_trust_in_place(self, draft: Draft, node: NodeDesired, obs: NodeObservation, store: str,
                           entry: DesiredTrust, added_id: str) -> bool:
        """Plan an addition the product cannot make as a plain upload (and say True), else False."""
        return False

    def installs(self, draft: Draft) -> None:
        """Phase 2: the product's certificate installs and the steps that go with them."""

    def after_installs(self, draft: Draft) -> None:
        """Steps that depend on which installs went ahead (after held-back installs are known)."""

    def prune_setting(self, draft: Draft, node: NodeDesired) -> bool | None:
        """The cluster's own `prune:`, when the product's clusters can have one."""
        return None

    def prunable_store(self, node: NodeDesired, store: str) -> bool:
        return True

    def never_removed(self, draft: Draft, node: NodeDesired) -> set[str]:
        """Fingerprints of entries the product needs for itself, whatever the inventory says."""
        return set()

    def delete_by_hand(self, node: NodeDesired, store: str, cert: CertView) -> str:
        raise NotImplementedError

    def finish(self, draft: Draft) -> None:
        """Last rewrites of the actions the product's version cannot take over its API."""
