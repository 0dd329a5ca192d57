"""What the doctor's checks look at: the inventory, the desired state, what was observed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mrakit.desired import DesiredState, TrustRelation, complete_chain
from mrakit.inventory.model import Inventory
from mrakit.observe import NodeObservation, ObservedState
from mrakit.pki.certview import CertView


@dataclass(frozen=True)
class CheckContext:
    inventory: Inventory
    desired: DesiredState
    observed: ObservedState | None
    phone_roots: tuple[CertView, ...]
    at: dt.datetime

    @property
    def online(self) -> bool:
        return self.observed is not None

    def observation(self, fqdn: str) -> NodeObservation | None:
        if self.observed is None:
            return None
        obs = self.observed.nodes.get(fqdn)
        return obs if obs is not None and obs.ok else None

    def presented(self, fqdn: str, kind: str) -> tuple[CertView, ...]:
        """The certificate a node presents now (observed), else what the inventory names."""
        obs = self.observation(fqdn)
        if obs is not None and obs.certificates.get(kind):
            return obs.certificates[kind]
        return tuple(self.desired.known_certificates.get(fqdn, {}).get(kind, ()))

    def pool(self) -> list[CertView]:
        pool = [c for a in self.inventory.authorities.values() for c in a.certificates]
        if self.observed is not None:
            pool += self.observed.trust_pool()
        for kinds in self.desired.known_certificates.values():
            for chain in kinds.values():
                pool += [c for c in chain[1:] if c.is_ca]
        return list(dict.fromkeys(pool))

    def chain_of(self, leaf: CertView, extra: tuple[CertView, ...] = ()) -> list[CertView]:
        cas, _ = complete_chain(leaf, [*extra, *self.pool()], self.at)
        return cas

    def relations_of(self, validator: str) -> list[TrustRelation]:
        return [r for r in self.desired.relations if r.validator == validator]
