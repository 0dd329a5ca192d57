"""An Expressway's certificates against what the node needs: the SANs it must carry (MRA010–MRA015,
MRA017) and their length (MRA006), the CN, and the EKUs its version needs (MRA001); the single
certificate checks (MRA004, MRA006, MRA007, MRA009) on the server and the X15.5 client certificate."""

from __future__ import annotations

from mrakit.desired import NodeDesired
from mrakit.findings import Finding, Severity
from mrakit.inventory.eku import client_certificate_ekus, eku_rule_text, server_certificate_ekus
from mrakit.inventory.model import ExpresswayCluster
from mrakit.pki.certview import san_field_length
from mrakit.rules.certificate import check_common_name, check_san_limit, check_validity, check_wildcard
from mrakit.rules.context import CheckContext


def check_expressway_certificates(ctx: CheckContext) -> list[Finding]:
    findings: list[Finding] = []
    for cluster in ctx.inventory.expressway.values():
        for peer in cluster.peers:
            node = ctx.desired_node(peer.fqdn)
            if node is not None:
                findings += [f.located(cluster=cluster.name, node=peer.fqdn) for f in _node(ctx, cluster, node)]
    return findings


def _node(ctx: CheckContext, cluster: ExpresswayCluster, node: NodeDesired) -> list[Finding]:
    findings: list[Finding] = []
    sans = node.required_sans
    known = ctx.known(node.node)
    chain = known.get("server")
    required_length = san_field_length(tuple(s.name for s in sans))
    if required_length > 999:
        findings.append(Finding(
            "MRA006", Severity.ERROR,
            f"the SANs this node needs take {required_length} characters; the Expressway ignores everything "
            "past 999", fix="reduce the domains, chat aliases or profiles this cluster serves",
            evidence={"san_field_length": required_length}))
    if not chain:
        return findings
    cert = chain[0]
    window = ctx.inventory.defaults.renewal_window_days
    findings += check_validity(cert, ctx.at, window) + check_wildcard(cert) + check_san_limit(cert)
    findings += check_common_name(cert)
    needed = server_certificate_ekus(cluster, has_client_certificate="client" in known)
    missing_ekus = [e for e in needed if not cert.allows_purpose(e)]
    if missing_ekus:
        findings.append(Finding(
            "MRA001", Severity.ERROR,
            f'server certificate "{cert.display_name}" lacks {" and ".join(missing_ekus)}; '
            f"{eku_rule_text(cluster)}",
            fix="have the CA sign it with both TLS Web Server and TLS Web Client Authentication, or move to a "
            "version that accepts serverAuth-only server certificates (X15.4 edge, X15.5 split)",
            evidence={"fingerprint_sha256": cert.fingerprint_sha256, "ekus": list(cert.ekus)}))
    common_name = node.common_name or ""
    if cert.common_name and cert.common_name.lower() != common_name:
        findings.append(Finding(
            "MRA015" if cluster.clustered else "MRA017", Severity.WARNING,
            f'server certificate CN is "{cert.common_name}", expected "{common_name}"',
            fix=f"request the certificate with CN = {common_name}",
            evidence={"fingerprint_sha256": cert.fingerprint_sha256}))
    present = {n.lower() for n in cert.dns_sans} - {n.lower() for n in cert.sans_beyond_limit}
    for san in sans:
        if san.name not in present:
            severity = Severity.ERROR
            if san.code == "MRA013" and not ctx.inventory.endpoints.devices_in_scope:
                severity = Severity.WARNING
            findings.append(Finding(
                san.code, severity,
                f'server certificate "{cert.display_name}" lacks SAN {san.name} ({san.why})',
                fix="build a new CSR with `mrakit csr` (it includes every required SAN) and install the "
                "signed certificate",
                evidence={"fingerprint_sha256": cert.fingerprint_sha256, "missing_san": san.name}))
    client = known.get("client")
    if client:
        absent = [e for e in client_certificate_ekus(cluster) if not client[0].allows_purpose(e)]
        if absent:
            findings.append(Finding(
                "MRA001", Severity.ERROR,
                f'client certificate "{client[0].display_name}" lacks clientAuth; the X15.5 client store '
                "refuses it", fix="have a private CA sign the client certificate with clientAuth",
                evidence={"fingerprint_sha256": client[0].fingerprint_sha256}))
        findings += check_validity(client[0], ctx.at, window)
    return findings
