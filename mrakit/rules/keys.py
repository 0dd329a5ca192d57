"""Private keys: each certificate the inventory names matches the key beside it (MRA008; the one
check that reads files), and the peers of a cluster do not share one key (MRA016)."""

from __future__ import annotations

from mrakit.errors import PkiError
from mrakit.findings import Finding, Severity
from mrakit.inventory.model import CertificateFile, ExpresswayPeer
from mrakit.pki.keys import certificate_matches_key
from mrakit.pki.load import load_private_key_file
from mrakit.rules.context import CheckContext


def check_keys(ctx: CheckContext) -> list[Finding]:
    findings: list[Finding] = []
    for cluster in ctx.inventory.expressway.values():
        for peer in cluster.peers:
            if peer.certificate and peer.certificate.key_path:
                findings += [f.located(cluster=cluster.name, node=peer.fqdn)
                             for f in check_key(peer.certificate, "server")]
    return findings


def check_key(cert_file: CertificateFile, kind: str) -> list[Finding]:
    assert cert_file.key_path is not None
    try:
        key = load_private_key_file(cert_file.key_path)
    except PkiError as exc:
        return [Finding("MRA008", Severity.ERROR, f"cannot use the {kind} key: {exc}",
                        fix="give the certificate's unencrypted private key (PEM or DER), readable by mrakit")]
    if certificate_matches_key(cert_file.leaf, key):
        return []
    return [Finding(
        "MRA008", Severity.ERROR,
        f"{cert_file.path.name} does not match the private key {cert_file.key_path.name}",
        fix="use the certificate that was issued for this key (or the key the CSR was built with)",
        evidence={"certificate": cert_file.leaf.fingerprint_sha256})]


def check_shared_keys(ctx: CheckContext) -> list[Finding]:
    findings: list[Finding] = []
    for cluster in ctx.inventory.expressway.values():
        by_key: dict[str, list[ExpresswayPeer]] = {}
        for peer in cluster.peers:
            chain = ctx.known(peer.fqdn).get("server")
            if chain:
                by_key.setdefault(chain[0].public_key_fingerprint_sha256, []).append(peer)
        for peers in by_key.values():
            if len(peers) > 1:
                names = ", ".join(p.fqdn for p in peers)
                findings.append(Finding(
                    "MRA016", Severity.WARNING, f"peers {names} of {cluster.name} share one private key",
                    fix="generate one CSR per peer (`mrakit csr`) so each peer has its own key",
                    cluster=cluster.name, evidence={"peers": [p.fqdn for p in peers]}))
    return findings
