"""Whether the certificate a node presents renews the one the inventory names: then mrakit keeps
it (INV001) instead of rolling the node back."""

from __future__ import annotations

import datetime as dt

from mrakit.inventory.model import CertificateFile
from mrakit.pki.certview import CertView
from mrakit.planner.draft import Draft
from mrakit.rules.topology import newer_certificate_kept


def is_renewal_of(newer: CertView, older: CertView, needed: tuple[str, ...] = ()) -> bool:
    """`newer` renews `older`: same subject and names, issued no earlier (CAs round notBefore, so the
    same second counts), valid now, and good for every purpose the node needs (`needed`, by its
    version; else every purpose `older` had). A re-issue that lost an EKU the version still needs
    (the 2026 clientAuth change before X15.4) is not a renewal to keep."""
    keeps_purposes = all(newer.allows_purpose(eku) for eku in (needed or older.ekus or ("serverAuth", "clientAuth")))
    return (
        newer.subject_name == older.subject_name
        and set(newer.dns_sans) == set(older.dns_sans)
        and (newer.not_before > older.not_before
             # The same second (CAs round notBefore) counts only for the same issuer: a move to a new
             # CA within that second is the inventory's wish, not an older certificate.
             or (newer.not_before == older.not_before and newer.issuer_name == older.issuer_name
                 and newer.authority_key_identifier == older.authority_key_identifier))
        and newer.is_valid_at(dt.datetime.now(dt.UTC))
        and keeps_purposes
    )


def keeps_newer(draft: Draft, cluster: str, node: str, kind: str, current: tuple[CertView, ...],
                cert_file: CertificateFile, needed: tuple[str, ...] = ()) -> bool:
    """Never roll a node back to an older certificate of the same identity (INV001). A certificate
    handed in for a renewal (--certificates) is what the user asked for now: it is installed."""
    if cert_file.renewal or not current or not is_renewal_of(current[0], cert_file.leaf, needed):
        return False
    draft.findings.append(newer_certificate_kept(cluster, node, kind, current[0], cert_file))
    return True
