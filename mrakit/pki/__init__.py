"""Offline X.509 for MRA: loading, the certificate view, chain validation with OpenSSL and
Expressway semantics, keys and CSRs, and a small CA for labs and tests. No network, no global state."""

from mrakit.pki.ca import BOTH_EKUS, CertificateAuthority, Issued
from mrakit.pki.certview import (
    CLIENT_AUTH,
    SAN_FIELD_LIMIT,
    SERVER_AUTH,
    CertView,
    names_beyond_san_limit,
    san_field_length,
)
from mrakit.pki.chain import ChainReason, ChainResult, Purpose, Semantics, verify_chain
from mrakit.pki.keys import (
    build_csr,
    certificate_matches_key,
    csr_dns_names,
    csr_pem,
    generate_private_key,
    private_key_pem,
    write_private_key,
)
from mrakit.pki.load import (
    PrivateKey,
    certificates_to_pem,
    load_certificate_file,
    load_certificates,
    load_certificates_file,
    load_csr,
    load_csr_file,
    load_private_key,
    load_private_key_file,
)
from mrakit.pki.roots import load_public_roots

__all__ = [
    "BOTH_EKUS",
    "CLIENT_AUTH",
    "SAN_FIELD_LIMIT",
    "SERVER_AUTH",
    "CertView",
    "CertificateAuthority",
    "ChainReason",
    "ChainResult",
    "Issued",
    "PrivateKey",
    "Purpose",
    "Semantics",
    "build_csr",
    "certificate_matches_key",
    "certificates_to_pem",
    "csr_dns_names",
    "csr_pem",
    "generate_private_key",
    "load_certificate_file",
    "load_certificates",
    "load_certificates_file",
    "load_csr",
    "load_csr_file",
    "load_private_key",
    "load_private_key_file",
    "load_public_roots",
    "names_beyond_san_limit",
    "private_key_pem",
    "san_field_length",
    "verify_chain",
    "write_private_key",
]
