"""Read certificates and private keys from PEM, DER and PKCS#7, with one-line errors that say
which file and what was found instead."""

from __future__ import annotations

import base64
import os
import re
import threading
import warnings
from collections.abc import Mapping

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.utils import CryptographyDeprecationWarning

from mrakit.errors import PkiError
from mrakit.files import MAX_CERTIFICATE_BYTES, MAX_KEY_BYTES, read_limited
from mrakit.pki.certview import CertView

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

# Mozilla's bundle still holds roots with a negative serial (as do some private CAs); cryptography
# warns on every parse. mrakit reports certificates, it does not police serials: keep stderr clean.
warnings.filterwarnings("ignore", message="Parsed a serial number which wasn't positive",
                        category=CryptographyDeprecationWarning)

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_PKCS7_LABELS = {b"PKCS7", b"CMS"}
_KEY_LABELS = {b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"ENCRYPTED PRIVATE KEY"}
_DESCRIBE = {
    b"CERTIFICATE REQUEST": "a certificate signing request (CSR)",
    b"NEW CERTIFICATE REQUEST": "a certificate signing request (CSR)",
    b"PUBLIC KEY": "a public key",
    b"X509 CRL": "a certificate revocation list",
}


def _what_is(data: bytes) -> str:
    """A short description of bytes that are not what was asked for."""
    if not data.strip():
        return "an empty file"
    labels = [m.group(1) for m in _PEM_BLOCK.finditer(data)]
    if labels:
        kinds = []
        for label in labels:
            if label in _KEY_LABELS:
                kinds.append("a private key")
            elif label in _CERT_LABELS:
                kinds.append("a certificate")
            else:
                kinds.append(_DESCRIBE.get(label, f"a PEM block labelled {label.decode('ascii', 'replace')}"))
        return ", ".join(dict.fromkeys(kinds))
    if b"-----BEGIN" in data:
        return "a damaged PEM block (BEGIN without a matching END)"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return f"{len(data)} bytes of binary data that are neither DER X.509 nor PKCS#7"
    return "text without any PEM block"


def _der_length(der: bytes) -> int:
    """Length of the first DER element (tag, length, content) at the start of `der`."""
    if len(der) < 2:
        raise ValueError("truncated DER")
    first = der[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(der) < 2 + count:
        raise ValueError("bad DER length")
    return 2 + count + int.from_bytes(der[2 : 2 + count], "big")


def _parse_pem_block(label: bytes, block: bytes) -> list[x509.Certificate]:
    if label == b"TRUSTED CERTIFICATE":
        # OpenSSL's -trustout form: the certificate's DER followed by trust settings; keep the
        # certificate (its DER length is in its own header).
        body = base64.b64decode(b"".join(block.splitlines()[1:-1]))
        return [x509.load_der_x509_certificate(body[: _der_length(body)])]
    if label in _CERT_LABELS:
        return [x509.load_pem_x509_certificate(block.replace(b"X509 CERTIFICATE", b"CERTIFICATE"))]
    if label in _PKCS7_LABELS:
        return list(pkcs7.load_pem_pkcs7_certificates(block.replace(b"CMS", b"PKCS7")))
    return []


class _ParsedBlocks:
    """PEM blocks already parsed and checked, by their bytes: the same CA comes back in every node's
    trust list and again on every re-read, and parsing and checking it is most of the CPU of a read.
    Bounded; thread-safe (observe reads nodes in parallel)."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._views: dict[bytes, tuple[CertView, ...]] = {}
        self._lock = threading.Lock()

    def get(self, block: bytes) -> tuple[CertView, ...] | None:
        with self._lock:
            return self._views.get(block)

    def remember(self, block: bytes, views: tuple[CertView, ...]) -> None:
        with self._lock:
            if len(self._views) >= self.limit:
                del self._views[next(iter(self._views))]  # the oldest
            self._views[block] = views

    def clear(self) -> None:
        with self._lock:
            self._views.clear()


_PARSED = _ParsedBlocks()


def _parse_pem_certificates(data: bytes, source: str) -> list[CertView]:
    """Every certificate in the PEM blocks of `data`, each block parsed and checked once per process."""
    views: list[CertView] = []
    fresh: list[tuple[bytes, int, list[x509.Certificate]]] = []  # (block, first number, certificates)
    for match in _PEM_BLOCK.finditer(data):
        label, block = match.group(1), match.group(0)
        known = _PARSED.get(block)
        if known is not None:
            views.extend(view.relabelled(source) for view in known)
            continue
        try:
            certificates = _parse_pem_block(label, block)
        except ValueError as exc:
            number = len(views) + 1
            raise PkiError(f"{source}: PEM block {number} ({label.decode()}) is damaged: {exc}") from None
        fresh.append((block, len(views) + 1, certificates))
        views.extend(CertView(cert, source=source) for cert in certificates)
    for block, first, certificates in fresh:
        for number, cert in enumerate(certificates, start=first):
            _check_parsable(cert, number, source)
        parsed = tuple(views[first - 1 : first - 1 + len(certificates)])
        for view in parsed:
            view.fingerprint_sha256  # noqa: B018 -- computed once here, shared by every later copy
        _PARSED.remember(block, parsed)
    return views


def _parse_der_certificates(data: bytes) -> list[x509.Certificate] | None:
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        pass
    try:
        return list(pkcs7.load_der_pkcs7_certificates(data))
    except ValueError:
        return None


def load_certificates(data: bytes, source: str = "<bytes>") -> list[CertView]:
    """Every certificate in `data`: PEM (one or many blocks, PKCS#7 blocks too), DER, or DER PKCS#7.

    Raises PkiError naming `source` when there is no certificate in it.
    """
    if not isinstance(data, bytes | bytearray):
        raise PkiError(f"{source}: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    try:
        if b"-----BEGIN" in data:
            views = _parse_pem_certificates(data, source)
        else:
            certificates = _parse_der_certificates(data) or []
            for number, cert in enumerate(certificates, start=1):
                _check_parsable(cert, number, source)
            views = [CertView(cert, source=source) for cert in certificates]
    except PkiError:
        raise
    except Exception as exc:  # cryptography's parsers raise a few types on hostile input
        raise PkiError(f"{source}: could not parse certificate data ({type(exc).__name__}: {exc})") from None
    if not views:
        raise PkiError(f"{source}: no certificate found; found {_what_is(data)}")
    return views


def _check_parsable(cert: x509.Certificate, number: int, source: str) -> None:
    """cryptography parses names, extensions and the key lazily: a damaged certificate loads and
    fails later, far from its file. Fail here instead, naming the file."""
    try:
        cert.subject.rfc4514_string()
        cert.issuer.rfc4514_string()
        len(cert.extensions)
        cert.public_key()
    except UnsupportedAlgorithm:
        pass  # a key type cryptography does not know: still usable by name (as a trust list entry)
    except Exception as exc:  # ValueError, DuplicateExtension, UnsupportedGeneralNameType, …
        raise PkiError(f"{source}: certificate {number} is damaged: {exc}") from None


def _read(path: str | os.PathLike[str], what: str = "a certificate file", limit: int = MAX_CERTIFICATE_BYTES) -> bytes:
    return read_limited(path, limit, what, PkiError)


def load_certificates_file(path: str | os.PathLike[str]) -> list[CertView]:
    """Every certificate in the file at `path` (any format `load_certificates` reads)."""
    return load_certificates(_read(path), source=str(path))


def load_certificate_file(path: str | os.PathLike[str]) -> CertView:
    """The first certificate in the file: the leaf, by the PEM convention of leaf first."""
    return load_certificates_file(path)[0]


def load_private_key(
    data: bytes, source: str = "<bytes>", *, passphrase: bytes | None = None
) -> PrivateKey:
    """A private key from PEM (PKCS#1, SEC1, PKCS#8, encrypted PKCS#8) or DER PKCS#8."""
    if not isinstance(data, bytes | bytearray):
        raise PkiError(f"{source}: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    is_pem = b"-----BEGIN" in data
    encrypted = b"ENCRYPTED" in data or b"Proc-Type: 4,ENCRYPTED" in data
    if encrypted and passphrase is None:
        raise PkiError(f"{source}: the private key is encrypted and no passphrase was given")
    try:
        if is_pem:
            match = next((m for m in _PEM_BLOCK.finditer(data) if m.group(1) in _KEY_LABELS), None)
            if match is None:
                raise PkiError(f"{source}: no private key found; found {_what_is(data)}")
            key = serialization.load_pem_private_key(match.group(0), password=passphrase if encrypted else None)
        else:
            key = serialization.load_der_private_key(data, password=passphrase)
    except PkiError:
        raise
    except (ValueError, TypeError) as exc:
        if encrypted:
            raise PkiError(f"{source}: cannot decrypt the private key (wrong passphrase?)") from None
        if not is_pem:
            raise PkiError(f"{source}: no private key found; found {_what_is(data)}") from None
        raise PkiError(f"{source}: the private key is damaged ({exc})") from None
    except Exception as exc:
        raise PkiError(f"{source}: could not parse private key ({type(exc).__name__})") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise PkiError(f"{source}: unsupported private key type {type(key).__name__}")
    return key


def load_private_key_file(
    path: str | os.PathLike[str],
    *,
    passphrase_env: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> PrivateKey:
    """A private key from a file; an encrypted key's passphrase comes from the variable `passphrase_env`."""
    passphrase: bytes | None = None
    if passphrase_env:
        env = os.environ if environ is None else environ
        value = env.get(passphrase_env)
        if value is None:
            raise PkiError(f"{path}: passphrase variable {passphrase_env} is not set")
        passphrase = value.encode("utf-8")
    return load_private_key(_read(path, "a private key", MAX_KEY_BYTES), source=str(path), passphrase=passphrase)


def load_csr(data: bytes, source: str = "<bytes>") -> x509.CertificateSigningRequest:
    """A PKCS#10 certificate signing request from PEM or DER."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_csr(data)
        return x509.load_der_x509_csr(data)
    except Exception:
        raise PkiError(f"{source}: no certificate signing request found; found {_what_is(data)}") from None


def load_csr_file(path: str | os.PathLike[str]) -> x509.CertificateSigningRequest:
    return load_csr(_read(path, "a CSR", MAX_KEY_BYTES), source=str(path))


def certificates_to_pem(certificates: list[CertView] | tuple[CertView, ...]) -> str:
    return "".join(c.pem for c in certificates)
