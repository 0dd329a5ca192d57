"""Read every node's current trust lists and certificates through the adapters, in parallel.

A node that cannot be read is recorded with its error (failures are data); the others go on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from mrakit.adapters.base import (
    CUCM_SERVICE_OF_KIND,
    CUCM_TRUST_UNITS,
    Capabilities,
    CucmApi,
    ExpresswayApi,
    PhoneSecurityProfile,
)
from mrakit.errors import MrakitError
from mrakit.inventory.model import Inventory
from mrakit.inventory.versions import CucmVersion
from mrakit.pki.certview import CertView
from mrakit.pki.keys import public_key_sha256

ProgressCallback = Callable[[str, str, str], None]  # (phase, node, message)

EXPRESSWAY_STORE = "trusted_ca"
CUCM_STORES = CUCM_TRUST_UNITS


@dataclass(frozen=True)
class NodeObservation:
    node: str
    cluster: str
    product: str
    role: str
    version: str | None = None
    trust: Mapping[str, tuple[CertView, ...]] = field(default_factory=dict)
    certificates: Mapping[str, tuple[CertView, ...]] = field(default_factory=dict)
    capabilities: Capabilities | None = None
    error: str | None = None
    pending_csr_key: str | None = None  # SHA-256 of the public key of a CSR pending on the box
    cucm_servers: tuple[str, ...] = ()  # control clusters: the CUCM publishers as configured
    trust_readable: bool = True  # False where the product has no API to read its trust (CUCM before 14)
    cluster_peers: tuple[str, ...] = ()  # Expressway: the peers the box has configured
    domains: tuple[str, ...] = ()  # Expressway: the domains the box has configured
    phone_security_profiles: tuple[PhoneSecurityProfile, ...] = ()  # CUCM publisher, through AXL
    process_nodes: tuple[str, ...] | None = None  # CUCM publisher: call-processing servers, through AXL


    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def fingerprint(self) -> str:
        """A digest of everything observed: a saved plan is stale when it changes."""
        data = {
            "version": self.version,
            "trust": {store: [c.fingerprint_sha256 for c in certs] for store, certs in sorted(self.trust.items())},
            "certificates": {k: [c.fingerprint_sha256 for c in v] for k, v in sorted(self.certificates.items())},
            "error": bool(self.error),
            "pending_csr_key": self.pending_csr_key,
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ObservedState:
    nodes: Mapping[str, NodeObservation]

    def certificates(self) -> dict[str, dict[str, list[CertView]]]:
        return {fqdn: {k: list(v) for k, v in obs.certificates.items()} for fqdn, obs in self.nodes.items()
                if obs.ok}

    def trust_pool(self) -> list[CertView]:
        """Every CA certificate seen in any node's trust list (computed once)."""
        cached: list[CertView] | None = self.__dict__.get("_trust_pool")
        if cached is not None:
            return cached
        pool: list[CertView] = []
        for obs in self.nodes.values():
            for certs in obs.trust.values():
                pool.extend(c for c in certs if c.is_ca or c.self_signed)
        result = list(dict.fromkeys(pool))
        object.__setattr__(self, "_trust_pool", result)
        return result

    def failed(self) -> list[NodeObservation]:
        return [o for o in self.nodes.values() if not o.ok]

    def node_trust(self) -> dict[str, Mapping[str, tuple[CertView, ...]]]:
        """Every readable node's trust lists by store: where a node's own issuers may be found."""
        return {fqdn: obs.trust for fqdn, obs in self.nodes.items() if obs.ok}

    def secure_profiles(self) -> dict[str, tuple[str, ...]]:
        """CUCM cluster → the secure phone security profiles in FQDN form that AXL reported (MRA012)."""
        return {obs.cluster: tuple(p.name.lower() for p in obs.phone_security_profiles if p.secure and p.fqdn_form)
                for obs in self.nodes.values() if obs.ok and obs.product == "cucm" and obs.role == "publisher"}


def observe_expressway(adapter: ExpresswayApi, cluster: str, role: str, *,
                       verification: bool = False) -> NodeObservation:
    """`verification`: read only what a trust verdict needs (trust, certificates, version); the
    pending CSR, peers, domains and CUCM servers stay empty (apply re-reads every node after writing)."""
    try:
        version = adapter.version()
        trust = adapter.trusted_cas()
        certificates = {"server": adapter.server_certificate()}
        client = adapter.client_certificate()
        if client:
            certificates["client"] = client
        pending = None if verification else adapter.pending_csr()
        cucm_servers = adapter.cucm_servers() if role == "control" and not verification else ()
        peers = () if verification else adapter.cluster_peers()
        domains = () if verification else adapter.domains()
    except MrakitError as exc:
        return NodeObservation(adapter.node, cluster, "expressway", role, error=str(exc))
    pending_key = public_key_sha256(pending.public_key()) if pending is not None else None
    return NodeObservation(adapter.node, cluster, "expressway", role, version, {EXPRESSWAY_STORE: trust},
                           certificates, adapter.capabilities, pending_csr_key=pending_key,
                           cucm_servers=cucm_servers, cluster_peers=peers, domains=domains)


def _before_14(version: str) -> bool:
    try:
        return CucmVersion.parse(version).major < 14
    except ValueError:
        return False


def observe_cucm(adapter: CucmApi, cluster: str, role: str, inventory_version: str = "", *,
                 verification: bool = False) -> NodeObservation:
    """A CUCM server through its own platform API. The publisher is also read through AXL (version,
    phone security profiles, servers); AXL is often active on the publisher alone, so a subscriber's
    version is the inventory's. `verification`: the publisher's servers are not read (no trust
    verdict uses them)."""
    profiles: tuple[PhoneSecurityProfile, ...] = ()
    process_nodes: tuple[str, ...] | None = None
    try:
        if role == "publisher":
            version = adapter.version()
            profiles = adapter.phone_security_profiles()
            process_nodes = None if verification else adapter.process_nodes()
        else:
            version = inventory_version
        if _before_14(version):
            # No certificate REST before CUCM 14: trust and identities cannot be read (AXL still answers).
            return NodeObservation(adapter.node, cluster, "cucm", role, version, {}, {},
                                   Capabilities(can_remove_trust=False, can_generate_csr=False,
                                                can_install_certificate=False), trust_readable=False,
                                   phone_security_profiles=profiles, process_nodes=process_nodes)
        trust = {store: adapter.trusted_certificates(store) for store in CUCM_STORES}
        certificates: dict[str, tuple[CertView, ...]] = {}
        for kind, service in CUCM_SERVICE_OF_KIND.items():
            try:
                chain = adapter.identity_certificate(service)
            except MrakitError as exc:
                if getattr(exc, "status", None) == 404:
                    continue  # the node has no such identity (no ECDSA certificate, say)
                raise
            if chain:
                certificates[kind] = chain
    except MrakitError as exc:
        return NodeObservation(adapter.node, cluster, "cucm", role, error=str(exc))
    return NodeObservation(adapter.node, cluster, "cucm", role, version, trust, certificates, adapter.capabilities,
                           phone_security_profiles=profiles, process_nodes=process_nodes)


def observe(
    inventory: Inventory,
    expressway: Mapping[str, ExpresswayApi],
    cucm: Mapping[str, CucmApi],
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    only: Sequence[str] | None = None,
    verification: bool = False,
) -> ObservedState:
    """Observe every node (or those in `only`) with at most `workers` in parallel. `verification`:
    only what the trust verdicts need (see `observe_expressway`, `observe_cucm`)."""
    jobs: list[tuple[str, Callable[[], NodeObservation]]] = []
    for cluster in inventory.expressway.values():
        for peer in cluster.peers:
            adapter = expressway[peer.fqdn]
            jobs.append((peer.fqdn, lambda a=adapter, c=cluster: observe_expressway(  # type: ignore[misc]
                a, c.name, c.role, verification=verification)))
    for cucm_cluster in inventory.cucm.values():
        for node in cucm_cluster.nodes:
            role = "publisher" if node is cucm_cluster.publisher else "subscriber"
            cucm_adapter = cucm[node.fqdn]
            jobs.append((node.fqdn, lambda a=cucm_adapter, c=cucm_cluster.name, r=role, v=str(cucm_cluster.version):  # type: ignore[misc]
                         observe_cucm(a, c, r, v, verification=verification)))
    if only is not None:
        wanted = set(only)
        jobs = [job for job in jobs if job[0] in wanted]

    def run(job: tuple[str, Callable[[], NodeObservation]]) -> NodeObservation:
        fqdn, call = job
        result = call()
        if progress:
            progress("observe", fqdn, "failed: " + result.error if result.error else "read")
        return result

    with ThreadPoolExecutor(max_workers=max(1, workers or inventory.defaults.workers)) as pool:
        results = list(pool.map(run, jobs))
    return ObservedState({r.node: r for r in results})
