"""A small certificate authority for labs and tests: roots, intermediates and leaves with chosen
EKUs, SANs, validity and key type, including the broken ones MRA troubleshooting is about."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mrakit.errors import PkiError
from mrakit.pki.certview import CLIENT_AUTH, SERVER_AUTH, CertView
from mrakit.pki.keys import generate_private_key
from mrakit.pki.load import PrivateKey

_EKU_OIDS = {SERVER_AUTH: ExtendedKeyUsageOID.SERVER_AUTH, CLIENT_AUTH: ExtendedKeyUsageOID.CLIENT_AUTH}
BOTH_EKUS: tuple[str, ...] = (SERVER_AUTH, CLIENT_AUTH)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _name(common_name: str, organization: str | None) -> x509.Name:
    attributes = []
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key (a lab never lets the key leave the machine)."""

    cert: CertView
    key: PrivateKey


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA that can issue intermediates and leaves. Create one with `create_root`."""

    cert: CertView
    key: PrivateKey

    @classmethod
    def create_root(
        cls,
        common_name: str,
        *,
        organization: str | None = None,
        key_type: str = "p256",
        not_before: dt.datetime | None = None,
        days: int = 3650,
        ekus: Sequence[str] | None = None,
    ) -> CertificateAuthority:
        """A self-signed root. `ekus` restricts it (None: no EKU extension, as most roots)."""
        key = generate_private_key(key_type)
        name = _name(common_name, organization)
        start = not_before or _utcnow() - dt.timedelta(days=1)
        builder = _ca_builder(name, name, key, key, start, days, path_length=None, ekus=ekus)
        cert = builder.sign(key, _hash_for(key))
        return cls(CertView(cert, source=f"ca:{common_name}"), key)

    def issue_intermediate(
        self,
        common_name: str,
        *,
        organization: str | None = None,
        key_type: str = "p256",
        not_before: dt.datetime | None = None,
        days: int = 1825,
        ekus: Sequence[str] | None = None,
        key: PrivateKey | None = None,
    ) -> CertificateAuthority:
        """An intermediate CA signed by this one. Pass `key` to re-issue a CA for an existing key
        (a cross-sign or a renewal)."""
        key = key or generate_private_key(key_type)
        start = not_before or _utcnow() - dt.timedelta(days=1)
        builder = _ca_builder(
            _name(common_name, organization), self.cert.subject_name, key, self.key, start, days,
            path_length=None, ekus=ekus,
        )
        cert = builder.sign(self.key, _hash_for(self.key))
        return CertificateAuthority(CertView(cert, source=f"ca:{common_name}"), key)

    def issue_leaf(
        self,
        common_name: str | None,
        dns_names: Sequence[str] = (),
        *,
        ekus: Sequence[str] = BOTH_EKUS,
        key_type: str = "p256",
        key: PrivateKey | None = None,
        not_before: dt.datetime | None = None,
        days: int = 365,
        ip_addresses: Sequence[str] = (),
        organization: str | None = None,
    ) -> Issued:
        """An end-entity certificate. `ekus=()` leaves the EKU extension out entirely;
        `common_name=None` leaves the CN out (MRA009)."""
        key = key or generate_private_key(key_type)
        start = not_before or _utcnow() - dt.timedelta(hours=1)
        try:  # cryptography rejects a CN over 64 characters, non-ASCII DNS names, bad IP addresses
            attributes = []
            if organization:
                attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
            if common_name:
                attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
            builder = self._leaf_builder(x509.Name(attributes), key.public_key(), start, days)
            names = list(dict.fromkeys(([common_name] if common_name else []) + list(dns_names)))
            general: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
            general += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
            if general:
                builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
            if ekus:
                builder = builder.add_extension(x509.ExtendedKeyUsage([_eku_oid(e) for e in ekus]), critical=False)
            cert = builder.sign(self.key, _hash_for(self.key))
        except ValueError as exc:
            raise PkiError(f"cannot issue certificate for {common_name}: {exc}") from None
        return Issued(CertView(cert, source=f"leaf:{common_name}"), key)

    def _leaf_builder(self, subject: x509.Name, public_key: Any, start: dt.datetime,
                      days: int) -> x509.CertificateBuilder:
        """An end-entity certificate issued by this CA: CA:FALSE, TLS key usage, key identifiers."""
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject_name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=True,
                    data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )

    def sign_csr(
        self,
        csr: x509.CertificateSigningRequest,
        *,
        ekus: Sequence[str] = BOTH_EKUS,
        days: int = 365,
        not_before: dt.datetime | None = None,
    ) -> CertView:
        """Sign a CSR, keeping its subject and SANs (the way a private CA signs an Expressway CSR)."""
        if not csr.is_signature_valid:
            raise PkiError("the CSR's signature does not verify: it was damaged or not signed by its key")
        start = not_before or _utcnow() - dt.timedelta(hours=1)
        builder = self._leaf_builder(csr.subject, csr.public_key(), start, days)
        try:
            san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            builder = builder.add_extension(san, critical=False)
        except x509.ExtensionNotFound:
            pass
        if ekus:
            builder = builder.add_extension(x509.ExtendedKeyUsage([_eku_oid(e) for e in ekus]), critical=False)
        return CertView(builder.sign(self.key, _hash_for(self.key)), source="signed-csr")


def _eku_oid(name: str) -> x509.ObjectIdentifier:
    if name in _EKU_OIDS:
        return _EKU_OIDS[name]
    try:
        return x509.ObjectIdentifier(name)
    except ValueError:
        raise PkiError(f"unknown EKU {name!r}: use serverAuth, clientAuth or a dotted OID") from None


def _hash_for(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None  # Ed25519 hashes internally
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def _ca_builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: PrivateKey,
    issuer_key: PrivateKey,
    start: dt.datetime,
    days: int,
    *,
    path_length: int | None,
    ekus: Sequence[str] | None,
) -> x509.CertificateBuilder:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if key is not issuer_key:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage([_eku_oid(e) for e in ekus]), critical=False)
    return builder
