"""What the checks look at: the inventory, the desired state, what was observed (None offline)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from mrakit.desired import DesiredState, NodeDesired, TrustRelation, ca_pool
from mrakit.inventory.model import Inventory
from mrakit.observe import NodeObservation, ObservedState
from mrakit.pki.certview import CertView
from mrakit.pki.chain import complete_chain


@dataclass(frozen=True)
class CheckContext:
    inventory: Inventory
    desired: DesiredState
    observed: ObservedState | None
    phone_roots: tuple[CertView, ...]
    at: dt.datetime

    @classmethod
    def offline(cls, inventory: Inventory, desired: DesiredState) -> CheckContext:
        """The inventory and its desired state alone, judged at the moment the state was derived for."""
        return cls(inventory, desired, None, (), desired.at)

    @property
    def online(self) -> bool:
        return self.observed is not None

    def observation(self, fqdn: str) -> NodeObservation | None:
        if self.observed is None:
            return None
        obs = self.observed.nodes.get(fqdn)
        return obs if obs is not None and obs.ok else None

    def known(self, fqdn: str) -> Mapping[str, tuple[CertView, ...]]:
        """The certificates a node presents as the desired state was derived from (kind → chain)."""
        return self.desired.known_certificates.get(fqdn, {})

    def desired_node(self, fqdn: str) -> NodeDesired | None:
        return self._desired_nodes.get(fqdn)

    @cached_property
    def _desired_nodes(self) -> dict[str, NodeDesired]:
        return {n.node: n for n in self.desired.nodes}

    def presented(self, fqdn: str, kind: str) -> tuple[CertView, ...]:
        """The certificate a node presents now (observed), else what the inventory names."""
        obs = self.observation(fqdn)
        if obs is not None and obs.certificates.get(kind):
            return obs.certificates[kind]
        return tuple(self.known(fqdn).get(kind, ()))

    def pool(self) -> list[CertView]:
        trusted = self.observed.trust_pool() if self.observed is not None else ()
        return ca_pool(self.inventory, self.desired.known_certificates, trusted=trusted)

    def chain_of(self, leaf: CertView, extra: tuple[CertView, ...] = ()) -> list[CertView]:
        cas, _ = complete_chain(leaf, [*extra, *self.pool()], self.at)
        return cas

    def relations_of(self, validator: str) -> list[TrustRelation]:
        return [r for r in self.desired.relations if r.validator == validator]
