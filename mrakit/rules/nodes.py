"""Per-node checks on what nodes present: temporary certificates (MRA003), the public CA of the
edge (MRA005), CUCM by FQDN on the C (MRA034), versions (VER001 C and E paired, VER002 as reported)."""

from __future__ import annotations

import ipaddress

from mrakit.findings import Finding, Severity
from mrakit.inventory.versions import ExpresswayVersion
from mrakit.pki.certview import CertView
from mrakit.rules.context import CheckContext


def is_temporary(cert: CertView, own_trust: tuple[CertView, ...]) -> bool:
    issuer = cert.issuer.lower()
    if "temporary" in issuer:
        return True
    return any(t.self_signed and "temporary" in t.subject.lower() and cert.is_signed_by(t) for t in own_trust)


def check_temporary(ctx: CheckContext) -> list[Finding]:
    findings = []
    for cluster in ctx.inventory.expressway.values():
        for peer in cluster.peers:
            chain = ctx.presented(peer.fqdn, "server")
            obs = ctx.observation(peer.fqdn)
            own = obs.trust.get("trusted_ca", ()) if obs else ()
            leftovers = [t for t in own if t.self_signed and "temporary" in t.subject.lower()]
            if chain and not is_temporary(chain[0], own) and leftovers:
                findings.append(Finding(
                    "MRA003", Severity.WARNING,
                    f"{peer.fqdn} no longer uses its factory temporary certificate, but its temporary CA "
                    f"\"{leftovers[0].display_name}\" is still trusted",
                    fix="delete the temporary CA from the trusted CA list (Maintenance > Security > Trusted CA list), "
                    "or set prune: true and apply", cluster=cluster.name, node=peer.fqdn,
                    evidence={"fingerprint_sha256": leftovers[0].fingerprint_sha256}))
            if chain and is_temporary(chain[0], own):
                findings.append(Finding(
                    "MRA003", Severity.ERROR,
                    f"{peer.fqdn} still presents the factory temporary certificate (issuer {chain[0].issuer!r}); "
                    "MRA does not support it",
                    fix="generate a CSR on the box (`mrakit csr`), have a CA sign it, name it in the inventory and "
                    "`mrakit apply`", cluster=cluster.name, node=peer.fqdn,
                    evidence={"fingerprint_sha256": chain[0].fingerprint_sha256}))
    return findings


def _same_root(a: CertView, b: CertView) -> bool:
    return a.subject_name == b.subject_name and a.public_key_fingerprint_sha256 == b.public_key_fingerprint_sha256


def check_public_edge(ctx: CheckContext) -> list[Finding]:
    findings = []
    severity = Severity.ERROR if ctx.inventory.endpoints.devices_in_scope else Severity.WARNING
    for cluster in ctx.inventory.edge_clusters():
        for peer in cluster.peers:
            chain = ctx.presented(peer.fqdn, "server")
            if not chain:
                continue
            cas = ctx.chain_of(chain[0], chain[1:])
            root = cas[-1] if cas and cas[-1].self_signed else (chain[0] if chain[0].self_signed else None)
            if root is not None and any(_same_root(root, r) for r in ctx.phone_roots):
                continue
            ending = f'"{root.display_name}"' if root else "a root mrakit cannot find"
            findings.append(Finding(
                "MRA005", severity,
                f"{peer.fqdn}'s certificate chains to {ending}, which is not in the phones' public root bundle; "
                "7800/8800 phones and TC endpoints cannot connect (Jabber asks every user to accept it)",
                fix="have a public CA the phones trust sign the edge certificate (or pass the phones' bundle with "
                "--phone-roots if it differs from Mozilla's)",
                cluster=cluster.name, node=peer.fqdn,
                evidence={"root": root.subject if root else None}))
    return findings


def check_cucm_by_fqdn(ctx: CheckContext) -> list[Finding]:
    findings = []
    for cluster in ctx.inventory.control_clusters():
        for peer in cluster.peers:
            obs = ctx.observation(peer.fqdn)
            for server in obs.cucm_servers if obs else ():
                try:
                    ipaddress.ip_address(server)
                except ValueError:
                    continue
                findings.append(Finding(
                    "MRA034", Severity.ERROR,
                    f"{peer.fqdn} has CUCM publisher {server} configured by IP address; certificate checks "
                    "(TLS Verify) compare names", fix="configure the CUCM server on the C by its FQDN",
                    cluster=cluster.name, node=peer.fqdn, evidence={"publisher": server}))
    return findings


def check_versions(ctx: CheckContext) -> list[Finding]:
    findings = []
    for cluster in ctx.inventory.expressway.values():
        for peer in cluster.peers:
            obs = ctx.observation(peer.fqdn)
            if obs is None or not obs.version:
                continue
            try:
                reported = ExpresswayVersion.parse(obs.version)
            except ValueError:
                continue
            if reported.same_release != cluster.version.same_release:
                findings.append(Finding(
                    "VER002", Severity.WARNING,
                    f"{peer.fqdn} reports {reported}, the inventory says {cluster.version}; version rules follow "
                    "the inventory", fix="correct the inventory's version (or upgrade the node)",
                    cluster=cluster.name, node=peer.fqdn, evidence={"reported": str(reported)}))
    return findings


def check_version_pairing(ctx: CheckContext) -> list[Finding]:
    """VER001: a control cluster and its edge run one release (required from X15.5)."""
    findings = []
    for control in ctx.inventory.control_clusters():
        edge = ctx.inventory.expressway.get(control.traversal or "")
        if edge is None or edge.version.same_release == control.version.same_release:
            continue
        split = control.version.at_least("X15.5") or edge.version.at_least("X15.5")
        findings.append(Finding(
            "VER001", Severity.ERROR if split else Severity.WARNING,
            f"{control.name} runs {control.version} and its edge {edge.name} runs {edge.version}; "
            + ("from X15.5 C and E must run the same version" if split else "C and E should run one version"),
            fix="upgrade both clusters to the same release", cluster=control.name,
            evidence={"control": str(control.version), "edge": str(edge.version)}))
    return findings
