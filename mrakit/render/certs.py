"""Text rendering of certificates, chain results and findings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from mrakit.findings import Finding
from mrakit.pki.certview import CertView
from mrakit.pki.chain import ChainResult


def _colon_hex(hex_digest: str) -> str:
    return ":".join(hex_digest[i : i + 2] for i in range(0, len(hex_digest), 2)).upper()


def render_certificate(cert: CertView, findings: Sequence[Finding], at: dt.datetime, title: str) -> str:
    days = cert.days_left(at)
    state = f"{int(days)} days left" if days >= 0 else f"expired {int(-days)} days ago"
    key = f"{cert.key_type} {cert.key_size or ''}".strip()
    if cert.key_curve:
        key += f" ({cert.key_curve})"
    ca = "no"
    if cert.is_ca:
        ca = "yes" + (f" (path length {cert.path_length})" if cert.path_length is not None else "")
    rows = [
        ("subject", cert.subject),
        ("issuer", cert.issuer),
        ("serial", cert.serial_hex),
        ("valid", f"{cert.not_before:%Y-%m-%d %H:%M} → {cert.not_after:%Y-%m-%d %H:%M} UTC ({state})"),
        ("sha256", _colon_hex(cert.fingerprint_sha256)),
        ("SANs", ", ".join([*cert.dns_sans, *cert.ip_sans]) or "none"),
        ("SAN length", f"{cert.san_field_length} of 999 characters"),
        ("EKUs", ", ".join(cert.ekus) if cert.has_eku_extension else "none (any purpose)"),
        ("key usage", ", ".join(cert.key_usage) or "none"),
        ("CA", ca),
        ("self-signed", "yes" if cert.self_signed else "no"),
        ("key", key),
        ("subject key id", cert.subject_key_identifier or "none"),
        ("authority key id", cert.authority_key_identifier or "none"),
    ]
    lines = [title]
    lines += [f"  {name:<17}{value}" for name, value in rows]
    if findings:
        lines.append("  findings:")
        lines += [f"    {f.severity.value.upper():<8}{f.code}  {f.message}" for f in findings]
    else:
        lines.append("  findings:        none")
    return "\n".join(lines)


def render_chain_result(result: ChainResult) -> str:
    verdict = "VALID" if result.valid else f"INVALID ({result.reason.value if result.reason else '?'})"
    lines = [f"{verdict}  [{result.semantics.value} semantics, purpose {result.purpose.value}]"]
    for depth, cert in enumerate(result.path):
        lines.append(f"  {depth}: {cert.subject}")
    rule = f" [{result.rule}]" if result.rule and not result.valid else ""
    lines.append(f"  {result.detail}{rule}")
    return "\n".join(lines)
