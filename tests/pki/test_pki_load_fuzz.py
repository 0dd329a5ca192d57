"""Property tests: the loaders never raise anything but PkiError (a MrakitError) on hostile input,
including damaged copies of valid PEM, DER and PKCS#7."""

from __future__ import annotations

from functools import cache

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mrakit.errors import MrakitError, PkiError
from mrakit.pki import (
    CertificateAuthority,
    build_csr,
    certificates_to_pem,
    csr_pem,
    generate_private_key,
    load_certificates,
    load_csr,
    load_private_key,
    private_key_pem,
)

FUZZ = settings(
    max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@cache
def seeds() -> tuple[bytes, ...]:
    """Valid inputs of every kind the loaders accept, as starting points for damage."""
    root = CertificateAuthority.create_root("Fuzz Root", key_type="p256")
    intermediate = root.issue_intermediate("Fuzz CA")
    leaf = intermediate.issue_leaf("fuzz.example.com", ["a.example.com", "b.example.com"], ip_addresses=["192.0.2.1"])
    rsa = generate_private_key("rsa2048")
    ec = leaf.key
    csr = build_csr(ec, "fuzz.example.com", ["c.example.com"])
    from cryptography.hazmat.primitives.serialization import pkcs7

    p7 = pkcs7.serialize_certificates(
        [leaf.cert.certificate, intermediate.cert.certificate], serialization.Encoding.DER
    )
    p7_pem = pkcs7.serialize_certificates([leaf.cert.certificate], serialization.Encoding.PEM)
    traditional = serialization.PrivateFormat.TraditionalOpenSSL
    none = serialization.NoEncryption()
    return (
        leaf.cert.pem.encode(),
        leaf.cert.der,
        certificates_to_pem([leaf.cert, intermediate.cert, root.cert]).encode(),
        p7,
        p7_pem,
        private_key_pem(ec),
        private_key_pem(rsa),
        rsa.private_bytes(serialization.Encoding.PEM, traditional, none),
        ec.private_bytes(serialization.Encoding.PEM, traditional, none),
        ec.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, none),
        private_key_pem(ec, passphrase=b"pass"),
        csr_pem(csr).encode(),
        csr.public_bytes(serialization.Encoding.DER),
    )


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A valid seed with bytes flipped, cut short, spliced or duplicated."""
    data = bytearray(draw(st.sampled_from(seeds())))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "duplicate", "set"]))
        if not data:
            break
        position = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[position] ^= draw(st.integers(1, 255))
        elif kind == "set":
            data[position] = draw(st.sampled_from([0x00, 0x30, 0x80, 0x81, 0x82, 0xFF, ord("-"), ord("\n")]))
        elif kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[position : position + draw(st.integers(1, 16))]
        else:
            end = min(len(data), position + draw(st.integers(1, 64)))
            data[position:position] = data[position:end]
    return bytes(data)



def _only_pki_errors(call, data: bytes) -> None:
    try:
        call(data)
    except PkiError as exc:
        assert isinstance(exc, MrakitError)
        assert "\n" not in str(exc)


def test_seeds_are_valid():
    # the damage starts from inputs each loader really accepts
    kinds = {"cert": 0, "key": 0, "csr": 0}
    for data in seeds():
        for kind, call in (("cert", load_certificates), ("csr", load_csr)):
            try:
                call(data)
                kinds[kind] += 1
            except PkiError:
                pass
        try:
            load_private_key(data, passphrase=b"pass" if b"ENCRYPTED" in data else None)
            kinds["key"] += 1
        except PkiError:
            pass
    assert kinds == {"cert": 5, "key": 6, "csr": 2}


@FUZZ
@given(st.binary(max_size=2048))
def test_load_certificates_arbitrary_bytes(data):
    _only_pki_errors(load_certificates, data)


@FUZZ
@given(damaged())
def test_load_certificates_damaged(data):
    _only_pki_errors(load_certificates, data)


@FUZZ
@given(damaged())
def test_whatever_loads_can_be_shown(data):
    """A certificate load_certificates returns does not fail later when `mrakit cert show` reads it
    (names, extensions and key are checked at load); only an unknown key algorithm is let through."""
    try:
        certs = load_certificates(data)
    except PkiError:
        return
    for cert in certs:
        try:
            cert.to_dict()
        except UnsupportedAlgorithm:
            continue
        assert cert.display_name
        cert.wildcard_names, cert.can_issue, cert.sans_beyond_limit  # noqa: B018


@FUZZ
@given(st.binary(max_size=2048))
def test_load_private_key_arbitrary_bytes(data):
    _only_pki_errors(load_private_key, data)


@FUZZ
@given(damaged(), st.sampled_from([None, b"pass", b"other"]))
def test_load_private_key_damaged(data, passphrase):
    if passphrase is not None and b"ENCRYPTED" in data:
        # a damaged encrypted key can claim an absurd KDF iteration count; decrypting is then only slow
        passphrase = None
    _only_pki_errors(lambda d: load_private_key(d, passphrase=passphrase), data)


@FUZZ
@given(st.binary(max_size=2048))
def test_load_csr_arbitrary_bytes(data):
    _only_pki_errors(load_csr, data)


@FUZZ
@given(damaged())
def test_load_csr_damaged(data):
    _only_pki_errors(load_csr, data)


@FUZZ
@given(st.text(max_size=300))
def test_text_with_pem_markers(text):
    data = ("-----BEGIN CERTIFICATE-----\n" + text + "\n-----END CERTIFICATE-----\n").encode()
    _only_pki_errors(load_certificates, data)
    _only_pki_errors(load_private_key, data.replace(b"CERTIFICATE", b"PRIVATE KEY"))
    _only_pki_errors(load_csr, data.replace(b"CERTIFICATE", b"CERTIFICATE REQUEST"))
