"""Planning for CUCM: trust replicated from the publisher, one trust entry per subject name,
identity installs per server (multi-server on the publisher), restarts of the services, and no
certificate REST API before version 14."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from mrakit.adapters.base import CUCM_SERVICE_OF_KIND
from mrakit.desired import DesiredTrust, NodeDesired, Reason, short_name
from mrakit.inventory.model import CertificateFile, CucmCluster, CucmNode
from mrakit.observe import NodeObservation
from mrakit.pki.certview import CertView
from mrakit.planner.draft import Draft, action_id, label, replaces
from mrakit.planner.kinds import ActionKind, Phase, Product
from mrakit.planner.model import Action
from mrakit.planner.products import ProductPlanning
from mrakit.planner.renewal import keeps_newer
from mrakit.rules.cucm import same_name_replaced


def _readable_servers(draft: Draft) -> Iterator[tuple[CucmCluster, CucmNode, NodeObservation]]:
    """Every server of the clusters in scope that could be read, with what was read."""
    for cucm in draft.inventory.cucm.values():
        if draft.in_scope(cucm.name):
            for server in cucm.nodes:
                obs = draft.readable(server.fqdn)
                if obs is not None:
                    yield cucm, server, obs


class CucmPlanning(ProductPlanning):
    product = Product.CUCM

    def lagging_copies(self, draft: Draft, node: NodeDesired, store: str, fingerprint: str) -> list[str]:
        """Subscribers that can be read and do not hold an entry their publisher has: trust that did
        not replicate (a replication that timed out, say)."""
        lagging = []
        for subscriber in draft.inventory.cucm[node.cluster].subscribers:
            obs = draft.readable(subscriber.fqdn)
            if obs is not None and obs.trust_readable and fingerprint not in {
                    c.fingerprint_sha256 for c in obs.trust.get(store, ())}:
                lagging.append(subscriber.fqdn)
        return lagging

    def add_trust_in_place(self, draft: Draft, node: NodeDesired, obs: NodeObservation, store: str,
                           entry: DesiredTrust, added_id: str) -> bool:
        """CUCM keeps one trust certificate per subject name: a same-name upload replaces the entry when
        it starts later and is not stored otherwise. A CA renewed under its old name therefore cannot sit
        beside the old one (no make-before-break on CUCM): the replacement is planned after every other
        trust addition, and said so; an upload CUCM would not store is a manual step."""
        same_name = [c for c in obs.trust.get(store, ())
                     if c.subject_name == entry.cert.subject_name and c != entry.cert]
        if not same_name:
            return False
        old, new, where = same_name[0], entry.cert, label(node.cluster, node.node)
        if new.not_before > old.not_before:
            why = (f'CUCM keeps one certificate per name: this replaces "{old.display_name}" (valid from '
                   f"{old.not_before:%Y-%m-%d %H:%M:%S}Z, {old.fingerprint_sha256[:16]}…) in {store} on every node "
                   f"of {node.cluster}; what is still signed by the old CA stops validating there until it is "
                   "re-issued (installs in phase 2)")
            draft.added[(node.node, store, entry.fingerprint)] = added_id
            draft.replacing.add(added_id)
            draft.actions.append(Action(
                id=added_id, phase=Phase.TRUST, kind=ActionKind.TRUST_ADD, cluster=node.cluster, node=node.node,
                product=self.product, store=store, subject=entry.subject, fingerprint=entry.fingerprint,
                pem=new.pem, reasons=(*entry.reasons, Reason("CUCM002", why)),
                summary=f'replace "{old.display_name}" with the newer "{new.display_name}" (valid from '
                        f"{new.not_before:%Y-%m-%d}) in the {store} of {where}"))
            draft.findings.append(same_name_replaced(node.cluster, node.node, where, why, old, new, store))
            return True
        manual_id = action_id(Phase.TRUST, ActionKind.MANUAL, node.node, f"{store}|{entry.fingerprint}")
        draft.added[(node.node, store, entry.fingerprint)] = manual_id
        draft.actions.append(Action(
            id=manual_id, phase=Phase.TRUST, kind=ActionKind.MANUAL, cluster=node.cluster, node=node.node,
            product=self.product, store=store, subject=entry.subject, fingerprint=entry.fingerprint,
            reasons=(*entry.reasons, Reason(
                "CUCM002", f'{store} already holds "{old.display_name}" of the same name, valid from '
                           f"{old.not_before:%Y-%m-%d %H:%M:%S}Z, no earlier than this one: CUCM would accept the "
                           "upload and not store it")),
            summary=f'add "{new.display_name}" to the {store} of {where} by hand, after removing the same-name entry',
            instructions=(f"On {node.node}: delete the {store} entry {old.subject!r} (SHA-256 "
                          f"{old.fingerprint_sha256}) with `set cert delete {store.replace('-trust', '')} <file>` "
                          "(CLI; REST path unverified), then upload the certificate below to "
                          f"{store}; what the old entry validated fails until then.")))
        return True

    def installs(self, draft: Draft) -> None:
        """Identity installs on the server they are about (the platform API is per server); a
        multi-server certificate once, on the publisher, which distributes it. Each waits for the
        chain in that server's own trust unit (CUCM001: CUCM refuses the install otherwise)."""
        for cucm, server, obs in _readable_servers(draft):
            for kind, cert_file in cucm.certificates_of(server).items():
                multi = cucm.multi_server(kind, server)
                if multi and server is not cucm.publisher:
                    continue
                self.install(draft, cucm, server.fqdn, kind, cert_file, obs, multi)

    def install(self, draft: Draft, cucm: CucmCluster, fqdn: str, kind: str, cert_file: CertificateFile,
                obs: NodeObservation, multi: bool) -> None:
        current = obs.certificates.get(kind, ())
        if (current and current[0] == cert_file.leaf) or keeps_newer(draft, cucm.name, fqdn, kind, current,
                                                                     cert_file):
            return
        service = CUCM_SERVICE_OF_KIND[kind]
        rest = cucm.version.major >= 14
        what = "multi-server " if multi else ""
        install = draft.cert_action(
            cucm.name, fqdn, self.product, kind, cert_file, ActionKind.CERT_INSTALL if rest else ActionKind.MANUAL,
            f"install {cert_file.path.name} as the {what}{service} identity of {label(cucm.name, fqdn)}"
            + ("" if rest else " by hand (CUCM before 14 has no certificate REST API)"),
            reasons=(Reason("inventory", f"the desired {service} certificate is {cert_file.path.name}"),
                     *replaces(current)),
            depends_on=draft.prerequisites(fqdn, kind),
            instructions="" if rest else f"On {fqdn}: OS Administration > Certificate Management > "
            f"Upload Certificate ({service}), after the trust additions of phase 1 are in place.")
        where = [n.fqdn for n in cucm.nodes] if multi else [fqdn]
        restart = "Cisco Tomcat" if kind.startswith("tomcat") else "Cisco CallManager and Cisco TFTP"
        draft.manual(cucm.name, fqdn, self.product, f"restart {restart} on {', '.join(short_name(n) for n in where)}",
                     f"On {' and on '.join(where)}: utils service restart {restart} (CLI).",
                     detail=f"restart|{kind}", depends_on=(install.id,))

    def after_installs(self, draft: Draft) -> None:
        """A CUCM node on self-signed tomcat and CallManager certificates of one subject cannot serve
        both TLS Verify and secure registration through an Expressway (MRA022): a manual re-issue."""
        replaced = {(a.node, a.certificate_kind) for a in draft.actions if a.kind == ActionKind.CERT_INSTALL}
        for cucm, node, obs in _readable_servers(draft):
            tomcat, callmanager = obs.certificates.get("tomcat", ()), obs.certificates.get("callmanager", ())
            if not tomcat or not callmanager or (node.fqdn, "tomcat") in replaced:
                continue
            if not (tomcat[0].self_signed and callmanager[0].self_signed
                    and tomcat[0].subject_name == callmanager[0].subject_name):
                continue
            draft.actions.append(Action(
                id=action_id(Phase.CERTS, ActionKind.MANUAL, node.fqdn, "self-signed-pair"), phase=Phase.CERTS,
                kind=ActionKind.MANUAL, cluster=cucm.name, node=node.fqdn, product=self.product,
                summary=f"CA-sign the tomcat and CallManager certificates of {label(cucm.name, node.fqdn)}",
                reasons=(Reason("MRA022", f"{node.fqdn}'s self-signed tomcat and CallManager certificates share "
                                          f"the subject {tomcat[0].subject!r}: an Expressway-C uses whichever "
                                          "is higher in its list, so TLS Verify or secure registration fails"),),
                instructions=(f"On {node.fqdn}: generate tomcat and CallManager CSRs (`mrakit csr --cucm tomcat "
                              "--cucm callmanager` for the publisher, OS Administration > Certificate Management "
                              "on the others), have a CA sign them, install them, restart Cisco Tomcat and Cisco "
                              "CallManager, then remove the self-signed entries from the Expressway-C trust "
                              "lists.")))

    def prunable_store(self, node: NodeDesired, store: str) -> bool:
        return store in {t.store for t in node.trust}

    def never_removed(self, draft: Draft, node: NodeDesired) -> set[str]:
        """A CUCM cluster's own identity certificates sit in its trust units: never prune them."""
        own: set[str] = set()
        for member in draft.inventory.cucm[node.cluster].nodes:
            obs = draft.readable(member.fqdn)
            for chain in obs.certificates.values() if obs is not None else ():
                own.update(c.fingerprint_sha256 for c in chain)
        return own

    def delete_by_hand(self, node: NodeDesired, store: str, cert: CertView) -> str:
        return (f"On {node.node}, CLI: set cert delete {store.replace('-trust', '')} <file name> (REST path "
                f"unverified): subject {cert.subject!r}, SHA-256 {cert.fingerprint_sha256} (a REST delete is listed "
                "by Cisco, but its path is unverified).")

    def finish(self, draft: Draft) -> None:
        """CUCM before 14 has no certificate REST API: its trust additions become manual steps."""
        for cucm in draft.inventory.cucm.values():
            if cucm.version.major >= 14 or not draft.in_scope(cucm.name):
                continue
            for action in [a for a in draft.actions
                           if a.node == cucm.publisher.fqdn and a.kind == ActionKind.TRUST_ADD]:
                # Same id: the installs that wait for this trust keep pointing at it (and apply holds
                # them back while it is a manual step).
                draft.actions[draft.actions.index(action)] = replace(
                    action,
                    kind=ActionKind.MANUAL,
                    summary=action.summary + " by hand (CUCM before 14 has no certificate REST API)",
                    instructions=f"On {cucm.publisher.fqdn}: save the PEM below and run `set cert import trust "
                    f"{(action.store or '').replace('-trust', '')}` (CLI).",
                )
