"""CUCM's own certificates: the CallManager identity's EKUs under secure registration (MRA002), the
validity of every identity (MRA007), and CUCM's one trust certificate per subject name (CUCM002)."""

from __future__ import annotations

from mrakit.desired import DesiredTrust
from mrakit.findings import Finding, Severity
from mrakit.inventory.model import CucmCluster
from mrakit.pki.certview import CertView
from mrakit.rules.certificate import check_validity
from mrakit.rules.context import CheckContext


def check_cucm_certificates(ctx: CheckContext) -> list[Finding]:
    findings: list[Finding] = []
    for cucm in ctx.inventory.cucm.values():
        findings += _callmanager_ekus(ctx, cucm)
        for node in cucm.nodes:
            for chain in ctx.known(node.fqdn).values():
                findings += [f.located(cluster=cucm.name, node=node.fqdn)
                             for f in check_validity(chain[0], ctx.at, ctx.inventory.defaults.renewal_window_days)]
    return findings


def _callmanager_ekus(ctx: CheckContext, cucm: CucmCluster) -> list[Finding]:
    findings: list[Finding] = []
    reported: set[str] = set()  # a multi-server certificate is one certificate: reported once
    for node in cucm.nodes:
        callmanager = ctx.known(node.fqdn).get("callmanager")
        if not callmanager or not cucm.secure_registration or callmanager[0].fingerprint_sha256 in reported:
            continue
        cert = callmanager[0]
        reported.add(cert.fingerprint_sha256)
        missing = [e for e in ("serverAuth", "clientAuth") if not cert.allows_purpose(e)]
        if missing:
            x15_5 = any(c.version.at_least("X15.5") for c in ctx.inventory.controls_fronting(cucm))
            checking = ("; from X15.5 Expressway-C checks inbound SIP TLS peers for clientAuth (xConfiguration "
                        "SIP TLS Certificate ExtendedKeyUsage Checking Mode, default On), so CUCM's SIP "
                        "connections to C fail" if x15_5 and "clientAuth" in missing else "")
            findings.append(Finding(
                "MRA002", Severity.ERROR if checking else Severity.WARNING,
                f'{node.fqdn}\'s CallManager certificate "{cert.display_name}" lacks {" and ".join(missing)}; '
                f"secure registration makes CUCM a TLS client towards Expressway-C too{checking}",
                fix="re-issue the CallManager certificate with both EKUs"
                + (" (or, as a stopgap, turn the SIP TLS EKU checking mode off on C)" if checking else ""),
                cluster=cucm.name, node=node.fqdn,
                evidence={"fingerprint_sha256": cert.fingerprint_sha256, "ekus": list(cert.ekus)}))
    return findings


def check_cucm_same_name(ctx: CheckContext) -> list[Finding]:
    """CUCM keeps one trust certificate per subject name (a same-name upload replaces the entry when
    it starts later): two needed CAs of one name cannot both be there."""
    findings: list[Finding] = []
    for cucm in ctx.inventory.cucm.values():
        node = ctx.desired_node(cucm.publisher.fqdn)
        if node is not None:
            findings += [f.located(cluster=cucm.name, node=node.node) for f in _same_name(node.trust)]
    return findings


def _same_name(trust: tuple[DesiredTrust, ...]) -> list[Finding]:
    findings = []
    by_subject: dict[tuple[str, str], list[DesiredTrust]] = {}
    for entry in trust:
        by_subject.setdefault((entry.store, entry.subject), []).append(entry)
    for (store, subject), entries in by_subject.items():
        if len(entries) < 2:
            continue
        kept = max(entries, key=lambda e: e.cert.not_before)
        lost = sorted({f for e in entries if e is not kept for f in e.features})
        findings.append(Finding(
            "CUCM002", Severity.ERROR,
            f"{len(entries)} certificates with subject {subject!r} are needed in {store}, but CUCM keeps one "
            f"certificate per name (the one that starts latest, {kept.fingerprint[:16]}…), so "
            f"{', '.join(lost) or 'the others'} will fail",
            fix="re-issue what the older CA signed from the newer one (a CA renewed under its old name cannot "
            "sit beside the old one on CUCM), or give the new CA a new name",
            evidence={"store": store, "fingerprints": [e.fingerprint for e in entries]}))
    return findings


def same_name_replaced(cluster: str, node: str, where: str, why: str, old: CertView, new: CertView,
                       store: str) -> Finding:
    """CUCM002 as plan reports it: a planned upload replaces a same-name CA on every node of the cluster."""
    return Finding(
        "CUCM002", Severity.WARNING, f"{where}: {why}",
        fix="plan the certificates signed by the old CA to be re-issued by the new one in the same change",
        cluster=cluster, node=node,
        evidence={"replaced": old.fingerprint_sha256, "by": new.fingerprint_sha256, "store": store})
