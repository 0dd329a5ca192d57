"""Where the desired trust's chains come from: a chain no authority, file or node completes
(MRA020, MRA021: nothing of it is uploaded), and a CA found only on the subject node (INV003)."""

from __future__ import annotations

from mrakit.findings import Finding, Severity
from mrakit.rules.context import CheckContext


def check_unresolved_chains(ctx: CheckContext) -> list[Finding]:
    findings: list[Finding] = []
    for gap in ctx.desired.unresolved:
        rel = gap.relation
        findings.append(Finding(
            # An intermediate is known but not its root: MRA021; nothing above the leaf: MRA020.
            "MRA021" if gap.found else "MRA020", Severity.ERROR,
            f"the chain of {rel.label} cannot be completed: issuer {gap.missing_issuer!r} is not known; nothing "
            f"of this chain is uploaded until it is",
            fix="add the CA certificate with that subject to `authorities` (or to the certificate file "
            "after the leaf)",
            cluster=rel.subject_cluster, node=rel.subject,
            evidence={"certificate": gap.certificate.fingerprint_sha256, "missing_issuer": gap.missing_issuer}))
    return findings


def check_borrowed_authorities(ctx: CheckContext) -> list[Finding]:
    return [Finding(
        "INV003", Severity.WARNING, f'CA "{b.ca.display_name}" is the {b.text}; mrakit plans it from there',
        fix="review it, and name it under `authorities` to pin it (or set authorities_from_nodes: false "
        "to refuse CAs found on nodes)", cluster=b.subject_cluster, node=b.subject,
        evidence={"fingerprint_sha256": b.ca.fingerprint_sha256, "subject": b.ca.subject})
        for b in ctx.desired.borrowed]
