"""Renewal outlook: what the next renewal of each public certificate will bring (OUT001/OUT002)
under the 2026–2029 public-CA changes, and whether the node's version can take it."""

from __future__ import annotations

import datetime as dt

from mrakit.findings import Finding, Severity
from mrakit.inventory.eku import server_certificate_ekus
from mrakit.pki.certview import CLIENT_AUTH, CertView
from mrakit.rules.context import CheckContext

_UTC = dt.UTC
LETS_ENCRYPT_NO_CLIENT_AUTH = dt.datetime(2026, 2, 11, tzinfo=_UTC)
ALL_PUBLIC_NO_CLIENT_AUTH = dt.datetime(2027, 3, 15, tzinfo=_UTC)
LIFETIMES = (
    (dt.datetime(2029, 3, 15, tzinfo=_UTC), 47),
    (dt.datetime(2027, 3, 15, tzinfo=_UTC), 100),
    (dt.datetime(2026, 3, 15, tzinfo=_UTC), 200),
)


def max_public_lifetime(when: dt.datetime) -> int | None:
    for start, days in LIFETIMES:
        if when >= start:
            return days
    return None


def next_renewal_drops_client_auth(cert: CertView, renewal: dt.datetime) -> bool:
    lets_encrypt = "let's encrypt" in cert.issuer.lower()
    return renewal >= ALL_PUBLIC_NO_CLIENT_AUTH or (lets_encrypt and renewal >= LETS_ENCRYPT_NO_CLIENT_AUTH)


def _is_public(ctx: CheckContext, cert: CertView, extra: tuple[CertView, ...]) -> bool:
    cas = ctx.chain_of(cert, extra)
    root = cas[-1] if cas else None
    return root is not None and any(
        root.subject_name == r.subject_name and root.public_key_fingerprint_sha256 == r.public_key_fingerprint_sha256
        for r in ctx.phone_roots
    )


def check_outlook(ctx: CheckContext) -> list[Finding]:
    findings = []
    window = dt.timedelta(days=ctx.inventory.defaults.renewal_window_days)
    for cluster in ctx.inventory.expressway.values():
        for peer in cluster.peers:
            chain = ctx.presented(peer.fqdn, "server")
            if not chain or not _is_public(ctx, chain[0], chain[1:]):
                continue
            cert = chain[0]
            renewal = max(cert.not_after - window, ctx.at)
            lifetime = max_public_lifetime(renewal)
            if lifetime is not None:
                findings.append(
                    Finding(
                        "OUT002",
                        Severity.INFO,
                        f"{peer.fqdn}: next renewal due {renewal:%Y-%m-%d}; public certificates issued then "
                        f"last at most {lifetime} days",
                        fix="automate the renewal: `mrakit csr` → CA → `mrakit apply` in a pipeline",
                        cluster=cluster.name,
                        node=peer.fqdn,
                        evidence={"renewal_due": renewal.date().isoformat(), "max_lifetime_days": lifetime},
                    )
                )
            needs_client = CLIENT_AUTH in server_certificate_ekus(
                cluster, has_client_certificate=bool(ctx.presented(peer.fqdn, "client"))
            )
            if needs_client and next_renewal_drops_client_auth(cert, renewal):
                findings.append(
                    Finding(
                        "OUT001",
                        Severity.WARNING,
                        f"{peer.fqdn}: the next public certificate (due {renewal:%Y-%m-%d}) will be "
                        f"serverAuth-only, but {cluster.role} {cluster.version} needs clientAuth on its server "
                        "certificate: that renewal will break the traversal zone",
                        fix=(
                            "before then, upgrade to X15.4 and enable EnableServerEkuUpload on the edge, or to "
                            "X15.5 with a private-CA client certificate on the C"
                            if cluster.role == "edge"
                            else "before then, move to X15.5 (separate client certificate from a private CA with "
                            "clientAuth)"
                        ),
                        cluster=cluster.name,
                        node=peer.fqdn,
                        evidence={"renewal_due": renewal.date().isoformat(), "version": str(cluster.version)},
                    )
                )
    return findings
