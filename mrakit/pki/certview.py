"""A read-only view of one X.509 certificate with everything MRA work asks of it, computed once."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from functools import cached_property

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mrakit.errors import printable

SERVER_AUTH = "serverAuth"
CLIENT_AUTH = "clientAuth"

_EKU_NAMES: dict[x509.ObjectIdentifier, str] = {
    ExtendedKeyUsageOID.SERVER_AUTH: SERVER_AUTH,
    ExtendedKeyUsageOID.CLIENT_AUTH: CLIENT_AUTH,
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
}

_KEY_USAGE_FIELDS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)

# The Expressway shows the SAN field as OpenSSL prints it: "DNS:a.example.com, DNS:b.example.com,
# IP Address:192.0.2.1". Its 999-character limit (MRA006) is counted on that text.
SAN_FIELD_LIMIT = 999
_SAN_SEPARATOR = ", "


def san_field_entries(dns_names: tuple[str, ...], ip_addresses: tuple[str, ...] = ()) -> list[str]:
    """The SAN entries as the Expressway prints them, in certificate order (DNS first here)."""
    return [f"DNS:{name}" for name in dns_names] + [f"IP Address:{ip}" for ip in ip_addresses]


def san_field_length(dns_names: tuple[str, ...], ip_addresses: tuple[str, ...] = ()) -> int:
    """len(", ".join("DNS:<name>" ..., "IP Address:<ip>" ...)): the length the Expressway counts."""
    return len(_SAN_SEPARATOR.join(san_field_entries(dns_names, ip_addresses)))


def names_beyond_san_limit(dns_names: tuple[str, ...], limit: int = SAN_FIELD_LIMIT) -> tuple[str, ...]:
    """DNS names whose entry does not end within the first `limit` characters: ignored (MRA006)."""
    ignored: list[str] = []
    position = 0
    for index, name in enumerate(dns_names):
        entry = f"DNS:{name}"
        position += (len(_SAN_SEPARATOR) if index else 0) + len(entry)
        if position > limit:
            ignored.append(name)
    return tuple(ignored)


def utc_text(when: dt.datetime) -> str:
    """A certificate's time as mrakit shows it to a person: UTC, to the second (2026-12-01T03:20:00Z)."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _name_attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if not values:
        return None
    value = values[0].value
    return printable(value if isinstance(value, str) else value.decode("utf-8", "replace"))


def _hex(data: bytes) -> str:
    return data.hex()


@dataclass(frozen=True, eq=False)
class CertView:
    """Everything mrakit needs from one certificate. Equality and hashing are by DER fingerprint."""

    certificate: x509.Certificate
    source: str = field(default="<bytes>", compare=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CertView) and self.fingerprint_sha256 == other.fingerprint_sha256

    def __hash__(self) -> int:
        return hash(self.fingerprint_sha256)

    def __repr__(self) -> str:
        return f"CertView(subject={self.subject!r}, fingerprint={self.fingerprint_sha256[:16]}…)"

    def relabelled(self, source: str) -> CertView:
        """The same certificate read from `source`, keeping everything computed about it so far."""
        if source == self.source:
            return self
        twin = object.__new__(CertView)
        twin.__dict__.update(self.__dict__)  # the fields and the cached properties
        twin.__dict__["source"] = source
        return twin

    # identity -----------------------------------------------------------------------------
    @cached_property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @cached_property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @cached_property
    def fingerprint_sha256(self) -> str:
        """SHA-256 over the DER certificate, lowercase hex without separators."""
        return hashlib.sha256(self.der).hexdigest()

    @cached_property
    def subject(self) -> str:
        return printable(self.certificate.subject.rfc4514_string())

    @cached_property
    def issuer(self) -> str:
        return printable(self.certificate.issuer.rfc4514_string())

    # Cached: each `certificate.subject` builds the Name's Python objects again, and chain building
    # compares names pairwise across every trust list.
    @cached_property
    def subject_name(self) -> x509.Name:
        return self.certificate.subject

    @cached_property
    def issuer_name(self) -> x509.Name:
        return self.certificate.issuer

    @cached_property
    def subject_der(self) -> bytes:
        return self.certificate.subject.public_bytes()

    @cached_property
    def issuer_der(self) -> bytes:
        return self.certificate.issuer.public_bytes()

    @cached_property
    def common_name(self) -> str | None:
        return _name_attribute(self.certificate.subject, NameOID.COMMON_NAME)

    @cached_property
    def issuer_common_name(self) -> str | None:
        return _name_attribute(self.certificate.issuer, NameOID.COMMON_NAME)

    @cached_property
    def display_name(self) -> str:
        """The CN when there is one, else the full subject: what a person recognises."""
        return self.common_name or self.subject

    @cached_property
    def serial_number(self) -> int:
        return self.certificate.serial_number

    @cached_property
    def serial_hex(self) -> str:
        return format(self.certificate.serial_number, "x")

    # validity -----------------------------------------------------------------------------
    @cached_property
    def not_before(self) -> dt.datetime:
        return self.certificate.not_valid_before_utc

    @cached_property
    def not_after(self) -> dt.datetime:
        return self.certificate.not_valid_after_utc

    def is_valid_at(self, when: dt.datetime) -> bool:
        return self.not_before <= when <= self.not_after

    def days_left(self, when: dt.datetime) -> float:
        return (self.not_after - when).total_seconds() / 86400

    @cached_property
    def lifetime_days(self) -> float:
        return (self.not_after - self.not_before).total_seconds() / 86400

    # extensions ---------------------------------------------------------------------------
    def _extension(self, ext_type: type[x509.ExtensionType]) -> x509.ExtensionType | None:
        try:
            return self.certificate.extensions.get_extension_for_class(ext_type).value
        except x509.ExtensionNotFound:
            return None

    @cached_property
    def dns_sans(self) -> tuple[str, ...]:
        san = self._extension(x509.SubjectAlternativeName)
        if not isinstance(san, x509.SubjectAlternativeName):
            return ()
        return tuple(printable(name) for name in san.get_values_for_type(x509.DNSName))

    @cached_property
    def ip_sans(self) -> tuple[str, ...]:
        san = self._extension(x509.SubjectAlternativeName)
        if not isinstance(san, x509.SubjectAlternativeName):
            return ()
        return tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))

    @cached_property
    def san_field_length(self) -> int:
        """Characters in the SAN field as the Expressway counts it; see `san_field_length()`."""
        return san_field_length(self.dns_sans, self.ip_sans)

    @cached_property
    def sans_beyond_limit(self) -> tuple[str, ...]:
        return names_beyond_san_limit(self.dns_sans)

    @cached_property
    def wildcard_names(self) -> tuple[str, ...]:
        names = list(self.dns_sans)
        if self.common_name:
            names.insert(0, self.common_name)
        return tuple(dict.fromkeys(n for n in names if "*" in n))

    @cached_property
    def has_eku_extension(self) -> bool:
        return self._extension(x509.ExtendedKeyUsage) is not None

    @cached_property
    def ekus(self) -> tuple[str, ...]:
        """EKU names (serverAuth, clientAuth, …) or dotted OIDs for ones without a short name."""
        eku = self._extension(x509.ExtendedKeyUsage)
        if not isinstance(eku, x509.ExtendedKeyUsage):
            return ()
        return tuple(_EKU_NAMES.get(oid, oid.dotted_string) for oid in eku)

    def allows_purpose(self, eku_name: str) -> bool:
        """RFC 5280: no EKU extension allows any purpose; anyExtendedKeyUsage allows any purpose."""
        if not self.has_eku_extension:
            return True
        return eku_name in self.ekus or "anyExtendedKeyUsage" in self.ekus

    @cached_property
    def key_usage(self) -> tuple[str, ...]:
        ku = self._extension(x509.KeyUsage)
        if not isinstance(ku, x509.KeyUsage):
            return ()
        names = [name for name in _KEY_USAGE_FIELDS if getattr(ku, name)]
        if ku.key_agreement:
            if ku.encipher_only:
                names.append("encipher_only")
            if ku.decipher_only:
                names.append("decipher_only")
        return tuple(names)

    @cached_property
    def is_ca(self) -> bool:
        bc = self._extension(x509.BasicConstraints)
        return isinstance(bc, x509.BasicConstraints) and bc.ca

    @cached_property
    def can_issue(self) -> bool:
        """May sign other certificates, as OpenSSL decides it: basicConstraints CA:TRUE when the
        extension is present (and keyCertSign when key usage is present); without basicConstraints
        only a self-signed v1 certificate qualifies."""
        bc = self._extension(x509.BasicConstraints)
        if isinstance(bc, x509.BasicConstraints):
            if not bc.ca:
                return False
            return not self.key_usage or "key_cert_sign" in self.key_usage
        return self.certificate.version == x509.Version.v1 and self.self_signed

    @cached_property
    def path_length(self) -> int | None:
        bc = self._extension(x509.BasicConstraints)
        return bc.path_length if isinstance(bc, x509.BasicConstraints) else None

    @cached_property
    def subject_key_identifier(self) -> str | None:
        ski = self._extension(x509.SubjectKeyIdentifier)
        return _hex(ski.digest) if isinstance(ski, x509.SubjectKeyIdentifier) else None

    @cached_property
    def authority_key_identifier(self) -> str | None:
        aki = self._extension(x509.AuthorityKeyIdentifier)
        if isinstance(aki, x509.AuthorityKeyIdentifier) and aki.key_identifier is not None:
            return _hex(aki.key_identifier)
        return None

    # keys ---------------------------------------------------------------------------------
    @cached_property
    def public_key_der(self) -> bytes:
        return self.certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @cached_property
    def public_key_fingerprint_sha256(self) -> str:
        """SHA-256 over the SubjectPublicKeyInfo: equal for two certificates of one key."""
        return hashlib.sha256(self.public_key_der).hexdigest()

    @cached_property
    def key_type(self) -> str:
        key = self.certificate.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            return "RSA"
        if isinstance(key, ec.EllipticCurvePublicKey):
            return "EC"
        if isinstance(key, ed25519.Ed25519PublicKey):
            return "Ed25519"
        if isinstance(key, ed448.Ed448PublicKey):
            return "Ed448"
        if isinstance(key, dsa.DSAPublicKey):
            return "DSA"
        return type(key).__name__

    @cached_property
    def key_size(self) -> int | None:
        key = self.certificate.public_key()
        if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | dsa.DSAPublicKey):
            return key.key_size
        return None

    @cached_property
    def key_curve(self) -> str | None:
        key = self.certificate.public_key()
        return key.curve.name if isinstance(key, ec.EllipticCurvePublicKey) else None

    @cached_property
    def signature_algorithm(self) -> str:
        oid = self.certificate.signature_algorithm_oid
        return getattr(oid, "_name", None) or oid.dotted_string

    def is_signed_by(self, issuer: CertView) -> bool:
        """True when `issuer`'s key produced this certificate's signature and the names line up.
        Remembered per issuer: chain building asks the same question many times."""
        known: dict[str, bool] = self.__dict__.setdefault("_signed_by", {})
        answer = known.get(issuer.fingerprint_sha256)
        if answer is None:
            try:
                self.certificate.verify_directly_issued_by(issuer.certificate)
                answer = True
            except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
                answer = False
            known[issuer.fingerprint_sha256] = answer
        return answer

    @cached_property
    def self_signed(self) -> bool:
        """Subject equals issuer and the certificate's own key verifies its signature."""
        return self.subject_name == self.issuer_name and self.is_signed_by(self)

    def to_dict(self) -> dict[str, object]:
        """The stable JSON record of `mrakit cert show`."""
        return {
            "fingerprint_sha256": self.fingerprint_sha256,
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial_hex,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "sans": list(self.dns_sans) + list(self.ip_sans),
            "san_field_length": self.san_field_length,
            "ekus": list(self.ekus),
            "key_usage": list(self.key_usage),
            "is_ca": self.is_ca,
            "self_signed": self.self_signed,
            "key_type": self.key_type,
            "key_size": self.key_size,
            "subject_key_identifier": self.subject_key_identifier,
            "authority_key_identifier": self.authority_key_identifier,
            "public_key_fingerprint_sha256": self.public_key_fingerprint_sha256,
        }
