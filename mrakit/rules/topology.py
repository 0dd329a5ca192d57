"""The inventory against the deployment: drift (INV002), the peers, domains and CUCM servers the
boxes report against the ones the inventory names. mrakit derives trust and SANs from the inventory,
so a peer, domain or server it does not know about is one it does not look after; and a node that
presents a renewal of the certificate the inventory names (INV001)."""

from __future__ import annotations

from collections.abc import Iterable

from mrakit.findings import Finding, Severity
from mrakit.inventory.model import CertificateFile
from mrakit.pki.certview import CertView, utc_text
from mrakit.rules.context import CheckContext


def _difference(what: str, where: str, on_box: Iterable[str], in_inventory: Iterable[str],
                aliases: dict[str, str], cluster: str, node: str | None, source: str) -> list[Finding]:
    """One finding for each name only one side has. `aliases` maps another way the box may name an
    inventory entry (its address) to that entry."""
    box = {aliases.get(name.lower(), name.lower()) for name in on_box if name}
    inventory = {name.lower() for name in in_inventory}
    findings = []
    for name in sorted(box - inventory):
        findings.append(Finding(
            "INV002", Severity.WARNING,
            f"{where} reports {what} {name} ({source}), which the inventory does not name: mrakit does not "
            "look after it",
            fix=f"add {name} to the inventory, or remove it from the deployment", cluster=cluster, node=node,
            evidence={"on_box_only": name, "source": source}))
    for name in sorted(inventory - box):
        findings.append(Finding(
            "INV002", Severity.WARNING,
            f"the inventory names {what} {name}, but {where} does not report it ({source})",
            fix=f"remove {name} from the inventory, or configure it on the deployment", cluster=cluster, node=node,
            evidence={"inventory_only": name, "source": source}))
    return findings


def check_topology_drift(ctx: CheckContext) -> list[Finding]:
    findings: list[Finding] = []
    inventory = ctx.inventory
    for cluster in inventory.expressway.values():
        addresses = {p.address.lower(): p.fqdn for p in cluster.peers if p.address}
        for peer in cluster.peers:
            obs = ctx.observation(peer.fqdn)
            if obs is None:
                continue
            # One peer's view is the cluster's (the same configuration is on every peer): report it once.
            if obs.cluster_peers or cluster.clustered:
                findings += _difference("cluster peer", peer.fqdn, obs.cluster_peers, [p.fqdn for p in cluster.peers],
                                        addresses, cluster.name, peer.fqdn, "cluster/peers")
            if cluster.role == "control":
                findings += _difference("domain", peer.fqdn, obs.domains, cluster.domains, {}, cluster.name,
                                        peer.fqdn, "common/domain")
                publishers = [inventory.cucm[name].publisher for name in cluster.cucm]
                publisher_addresses = {p.address.lower(): p.fqdn for p in publishers if p.address}
                findings += _difference("CUCM publisher", peer.fqdn, obs.cucm_servers, [p.fqdn for p in publishers],
                                        publisher_addresses, cluster.name, peer.fqdn, "controller/server/cucm")
            break
    for cucm in inventory.cucm.values():
        obs = ctx.observation(cucm.publisher.fqdn)
        if obs is None or obs.process_nodes is None:
            continue
        findings += _difference("CUCM server", cucm.publisher.fqdn, obs.process_nodes, [n.fqdn for n in cucm.nodes],
                                {n.address.lower(): n.fqdn for n in cucm.nodes if n.address}, cucm.name,
                                cucm.publisher.fqdn, "AXL listProcessNode, call-processing nodes")
    return findings


def newer_certificate_kept(cluster: str, node: str, kind: str, installed: CertView,
                           cert_file: CertificateFile) -> Finding:
    """INV001: the node presents a renewal of the certificate the inventory names; mrakit keeps it
    (never a rollback) and says the inventory is behind."""
    return Finding(
        "INV001", Severity.WARNING,
        f"{node} presents a newer {kind} certificate (serial {installed.serial_hex}, valid from "
        f"{utc_text(installed.not_before)}) than {cert_file.path.name} names (serial {cert_file.leaf.serial_hex}, "
        f"from {utc_text(cert_file.leaf.not_before)}); mrakit keeps it",
        fix=f"update the inventory to name the installed certificate instead of {cert_file.path}",
        cluster=cluster, node=node,
        evidence={"installed": installed.fingerprint_sha256, "named": cert_file.leaf.fingerprint_sha256})
