"""`doctor`: every checkable rule of the rule book on the whole deployment, and real handshakes
beside the chain verdicts."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import ssl
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mrakit.desired import DesiredState, TrustRelation, desired_for
from mrakit.errors import MrakitError
from mrakit.findings import Finding, Severity, sort_findings
from mrakit.handshake import Proof, mutual_tls, send_own_certificate_only
from mrakit.inventory.model import Inventory
from mrakit.observe import ObservedState, observe
from mrakit.pki.certview import CertView
from mrakit.pki.chain import ChainReason, ChainResult, Purpose, complete_chain, verify_chain
from mrakit.pki.keys import certificate_matches_key, private_key_pem
from mrakit.pki.load import load_certificates_file, load_private_key_file
from mrakit.pki.roots import load_public_roots
from mrakit.rules.context import CheckContext
from mrakit.rules.handshake import check_proofs
from mrakit.rules.registry import doctor_findings
from mrakit.rules.trust import relation_verdict, relations_with_subscribers
from mrakit.session import Session, session_for

DEFAULT_PORTS = {"traversal": 7001, "sip-tls": 5061, "tomcat": 8443}


@dataclass(frozen=True)
class Report:
    findings: tuple[Finding, ...]
    proofs: tuple[Proof, ...] = ()
    mode: str = "online"
    nodes: tuple[str, ...] = ()
    summary_extra: Mapping[str, Any] = field(default_factory=dict)
    # What the findings were judged on, for `mrakit report` (not part of to_dict): every relation with
    # its chain verdict (None where it could not be judged: offline, or the validator unreadable).
    relations: tuple[tuple[TrustRelation, ChainResult | None], ...] = ()
    desired: DesiredState | None = None
    observed: ObservedState | None = None
    at: dt.datetime | None = None

    @property
    def has_errors(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings)

    def summary(self) -> dict[str, Any]:
        counts = {s.value: 0 for s in Severity}
        for finding in self.findings:
            counts[finding.severity.value] += 1
        return {"mode": self.mode, "nodes": len(self.nodes), **counts, "handshakes": len(self.proofs),
                "disagreements": sum(1 for p in self.proofs if not p.agrees), **self.summary_extra}

    def to_dict(self) -> dict[str, Any]:
        return {"findings": [f.to_dict() for f in self.findings], "summary": self.summary(),
                "proofs": [p.to_dict() for p in self.proofs]}


@dataclass(frozen=True)
class _Identity:
    fqdn: str
    certificate: CertView
    key_pem: str


class _Prover:
    """Collects identities (certificate + key) and listener addresses, then shakes hands."""

    def __init__(self, inventory: Inventory, observed: ObservedState, session: Session, at: dt.datetime) -> None:
        self.inventory = inventory
        self.observed = observed
        self.at = at
        self.session = session
        self.identities: dict[tuple[str, str], _Identity] = {}
        self.leaf_only = send_own_certificate_only(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
        self.load_identities()

    def load_identities(self) -> None:
        held = self.session.node_identities()  # the lab's nodes show theirs
        if held is not None:
            self.identities = {(fqdn, kind): _Identity(fqdn, cert, key) for (fqdn, kind), (cert, key) in held.items()}
            return
        for cluster in self.inventory.expressway.values():
            for peer in cluster.peers:
                for kind, cert_file in (("server", peer.certificate), ("client", peer.client_certificate)):
                    if cert_file is None or cert_file.key_path is None:
                        continue
                    try:
                        key = load_private_key_file(cert_file.key_path)
                    except MrakitError:
                        continue  # an encrypted or unreadable key: no proof from this identity
                    if certificate_matches_key(cert_file.leaf, key):  # a mismatch is MRA008, found elsewhere
                        self.identities[(peer.fqdn, kind)] = _Identity(peer.fqdn, cert_file.leaf,
                                                                       private_key_pem(key).decode("ascii"))

    def address(self, fqdn: str, listener: str) -> tuple[str, int] | None:
        addresses = {p.fqdn: p.address for c in self.inventory.expressway.values() for p in c.peers}
        addresses.update({n.fqdn: n.address for c in self.inventory.cucm.values() for n in c.nodes})
        return self.session.tls_address(fqdn, listener, (addresses.get(fqdn) or fqdn, DEFAULT_PORTS[listener]))

    def client_identity(self, fqdn: str) -> _Identity | None:
        return self.identities.get((fqdn, "client")) or self.identities.get((fqdn, "server"))

    def readable(self, fqdn: str) -> bool:
        obs = self.observed.nodes.get(fqdn)
        return obs is not None and obs.ok and obs.trust_readable

    def trust(self, fqdn: str, store: str) -> tuple[CertView, ...]:
        obs = self.observed.nodes.get(fqdn)
        return obs.trust.get(store, ()) if obs is not None and obs.ok else ()

    def presented(self, fqdn: str, kind: str) -> CertView | None:
        obs = self.observed.nodes.get(fqdn)
        chain = obs.certificates.get(kind) if obs is not None and obs.ok else None
        return chain[0] if chain else None

    def sent_chain(self, leaf: CertView, sender_trust: tuple[CertView, ...]) -> list[CertView]:
        """What the handshake carries with `leaf`: the leaf alone, as the products send it, where
        OpenSSL's chain completion could be turned off (send_own_certificate_only); otherwise the
        chain OpenSSL builds from the sender's own trust list. The proof compares like with like."""
        if self.leaf_only:
            return []
        cas, _ = complete_chain(leaf, list(sender_trust), dt.datetime.now(dt.UTC))
        return cas

    def verdict(self, leaf: CertView | None, sender_trust: tuple[CertView, ...], validator: str, store: str,
                purpose: Purpose) -> ChainResult | None:
        if leaf is None:
            return None
        product = self.observed.nodes[validator].product if validator in self.observed.nodes else "expressway"
        semantics = "expressway" if product == "expressway" else "openssl"  # CUCM tries every candidate
        # The handshake happens now, whatever date the findings were asked for.
        return verify_chain(leaf, self.trust(validator, store), self.sent_chain(leaf, sender_trust),
                            purpose=purpose, semantics=semantics, at=dt.datetime.now(dt.UTC))

    def plan(self) -> list[tuple[str, _Identity, str, str, str, list[ChainResult]]]:
        """(connection, client identity, server fqdn, listener, trust store of client, verdicts)."""
        jobs = []
        inv = self.inventory

        def add(connection: str, client: _Identity, client_store: str, server: str, listener: str,
                server_leaf: CertView | None, server_store: str, client_purpose: Purpose = Purpose.CLIENT) -> None:
            if not (self.readable(client.fqdn) and self.readable(server)):
                return  # a node that could not be read (or whose trust cannot be) proves nothing
            client_trust, server_trust = self.trust(client.fqdn, client_store), self.trust(server, server_store)
            verdicts = [self.verdict(server_leaf, server_trust, client.fqdn, client_store, Purpose.SERVER),
                        self.verdict(client.certificate, client_trust, server, server_store, client_purpose)]
            jobs.append((connection, client, server, listener, client_store, [v for v in verdicts if v]))

        for control in inv.control_clusters():
            edge = inv.expressway.get(control.traversal or "")
            for c_peer in control.peers:
                client = self.client_identity(c_peer.fqdn)
                if client is None:
                    continue
                for e_peer in edge.peers if edge else ():
                    add("traversal zone (C→E)", client, "trusted_ca", e_peer.fqdn, "traversal",
                        self.presented(e_peer.fqdn, "server"), "trusted_ca")
                for cucm_name in control.cucm:
                    cucm = inv.cucm[cucm_name]
                    for node in cucm.nodes:
                        if cucm.tls_verify:
                            add("TLS Verify (C→CUCM tomcat)", client, "trusted_ca", node.fqdn, "tomcat",
                                self.presented(node.fqdn, "tomcat"), "tomcat-trust")
                        if not cucm.secure_registration:
                            continue
                        add("secure registration (C→CUCM SIP TLS)", client, "trusted_ca", node.fqdn, "sip-tls",
                            self.presented(node.fqdn, "callmanager"), "CallManager-trust")
                        cucm_client = self.identities.get((node.fqdn, "callmanager"))
                        if cucm_client is not None:
                            add("secure registration (CUCM→C SIP TLS)", cucm_client, "CallManager-trust",
                                c_peer.fqdn, "sip-tls", self.presented(c_peer.fqdn, "server"), "trusted_ca")
        return jobs

    def run(self, workers: int) -> list[Proof]:
        def shake(job: tuple[str, _Identity, str, str, str, list[ChainResult]]) -> Proof | None:
            connection, client, server, listener, store, verdicts = job
            address = self.address(server, listener)
            if address is None or not verdicts:
                return None
            result = mutual_tls(address[0], address[1], server_name=server, trust=self.trust(client.fqdn, store),
                                client_certificate=client.certificate, client_key_pem=client.key_pem,
                                protocol="http" if listener == "tomcat" else "sip")
            failed = [v for v in verdicts if not v.valid]
            detail = "; ".join(v.detail for v in failed) if failed else "both directions validate"
            shadowing = any(v.reason is ChainReason.SHADOWED_BY_SAME_SUBJECT for v in failed)
            return Proof(connection, client.fqdn, server, listener, not failed, detail, result, shadowing)

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            return [p for p in pool.map(shake, self.plan()) if p is not None]


def default_phone_roots(inventory: Inventory, bundle: str | os.PathLike[str] | None) -> tuple[CertView, ...]:
    """The phones' roots: `bundle`, else certifi's; a lab inventory adds the lab's stand-in public root."""
    roots = load_public_roots(bundle)
    if bundle is None and inventory.defaults.connection == "lab":
        root_file = inventory.lab_state_dir / "ca" / "public_root.pem"
        if root_file.exists():
            roots = (*roots, *load_certificates_file(root_file))
    return roots


def doctor(
    inventory: Inventory,
    *,
    offline: bool = False,
    node: str | None = None,
    phone_roots: str | os.PathLike[str] | None = None,
    connections: Session | None = None,
    environ: Mapping[str, str] | None = None,
    workers: int | None = None,
    handshakes: bool = True,
    at: dt.datetime | None = None,
) -> Report:
    """Check every rule that can be checked. Offline: the inventory and its files only. Online
    (default): every node is read, every trust relation checked, and handshakes prove them."""
    when = at or dt.datetime.now(dt.UTC)
    roots = default_phone_roots(inventory, phone_roots)
    observed: ObservedState | None = None
    proofs: list[Proof] = []
    findings: list[Finding] = []
    with contextlib.ExitStack() as stack:
        session = None if offline else stack.enter_context(session_for(inventory, connections, environ=environ))
        if session is not None:
            observed = observe(inventory, session.expressway, session.cucm, workers=workers)
        # Online, judge what the nodes present now; offline, the files the inventory names.
        desired = desired_for(inventory, observed, as_deployed=True, at=when)
        ctx = CheckContext(inventory, desired, observed, roots, when)
        relations = [(rel, relation_verdict(ctx, rel)) for rel in relations_with_subscribers(ctx)]
        findings += doctor_findings(ctx)
        if session is not None and observed is not None and handshakes:
            proofs = _Prover(inventory, observed, session, when).run(workers or inventory.defaults.workers)
            findings += check_proofs(proofs)
    unique = list({(f.code, f.node, f.message): f for f in findings}.values())
    if node:
        unique = [f for f in unique if f.node == node]
        proofs = [p for p in proofs if node in (p.client, p.server)]
        relations = [(r, v) for r, v in relations if node in (r.validator, r.subject)]
    nodes = tuple(p.fqdn for c in inventory.expressway.values() for p in c.peers) + tuple(
        n.fqdn for c in inventory.cucm.values() for n in c.nodes)
    if node:
        nodes = tuple(n for n in nodes if n == node)  # the summary counts the node asked about, not the fleet
    return Report(tuple(sort_findings(unique)), tuple(proofs), "offline" if offline else "online", nodes,
                  relations=tuple(relations), desired=desired, observed=observed, at=when)


__all__ = ["Proof", "Report", "doctor"]
