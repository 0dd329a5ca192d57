"""desired derives: the inventory (+ what was observed) → the desired state of every node, each item
with its reasons. `model` holds the values, `derive` the derivation. Pure: it imports only
mrakit.inventory, mrakit.pki, mrakit.findings and mrakit.errors, reads no files and judges nothing
(mrakit.rules judges the state)."""

from mrakit.desired.derive import (
    CUCM_IDENTITY_UNITS,
    Observation,
    ca_pool,
    copies_into_client_store,
    desired_for,
    desired_state,
)
from mrakit.desired.model import (
    CALLMANAGER_TRUST,
    KIND_TEXT,
    TOMCAT_TRUST,
    TRUSTED_CA,
    BorrowedAuthority,
    CertKind,
    DesiredState,
    DesiredTrust,
    NodeDesired,
    NodeTrust,
    ObservedCertificates,
    Reason,
    RequiredSan,
    Store,
    TrustRelation,
    UnresolvedChain,
    short_name,
)

__all__ = [
    "CALLMANAGER_TRUST",
    "CUCM_IDENTITY_UNITS",
    "KIND_TEXT",
    "TOMCAT_TRUST",
    "TRUSTED_CA",
    "BorrowedAuthority",
    "CertKind",
    "DesiredState",
    "DesiredTrust",
    "NodeDesired",
    "NodeTrust",
    "Observation",
    "ObservedCertificates",
    "Reason",
    "RequiredSan",
    "Store",
    "TrustRelation",
    "UnresolvedChain",
    "ca_pool",
    "copies_into_client_store",
    "desired_for",
    "desired_state",
    "short_name",
]
