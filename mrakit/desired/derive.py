"""Inventory (+ the certificates known) → the desired state of every node, each item with its reasons.

A pure function: no network, no file reads (the inventory has loaded every file it names). The
derivation follows the rule book: who validates whom (a *trust relation*), and from each relation
the CA certificates (every intermediate and the root, MRA020/MRA021) the validating node must trust.
What it cannot resolve (a chain whose issuer is nowhere) is data on the state; the rules judge it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from mrakit.desired.model import (
    CALLMANAGER_TRUST,
    TOMCAT_TRUST,
    TRUSTED_CA,
    BorrowedAuthority,
    CertKind,
    DesiredState,
    DesiredTrust,
    NodeDesired,
    NodeTrust,
    ObservedCertificates,
    Reason,
    RequiredSan,
    Store,
    TrustRelation,
    UnresolvedChain,
    short_name,
)
from mrakit.inventory.model import CucmCluster, ExpresswayCluster, ExpresswayPeer, Inventory
from mrakit.pki.certview import CertView
from mrakit.pki.chain import ChainCompleter, Purpose, complete_chain


def _merge(entries: Iterable[DesiredTrust]) -> list[DesiredTrust]:
    """One entry per (store, certificate), in first-seen order, with every reason and feature."""
    merged: dict[tuple[str, str], DesiredTrust] = {}
    for entry in entries:
        key = (entry.store, entry.fingerprint)
        if key not in merged:
            merged[key] = entry
            continue
        have = merged[key]
        reasons = (*have.reasons, *(r for r in entry.reasons if r not in have.reasons))
        features = (*have.features, *(f for f in entry.features if f not in have.features))
        merged[key] = DesiredTrust(have.store, have.cert, reasons, features)
    return list(merged.values())


def copies_into_client_store(cluster: ExpresswayCluster, server: CertView) -> bool:
    """X15.5+ control peer: a server certificate with both EKUs can also be its client certificate."""
    return (cluster.role == "control" and cluster.split_client_certificate
            and server.allows_purpose("serverAuth") and server.allows_purpose("clientAuth"))


def ca_pool(inventory: Inventory, known: ObservedCertificates, *, trusted: Iterable[CertView] = (),
            extra: Iterable[CertView] = ()) -> list[CertView]:
    """The CA certificates a chain may be completed from, each once, in this order (the first of two
    equally good issuers wins): the inventory's authorities, the CAs seen in nodes' trust lists
    (`trusted`), the CAs nodes present above their leaves (`known`: fqdn → kind → chain), `extra`."""
    pool: list[CertView] = [c for authority in inventory.authorities.values() for c in authority.certificates]
    pool.extend(trusted)
    for presented in known.values():
        for chain in presented.values():
            pool.extend(c for c in chain[1:] if c.is_ca)
    pool.extend(extra)
    return list(dict.fromkeys(pool))


CUCM_IDENTITY_UNITS: Mapping[str, Store] = {"tomcat": "tomcat-trust", "tomcat_ecdsa": "tomcat-trust",
                                            "callmanager": "CallManager-trust",
                                            "callmanager_ecdsa": "CallManager-trust"}


class _Deriver:
    def __init__(self, inventory: Inventory, observed: ObservedCertificates, extra: Sequence[CertView],
                 at: dt.datetime, prefer_observed: bool = False, node_trust: NodeTrust | None = None,
                 cucm_profiles: Mapping[str, Sequence[str]] | None = None) -> None:
        self.inventory = inventory
        self.prefer_observed = prefer_observed
        self.at = at
        self.node_trust = node_trust or {}
        self.cucm_profiles = cucm_profiles or {}
        self.certs: dict[str, dict[str, tuple[CertView, ...]]] = {}
        self.collect_known(observed)
        self.pool = ca_pool(inventory, self.certs, extra=extra)
        self.completer = ChainCompleter(self.pool, at)
        self.unresolved: list[UnresolvedChain] = []
        self.borrowed: list[BorrowedAuthority] = []
        self.found_on_node: dict[tuple[str, str], dict[str, str]] = {}  # (node, leaf) -> CA fingerprint -> where

    def collect_known(self, observed: ObservedCertificates) -> None:
        """The certificates each node presents: the inventory's files win over what was observed."""
        for fqdn, kinds in observed.items():
            self.certs[fqdn] = {kind: tuple(chain) for kind, chain in kinds.items() if chain}
        if self.prefer_observed:
            snapshot = {fqdn: dict(kinds) for fqdn, kinds in self.certs.items()}
        for cluster in self.inventory.expressway.values():
            for peer in cluster.peers:
                known = self.certs.setdefault(peer.fqdn, {})
                copied = bool(known.get("client")) and known["client"][:1] == known.get("server", ())[:1]
                if peer.certificate:
                    known["server"] = peer.certificate.certificates
                if peer.client_certificate:
                    known["client"] = peer.client_certificate.certificates
                elif copied and peer.certificate and copies_into_client_store(cluster, peer.certificate.leaf):
                    # X15.5 holds a copy of the server certificate as client certificate (the upgrade made
                    # it); the route for a new one is "Upload server certificate file as client certificate".
                    known["client"] = peer.certificate.certificates
        for cucm in self.inventory.cucm.values():
            for node in cucm.nodes:
                known = self.certs.setdefault(node.fqdn, {})
                for kind, cert_file in cucm.certificates_of(node).items():
                    known[kind] = cert_file.certificates
        if self.prefer_observed:
            for fqdn, kinds in snapshot.items():
                self.certs.setdefault(fqdn, {}).update(kinds)

    # relations ---------------------------------------------------------------------------
    def relations(self) -> list[TrustRelation]:
        inv = self.inventory
        relations: list[TrustRelation] = []
        for control in inv.control_clusters():
            edge = inv.expressway[control.traversal] if control.traversal else None
            for c_peer in control.peers:
                if edge is not None:
                    for e_peer in edge.peers:
                        relations.append(TrustRelation(
                            control.name, c_peer.fqdn, TRUSTED_CA, edge.name, e_peer.fqdn, "server",
                            Purpose.SERVER, ("MRA020", "MRA023"), "traversal zone (C validates E)"))
                        relations.append(TrustRelation(
                            edge.name, e_peer.fqdn, TRUSTED_CA, control.name, c_peer.fqdn,
                            self.control_client_kind(control, c_peer), Purpose.CLIENT, ("MRA020", "MRA023"),
                            "traversal zone (E validates C)"))
                for cucm_name in control.cucm:
                    relations.extend(self.cucm_relations(control, c_peer, inv.cucm[cucm_name]))
        for cucm in inv.cucm.values():
            relations.extend(self.cucm_identity_relations(cucm))
        return relations

    def cucm_identity_relations(self, cucm: CucmCluster) -> list[TrustRelation]:
        """A CUCM server installs a CA-signed identity only once the CA chain is in its own trust unit
        (tomcat-trust for tomcat, CallManager-trust for CallManager); trust is written on the publisher."""
        relations = []
        for node in cucm.nodes:
            for kind in self.certs.get(node.fqdn, {}):
                store = CUCM_IDENTITY_UNITS.get(kind)
                if store is not None:
                    relations.append(TrustRelation(cucm.name, cucm.publisher.fqdn, store, cucm.name, node.fqdn,
                                                   kind, Purpose.SERVER, ("CUCM001",), "identity install"))  # type: ignore[arg-type]
        return relations

    def control_client_kind(self, control: ExpresswayCluster, peer: ExpresswayPeer) -> CertKind:
        if control.split_client_certificate and "client" in self.certs.get(peer.fqdn, {}):
            return "client"
        return "server"

    def cucm_relations(self, control: ExpresswayCluster, c_peer: ExpresswayPeer,
                       cucm: CucmCluster) -> list[TrustRelation]:
        relations: list[TrustRelation] = []
        both_units = control.version.at_least("X14.0.2")
        for node in cucm.nodes:
            presented = self.certs.get(node.fqdn, {})
            if not presented and node is not cucm.publisher:
                continue  # a subscriber's own certificates are known only once observed
            kinds: list[tuple[CertKind, str, str]] = []
            if cucm.tls_verify:
                kinds += [("tomcat", "MRA031", "TLS Verify"), ("tomcat_ecdsa", "MRA031", "TLS Verify")]
            if cucm.secure_registration:
                kinds += [("callmanager", "MRA031", "secure registration"),
                          ("callmanager_ecdsa", "MRA031", "secure registration")]
            for kind, code, feature in kinds:
                if kind.endswith("_ecdsa") and kind not in presented:
                    continue
                relations.append(TrustRelation(
                    control.name, c_peer.fqdn, TRUSTED_CA, cucm.name, node.fqdn, kind, Purpose.SERVER,
                    (code, "MRA033", "MRA023"), feature))
        kind = self.control_client_kind(control, c_peer)
        publisher = cucm.publisher.fqdn
        if cucm.tls_verify or both_units:
            relations.append(TrustRelation(cucm.name, publisher, TOMCAT_TRUST, control.name, c_peer.fqdn, kind,
                                           Purpose.CLIENT, ("MRA032",), "TLS Verify"))
        if cucm.secure_registration or both_units:
            # With a separate client certificate (X15.5) the server certificate is only ever a server.
            server_purpose = Purpose.SERVER if kind == "client" else Purpose.BOTH
            relations.append(TrustRelation(cucm.name, publisher, CALLMANAGER_TRUST, control.name, c_peer.fqdn,
                                           "server", server_purpose, ("MRA032",), "secure registration"))
            if kind == "client":
                relations.append(TrustRelation(cucm.name, publisher, CALLMANAGER_TRUST, control.name, c_peer.fqdn,
                                               "client", Purpose.CLIENT, ("MRA032",), "secure registration"))
        return relations

    # trust -------------------------------------------------------------------------------
    def trust_for(self, relations: Iterable[TrustRelation]) -> dict[str, list[DesiredTrust]]:
        entries: dict[str, dict[tuple[Store, str], tuple[CertView, list[Reason]]]] = {}
        features: dict[tuple[str, Store, str], list[str]] = {}
        chains: dict[tuple[str, str, tuple[str, ...]], tuple[list[CertView], str | None]] = {}
        unresolved: set[tuple[str, str, str]] = set()
        for rel in relations:
            chain = self.certs.get(rel.subject, {}).get(rel.kind)
            if not chain:
                continue  # nothing known yet: the node keeps its current certificate, observed later
            leaf = chain[0]
            # Every validator of one certificate needs the same chain: complete it once.
            cache_key = (rel.subject, leaf.fingerprint_sha256, tuple(c.fingerprint_sha256 for c in chain[1:]))
            if cache_key not in chains:
                chains[cache_key] = self.complete(rel, leaf, chain)
            cas, missing = chains[cache_key]
            cas = list(cas)
            if leaf.self_signed:
                cas, missing = [leaf], None  # a self-signed node certificate is trusted as itself (CUCM defaults)
            if missing:
                # Never half a chain: nothing of it is uploaded until its root can be found.
                if (rel.subject, rel.kind, missing) in unresolved:
                    continue
                unresolved.add((rel.subject, rel.kind, missing))
                self.unresolved.append(UnresolvedChain(rel, leaf, missing, tuple(cas)))
                continue
            node_entries = entries.setdefault(rel.validator, {})
            found_on_node = self.found_on_node.get((rel.subject, leaf.fingerprint_sha256), {})
            for position, ca in enumerate(cas):
                if ca is leaf:
                    text = f"{rel.label} is self-signed: it is its own trust anchor ({rel.feature})"
                elif position == 0:
                    text = f"it issued {rel.label} ({rel.feature})"
                elif ca.self_signed:
                    text = f"it is the root of {rel.label}'s chain ({rel.feature})"
                else:
                    text = f"it is an intermediate of {rel.label}'s chain ({rel.feature})"
                key = (rel.store, ca.fingerprint_sha256)
                _, reasons = node_entries.setdefault(key, (ca, []))
                needed_for = features.setdefault((rel.validator, *key), [])
                label = f"{rel.feature} for {rel.subject}"
                if label not in needed_for:
                    needed_for.append(label)
                primary, *others = [c for c in rel.codes if c != "MRA023"]
                also = f" [also {', '.join(others)}]" if others else ""
                candidates = [Reason(primary, f"{rel.validator_cluster}/{short_name(rel.validator)}: trust "
                                              f'"{ca.display_name}" because {text}{also}')]
                if ca.fingerprint_sha256 in found_on_node:
                    candidates.append(Reason("INV003", found_on_node[ca.fingerprint_sha256]))
                if "MRA023" in rel.codes:
                    candidates.append(Reason("MRA023", f"every peer of {rel.validator_cluster} needs it: "
                                                       "Expressway trust lists do not replicate"))
                reasons.extend(r for r in candidates if r not in reasons)
        return {node: [DesiredTrust(store, ca, tuple(reasons), tuple(features[(node, store, fp)]))
                       for (store, fp), (ca, reasons) in items.items()]
                for node, items in entries.items()}

    def complete(self, rel: TrustRelation, leaf: CertView,
                 chain: Sequence[CertView]) -> tuple[list[CertView], str | None]:
        """The CAs above `leaf` from the authorities, what the node presents and the CAs seen elsewhere;
        failing that (unless `authorities_from_nodes: false`), from the subject node's own trust stores,
        each CA found there remembered with where it was found (INV003)."""
        cas, missing = self.completer.complete(leaf, chain[1:])
        own = self.node_trust.get(rel.subject, {})
        if not missing or not own or leaf.self_signed or not self.inventory.defaults.authorities_from_nodes:
            return cas, missing
        where: dict[str, str] = {}
        for store, certs in own.items():
            for cert in certs:
                where.setdefault(cert.fingerprint_sha256, store)
        own_certs = [c for certs in own.values() for c in certs]
        cas, missing = complete_chain(leaf, [*chain[1:], *self.pool, *own_certs], self.at)
        known = {c.fingerprint_sha256 for c in [*chain[1:], *self.pool]}
        borrowed = [BorrowedAuthority(rel.subject_cluster, rel.subject, rel.kind, c, where[c.fingerprint_sha256])
                    for c in cas if c.fingerprint_sha256 not in known and c.fingerprint_sha256 in where]
        if borrowed and not missing:
            self.found_on_node[(rel.subject, leaf.fingerprint_sha256)] = {
                b.ca.fingerprint_sha256: b.text for b in borrowed}
            self.borrowed += borrowed
        return cas, missing

    def named_trust(self, cluster: ExpresswayCluster) -> list[DesiredTrust]:
        named = []
        for index, authority_name in enumerate(cluster.trust):
            for ca in self.inventory.authorities[authority_name].certificates:
                named.append(DesiredTrust(TRUSTED_CA, ca, (Reason(
                    "inventory", f"named in expressway.{cluster.name}.trust[{index}] (authority {authority_name})"),)))
        return named

    def acme_issuer_trust(self, cluster: ExpresswayCluster) -> list[DesiredTrust]:
        """A control cluster trusts every intermediate (and root) its edge's ACME CA currently issues
        from (`acme.issuers`): the edge's next renewal, by mrakit or by the box itself, may come from
        any of them, and the traversal zone must not break that day."""
        settings = self.inventory.acme.get(cluster.traversal or "") if cluster.role == "control" else None
        if settings is None:
            return []
        return [DesiredTrust(TRUSTED_CA, ca, (Reason(
            "ACME001", f"the ACME CA of {cluster.traversal} issues from it ({settings.where}.issuers): the edge's "
                       "next certificate may chain to it"),)) for ca in settings.issuer_certificates]

    # SANs ----------------------------------------------------------------------------------
    def required_sans(self, cluster: ExpresswayCluster, peer: ExpresswayPeer) -> tuple[str, list[RequiredSan]]:
        inv = self.inventory
        sans: list[RequiredSan] = []

        def need(name: str, code: str, why: str) -> None:
            if name.lower() not in {s.name for s in sans}:
                sans.append(RequiredSan(name.lower(), code, why))

        if cluster.clustered:
            common_name = cluster.cluster_fqdn
            need(cluster.cluster_fqdn, "MRA015", "the cluster FQDN")
            need(peer.fqdn, "MRA015", "this peer's FQDN")
        else:
            common_name = peer.fqdn
            need(peer.fqdn, "MRA017", "the node's FQDN (not clustered)")
            if cluster.cluster_fqdn != peer.fqdn:
                need(cluster.cluster_fqdn, "MRA015", "the cluster FQDN")
        if cluster.role == "control":
            for domain in cluster.domains:
                need(domain, "MRA010", "a domain in the C's domain list")
            for alias in cluster.chat_node_aliases:
                need(alias, "MRA011", "an XMPP persistent-chat node alias")
            for cucm_name in cluster.cucm:
                cucm = inv.cucm[cucm_name]
                if not cucm.secure_registration:
                    continue
                if cucm.phone_security_profiles is not None:
                    for profile in cucm.phone_security_profiles:
                        need(profile, "MRA012", f"a secure phone security profile on {cucm_name}")
                else:
                    for profile in self.cucm_profiles.get(cucm_name, ()):
                        need(profile, "MRA012", f"a secure phone security profile on {cucm_name} (read through AXL)")
        else:
            for control in inv.controls_of(cluster):
                for domain in control.domains:
                    name = f"collab-edge.{domain}" if cluster.san_domain_form == "collab-edge" else domain
                    need(name, "MRA013", f"a domain of {control.name}")
                for alias in control.chat_node_aliases:
                    need(alias, "MRA014", f"an XMPP persistent-chat node alias of {control.name}")
                for domain in control.federation_domains:
                    need(domain, "MRA014", f"an XMPP federation domain of {control.name}")
        return common_name, sans

    # the whole state -----------------------------------------------------------------------
    def derive(self) -> DesiredState:
        relations = self.relations()
        trust = self.trust_for(relations)
        nodes: list[NodeDesired] = []
        for cluster in self.inventory.expressway.values():
            named = [*self.named_trust(cluster), *self.acme_issuer_trust(cluster)]
            for peer in cluster.peers:
                entries = _merge([*trust.get(peer.fqdn, []), *named])
                common_name, sans = self.required_sans(cluster, peer)
                nodes.append(NodeDesired(
                    cluster.name, peer.fqdn, "expressway", cluster.role, tuple(entries), common_name, tuple(sans),
                    peer.certificate, peer.client_certificate))
        for cucm in self.inventory.cucm.values():
            entries = trust.get(cucm.publisher.fqdn, [])
            nodes.append(NodeDesired(cucm.name, cucm.publisher.fqdn, "cucm", "publisher", tuple(entries)))
        return DesiredState(
            tuple(nodes), tuple(relations),
            {fqdn: dict(kinds) for fqdn, kinds in self.certs.items()},
            tuple(self.unresolved), tuple(self.borrowed), self.at,
        )


def desired_state(
    inventory: Inventory,
    observed: ObservedCertificates | None = None,
    *,
    extra_authorities: Sequence[CertView] = (),
    at: dt.datetime | None = None,
    prefer_observed: bool = False,
    node_trust: NodeTrust | None = None,
    cucm_profiles: Mapping[str, Sequence[str]] | None = None,
) -> DesiredState:
    """The desired trust lists, required SANs and certificates of every node, each with reasons.

    `observed` supplies the certificates nodes present today (fqdn → kind → chain, leaf first) for
    peers whose certificate the inventory does not name (`prefer_observed=True`: even where it
    does, which gives the trust the deployment needs *as it is now*); `extra_authorities` adds CA
    certificates seen on the nodes that may complete a chain. `node_trust` (fqdn → store → entries, as
    observed) is where a node's own issuers are looked for when no authority has them
    (`authorities_from_nodes`), and `cucm_profiles` (CUCM cluster → secure profile names read through
    AXL) stands in for a cluster's `phone_security_profiles` when the inventory names none. Pure: no
    network, no file reads, no writes.
    """
    when = at or dt.datetime.now(dt.UTC)
    return _Deriver(inventory, observed or {}, extra_authorities, when, prefer_observed, node_trust,
                    cucm_profiles).derive()


class Observation(Protocol):
    """What the derivation takes from an observation of the deployment (`mrakit.observe.ObservedState`)."""

    def certificates(self) -> ObservedCertificates: ...

    def node_trust(self) -> NodeTrust: ...

    def secure_profiles(self) -> Mapping[str, Sequence[str]]: ...


def desired_for(inventory: Inventory, observed: Observation | None, *, as_deployed: bool = False,
                at: dt.datetime | None = None) -> DesiredState:
    """The desired state for what was observed (None: the inventory alone). `as_deployed`: the
    certificates the nodes present now win over the inventory's files, which gives the trust the
    deployment needs as it is (what `doctor` judges and `apply` verifies); otherwise the inventory's
    files win, which gives the trust the inventory asks for (what `plan` moves towards)."""
    if observed is None:
        return desired_state(inventory, at=at)
    return desired_state(inventory, observed.certificates(), node_trust=observed.node_trust(),
                         cucm_profiles=observed.secure_profiles(), prefer_observed=as_deployed, at=at)
