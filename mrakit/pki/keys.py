"""Key material: generate keys, match certificates to keys, build CSRs, write keys 0600."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from mrakit.errors import PkiError, printable
from mrakit.files import output_folder, write_atomic
from mrakit.pki.certview import CertView
from mrakit.pki.load import PrivateKey

RSA_SIZES = (2048, 3072, 4096)
KEY_TYPES = ("rsa2048", "rsa3072", "rsa4096", "p256", "p384")


def generate_private_key(key_type: str = "rsa2048") -> PrivateKey:
    """A new key: "rsa2048", "rsa3072", "rsa4096", "p256" or "p384"."""
    normalised = key_type.lower().replace("-", "").replace("_", "")
    if normalised.startswith("rsa"):
        try:
            size = int(normalised[3:] or "2048")
        except ValueError:
            size = 0
        if size not in RSA_SIZES:
            raise PkiError(f"unsupported RSA key size in {key_type!r}; use one of {RSA_SIZES}")
        return rsa.generate_private_key(public_exponent=65537, key_size=size)
    curves = {"p256": ec.SECP256R1(), "ec": ec.SECP256R1(), "p384": ec.SECP384R1()}
    if normalised in curves:
        return ec.generate_private_key(curves[normalised])
    raise PkiError(f"unsupported key type {key_type!r}; use one of {', '.join(KEY_TYPES)}")


def public_key_sha256(public_key: Any) -> str:
    """SHA-256 over a public key's SubjectPublicKeyInfo: how mrakit matches certificates, CSRs and
    keys (CertView.public_key_fingerprint_sha256 is the same value for a certificate)."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def public_key_fingerprint(key: PrivateKey) -> str:
    return public_key_sha256(key.public_key())


def certificate_matches_key(cert: CertView, key: PrivateKey) -> bool:
    """MRA008: the certificate's public key is the public half of `key`."""
    return cert.public_key_fingerprint_sha256 == public_key_fingerprint(key)


def private_key_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def write_private_key(path: str | os.PathLike[str], key: PrivateKey, passphrase: bytes | None = None) -> Path:
    """Write `key` as PKCS#8 PEM with mode 0600 from the first byte (never world-readable, even briefly),
    into a new file (exclusive create, no symbolic link followed) renamed over `path`: a symbolic link
    planted at `path` is replaced, its target never written."""
    target = Path(path)
    output_folder(target.parent)
    write_atomic(target, private_key_pem(key, passphrase), mode=0o600)
    return target


def build_csr(
    key: PrivateKey,
    common_name: str,
    dns_names: Sequence[str] = (),
    *,
    organization: str | None = None,
    country: str | None = None,
) -> x509.CertificateSigningRequest:
    """A PKCS#10 request with CN = `common_name` and every name of `dns_names` as a DNS SAN
    (the CN is added as a SAN too when absent, as browsers and the Expressway expect)."""
    try:  # cryptography rejects a CN over 64 characters, a country not of 2 and non-ASCII DNS names
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organization:
            attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        if country:
            attributes.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
        names = list(dict.fromkeys([common_name, *dns_names]))
        builder = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name(attributes))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        )
        return builder.sign(key, hashes.SHA256())
    except ValueError as exc:
        raise PkiError(f"cannot build CSR for {common_name}: {exc}") from None


def csr_dns_names(csr: x509.CertificateSigningRequest) -> tuple[str, ...]:
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(printable(name) for name in san.get_values_for_type(x509.DNSName))


def csr_pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
