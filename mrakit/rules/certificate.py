"""Checks that need nothing but one certificate: MRA001, MRA004, MRA006, MRA007, MRA009."""

from __future__ import annotations

import datetime as dt

from mrakit.findings import Finding, Severity
from mrakit.pki.certview import CLIENT_AUTH, SAN_FIELD_LIMIT, SERVER_AUTH, CertView

DEFAULT_WINDOW_DAYS = 30


def check_both_ekus(cert: CertView) -> list[Finding]:
    """MRA001: an Expressway server certificate before X15.4 carries serverAuth and clientAuth."""
    if cert.is_ca:
        return []
    missing = [eku for eku in (SERVER_AUTH, CLIENT_AUTH) if not cert.allows_purpose(eku)]
    if not missing:
        return []
    return [
        Finding(
            "MRA001",
            Severity.ERROR,
            f'"{cert.display_name}" lacks {" and ".join(missing)} (has: {", ".join(cert.ekus) or "none"}); '
            "an Expressway before X15.4 refuses it and the traversal zone needs both",
            fix="have the CA sign the CSR with a template that includes both TLS Web Server and TLS Web "
            "Client Authentication (or run X15.4+ with EnableServerEkuUpload on the edge / X15.5+ split certificates)",
            evidence={"fingerprint_sha256": cert.fingerprint_sha256, "ekus": list(cert.ekus), "missing": missing},
        )
    ]


def check_wildcard(cert: CertView) -> list[Finding]:
    """MRA004: wildcard names are not supported on an Expressway."""
    if not cert.wildcard_names:
        return []
    return [
        Finding(
            "MRA004",
            Severity.ERROR,
            f'"{cert.display_name}" has wildcard name(s) {", ".join(cert.wildcard_names)}; '
            "the Expressway does not support wildcard certificates for MRA",
            fix="request a certificate that lists the cluster FQDN, every peer FQDN and every required "
            "domain explicitly as SANs",
            evidence={"fingerprint_sha256": cert.fingerprint_sha256, "wildcards": list(cert.wildcard_names)},
        )
    ]


def check_san_limit(cert: CertView) -> list[Finding]:
    """MRA006: SANs past the first 999 characters of the SAN field are ignored."""
    ignored = cert.sans_beyond_limit
    if not ignored:
        return []
    return [
        Finding(
            "MRA006",
            Severity.ERROR,
            f'the SAN field of "{cert.display_name}" is {cert.san_field_length} characters; the Expressway '
            f"ignores everything past {SAN_FIELD_LIMIT}: {', '.join(ignored)}",
            fix="shorten the SAN list (drop names the node does not need, or split the service across "
            "clusters) so that it fits in 999 characters",
            evidence={"san_field_length": cert.san_field_length, "ignored": list(ignored)},
        )
    ]


def check_validity(cert: CertView, at: dt.datetime, window_days: int = DEFAULT_WINDOW_DAYS) -> list[Finding]:
    """MRA007: expired or not yet valid is an error; expiring within the window a warning."""
    fix = "renew it: build a CSR with `mrakit csr`, have it signed, and install it with `mrakit apply`"
    evidence = {
        "fingerprint_sha256": cert.fingerprint_sha256,
        "not_before": cert.not_before.isoformat(),
        "not_after": cert.not_after.isoformat(),
    }
    if at > cert.not_after:
        return [Finding("MRA007", Severity.ERROR,
                        f'"{cert.display_name}" expired on {cert.not_after:%Y-%m-%d}', fix, evidence=evidence)]
    if at < cert.not_before:
        return [Finding("MRA007", Severity.ERROR,
                        f'"{cert.display_name}" is not valid before {cert.not_before:%Y-%m-%d %H:%M} UTC',
                        "check the clocks (NTP) of the CA and of the nodes", evidence=evidence)]
    days = cert.days_left(at)
    if days <= window_days:
        return [Finding("MRA007", Severity.WARNING,
                        f'"{cert.display_name}" expires on {cert.not_after:%Y-%m-%d}, in {int(days)} days '
                        f"(renewal window {window_days} days)", fix, evidence=evidence)]
    return []


def check_common_name(cert: CertView) -> list[Finding]:
    """MRA009: an Expressway server certificate needs a subject CN."""
    if cert.is_ca or cert.common_name:
        return []
    return [
        Finding(
            "MRA009",
            Severity.ERROR,
            f"the certificate with subject {cert.subject!r} has no CN; MRA, Jabber Guest and the web proxy "
            "need one",
            fix="request the certificate again with CN = the cluster FQDN (or the node FQDN when not clustered)",
            evidence={"fingerprint_sha256": cert.fingerprint_sha256},
        )
    ]


def check_needed_ekus(cert: CertView, needed: tuple[str, ...], why: str) -> list[Finding]:
    """MRA001 for a given version: `cert` carries every EKU in `needed` (`why` names the version)."""
    missing = [eku for eku in needed if not cert.allows_purpose(eku)]
    if cert.is_ca or not missing:
        return []
    return [Finding(
        "MRA001", Severity.ERROR,
        f'"{cert.display_name}" lacks {" and ".join(missing)} (has: {", ".join(cert.ekus) or "none"}), which {why}',
        fix="have the CA sign the CSR with a template that includes " + " and ".join(missing),
        evidence={"fingerprint_sha256": cert.fingerprint_sha256, "ekus": list(cert.ekus), "missing": missing})]


def single_certificate_findings(
    cert: CertView, at: dt.datetime | None = None, window_days: int = DEFAULT_WINDOW_DAYS,
    needed_ekus: tuple[tuple[str, ...], str] | None = None,
) -> list[Finding]:
    """The offline findings of `mrakit cert show`: a leaf gets every check, a CA only MRA007.
    `needed_ekus` (EKUs, why) judges MRA001 for one version; without it, as before X15.4 (both)."""
    when = at or dt.datetime.now(dt.UTC)
    findings = check_validity(cert, when, window_days)
    if not cert.is_ca:
        ekus = check_needed_ekus(cert, *needed_ekus) if needed_ekus else check_both_ekus(cert)
        findings = ekus + check_wildcard(cert) + check_san_limit(cert) + findings
        findings += check_common_name(cert)
    return findings
