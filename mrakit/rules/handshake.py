"""HS001: a real handshake that disagrees with the chain verdict of the same connection (doctor's
proofs; OpenSSL finds a path the Expressway does not when a same-subject entry shadows, MRA022)."""

from __future__ import annotations

from collections.abc import Iterable

from mrakit.findings import Finding, Severity
from mrakit.handshake import Proof


def check_proofs(proofs: Iterable[Proof]) -> list[Finding]:
    findings = []
    for proof in proofs:
        if proof.agrees:
            continue
        why = ("OpenSSL tries every trust entry with a matching subject; the Expressway stops at the first (MRA022)"
               if proof.shadowing else "the chain verdict and OpenSSL judge this connection differently")
        findings.append(Finding(
            "HS001", Severity.WARNING,
            f"{proof.connection} {proof.client} → {proof.server}: the chain verdict says "
            f"{'valid' if proof.chain_valid else 'invalid'} but the real handshake "
            f"{'succeeded' if proof.handshake.ok else 'failed'} ({proof.handshake.detail}); {why}",
            fix="trust the Expressway-semantics verdict: that is what the product does",
            node=proof.client, evidence=proof.to_dict()))
    return findings
