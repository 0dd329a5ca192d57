"""CertView: identity, SAN field arithmetic (MRA006), CA flags, key facts, key identifiers."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from cryptography import x509

from mrakit.pki import (
    CLIENT_AUTH,
    SAN_FIELD_LIMIT,
    SERVER_AUTH,
    CertificateAuthority,
    load_certificates,
    names_beyond_san_limit,
    san_field_length,
)


def test_fingerprint_equals_openssl(lab, openssl, tmp_path):
    for cert in (lab.leaf.cert, lab.intermediate.cert, lab.root.cert):
        path = tmp_path / "c.pem"
        path.write_text(cert.pem)
        out = openssl("x509", "-in", path, "-noout", "-fingerprint", "-sha256").stdout.strip()
        assert re.fullmatch(r"(?i)sha256 Fingerprint=([0-9A-F]{2}:){31}[0-9A-F]{2}", out), out
        assert out.split("=", 1)[1].replace(":", "").lower() == cert.fingerprint_sha256
        assert cert.fingerprint_sha256 == hashlib.sha256(cert.der).hexdigest()


def test_fingerprint_of_real_certificate_equals_openssl(realpki, realpki_dir, openssl):
    out = openssl("x509", "-in", realpki_dir / "isrg-root-x1.pem", "-noout", "-fingerprint", "-sha256").stdout
    expected = out.strip().split("=", 1)[1].replace(":", "").lower()
    assert realpki("isrg-root-x1.pem").fingerprint_sha256 == expected
    # the well-known ISRG Root X1 fingerprint
    assert expected == "96bcec06264976f37460779acf28c5a7cfe8a3c0aae11a8ffcee05c0bddf08c6"


def test_equality_and_hash_are_by_fingerprint(lab):
    again = load_certificates(lab.leaf.cert.pem.encode(), source="elsewhere.pem")[0]
    assert again == lab.leaf.cert
    assert hash(again) == hash(lab.leaf.cert)
    assert again.source == "elsewhere.pem"
    assert len({again, lab.leaf.cert, lab.root.cert}) == 2
    assert lab.leaf.cert != lab.root.cert
    assert lab.leaf.cert != lab.leaf.cert.fingerprint_sha256
    assert lab.leaf.cert.fingerprint_sha256[:16] in repr(lab.leaf.cert)


@pytest.mark.parametrize(
    "names",
    [(), ("a.example.com",), ("a.example.com", "b.example.com"), tuple(f"n{i}.example.com" for i in range(50))],
)
def test_san_field_length_formula(names):
    assert san_field_length(names) == len(", ".join("DNS:" + n for n in names))


def test_san_field_length_with_ip_addresses():
    assert san_field_length(("a.example.com",), ("192.0.2.1",)) == len("DNS:a.example.com, IP Address:192.0.2.1")
    assert san_field_length((), ("192.0.2.1",)) == len("IP Address:192.0.2.1")


def _names_filling(total: int) -> tuple[str, ...]:
    """DNS names whose SAN field is exactly `total` characters long."""
    names = []
    length = 0
    index = 0
    while True:
        name = f"peer{index:03d}.collab.example.com"  # "DNS:" + 25 characters
        step = len(", DNS:" + name) if names else len("DNS:" + name)
        if length + step > total:
            break
        names.append(name)
        length += step
        index += 1
    rest = total - length - len(", DNS:")
    names.append("x" * rest)
    assert san_field_length(tuple(names)) == total
    return tuple(names)


def test_names_beyond_san_limit_boundary():
    exactly = _names_filling(SAN_FIELD_LIMIT)
    assert names_beyond_san_limit(exactly) == ()
    one_more = (*exactly[:-1], exactly[-1] + "y")
    assert san_field_length(one_more) == SAN_FIELD_LIMIT + 1
    assert names_beyond_san_limit(one_more) == (one_more[-1],)
    later = ("after1.example.com", "after2.example.com")
    assert names_beyond_san_limit((*exactly, *later)) == later
    assert names_beyond_san_limit(("a.example.com", "b.example.com"), limit=10) == ("a.example.com", "b.example.com")
    assert names_beyond_san_limit(("a.ex", "b.example.com"), limit=10) == ("b.example.com",)


@pytest.fixture(scope="module")
def long_san_leaf(lab):
    names = [f"mra-peer-{i:02d}.expressway-cluster.long-subdomain.example.com" for i in range(1, 31)]
    return names, lab.intermediate.issue_leaf("cluster.example.com", names).cert


def test_names_beyond_san_limit_on_certificate(long_san_leaf):
    names, cert = long_san_leaf
    assert cert.dns_sans == ("cluster.example.com", *names)
    assert cert.san_field_length == len(", ".join("DNS:" + n for n in cert.dns_sans))
    assert cert.san_field_length > SAN_FIELD_LIMIT
    ignored = cert.sans_beyond_limit
    assert ignored, "some names must fall past 999 characters"
    kept = cert.dns_sans[: len(cert.dns_sans) - len(ignored)]
    assert ignored == cert.dns_sans[len(kept):]
    assert san_field_length(kept) <= SAN_FIELD_LIMIT
    assert san_field_length((*kept, ignored[0])) > SAN_FIELD_LIMIT
    assert cert.to_dict()["san_field_length"] == cert.san_field_length


def test_san_field_length_matches_openssl_text(long_san_leaf, openssl, tmp_path):
    _, cert = long_san_leaf
    path = tmp_path / "c.pem"
    path.write_text(cert.pem)
    out = openssl("x509", "-in", path, "-noout", "-ext", "subjectAltName").stdout
    field = out.strip().splitlines()[-1].strip()
    assert field.startswith("DNS:cluster.example.com, ")
    assert len(field) == cert.san_field_length


def test_ip_sans(lab):
    cert = lab.intermediate.issue_leaf("a.example.com", ip_addresses=["192.0.2.10", "2001:db8::1"]).cert
    assert cert.ip_sans == ("192.0.2.10", "2001:db8::1")
    assert cert.dns_sans == ("a.example.com",)
    assert cert.to_dict()["sans"] == ["a.example.com", "192.0.2.10", "2001:db8::1"]


def test_self_signed_and_ca_flags(lab):
    assert lab.root.cert.self_signed
    assert lab.root.cert.is_ca and lab.root.cert.can_issue
    assert not lab.intermediate.cert.self_signed
    assert lab.intermediate.cert.is_ca and lab.intermediate.cert.can_issue
    assert not lab.leaf.cert.self_signed
    assert not lab.leaf.cert.is_ca and not lab.leaf.cert.can_issue
    assert lab.leaf.cert.key_usage == ("digital_signature", "key_encipherment")
    assert lab.root.cert.key_usage == ("digital_signature", "key_cert_sign", "crl_sign")


def test_same_name_different_key_is_not_self_signed():
    a = CertificateAuthority.create_root("Same Name")
    b = CertificateAuthority.create_root("Same Name")
    # b's name on a certificate signed by a's key: subject == issuer, but not self-signed
    forged = b.issue_intermediate("Same Name")
    assert forged.cert.subject_name == forged.cert.issuer_name
    assert forged.cert.is_signed_by(b.cert)
    assert not forged.cert.is_signed_by(a.cert)
    assert not forged.cert.self_signed


@pytest.mark.parametrize(
    ("key_type", "expected_type", "size", "curve"),
    [("p256", "EC", 256, "secp256r1"), ("p384", "EC", 384, "secp384r1"), ("rsa2048", "RSA", 2048, None)],
)
def test_key_type_and_size(lab, key_type, expected_type, size, curve):
    cert = lab.intermediate.issue_leaf(f"{key_type}.example.com", key_type=key_type).cert
    assert cert.key_type == expected_type
    assert cert.key_size == size
    assert cert.key_curve == curve
    assert cert.to_dict()["key_type"] == expected_type
    assert cert.to_dict()["key_size"] == size


def test_ski_and_aki(lab):
    leaf, intermediate, root = lab.leaf.cert, lab.intermediate.cert, lab.root.cert
    assert re.fullmatch(r"[0-9a-f]{40}", leaf.subject_key_identifier)
    assert leaf.authority_key_identifier == intermediate.subject_key_identifier
    assert intermediate.authority_key_identifier == root.subject_key_identifier
    assert root.authority_key_identifier is None  # the CA leaves AKI out of self-signed roots
    expected = x509.SubjectKeyIdentifier.from_public_key(lab.leaf.key.public_key()).digest.hex()
    assert leaf.subject_key_identifier == expected


def test_ski_and_aki_equal_openssl(lab, openssl, tmp_path):
    path = tmp_path / "c.pem"
    path.write_text(lab.leaf.cert.pem)
    out = openssl("x509", "-in", path, "-noout", "-ext", "subjectKeyIdentifier,authorityKeyIdentifier").stdout
    hexes = [h.replace(":", "").lower() for h in re.findall(r"(?:[0-9A-F]{2}:){19}[0-9A-F]{2}", out)]
    assert hexes == [lab.leaf.cert.subject_key_identifier, lab.leaf.cert.authority_key_identifier]


def test_certificate_without_extensions(sign_raw, lab):
    from mrakit.pki import generate_private_key

    bare = sign_raw("bare.example.com", lab.intermediate.cert, lab.intermediate.key, generate_private_key("p256"))
    assert bare.dns_sans == () and bare.ip_sans == ()
    assert bare.ekus == () and not bare.has_eku_extension
    assert bare.allows_purpose(SERVER_AUTH) and bare.allows_purpose(CLIENT_AUTH)
    assert bare.subject_key_identifier is None and bare.authority_key_identifier is None
    assert bare.key_usage == ()
    assert bare.san_field_length == 0


def test_ekus_and_purposes(lab):
    server = lab.intermediate.issue_leaf("s.example.com", ekus=[SERVER_AUTH]).cert
    assert server.ekus == (SERVER_AUTH,)
    assert server.allows_purpose(SERVER_AUTH) and not server.allows_purpose(CLIENT_AUTH)
    anyeku = lab.intermediate.issue_leaf("any.example.com", ekus=["2.5.29.37.0"]).cert
    assert anyeku.ekus == ("anyExtendedKeyUsage",)
    assert anyeku.allows_purpose(SERVER_AUTH) and anyeku.allows_purpose(CLIENT_AUTH)
    custom = lab.intermediate.issue_leaf("c.example.com", ekus=["1.2.3.4.5"]).cert
    assert custom.ekus == ("1.2.3.4.5",)


def test_names_and_dates(lab):
    leaf = lab.leaf.cert
    assert leaf.subject == "CN=expe.example.com"
    assert leaf.common_name == "expe.example.com" == leaf.display_name
    assert leaf.issuer == "CN=mrakit Test Issuing CA,O=mrakit tests"
    assert leaf.issuer_common_name == "mrakit Test Issuing CA"
    assert leaf.serial_hex == format(leaf.serial_number, "x")
    now = dt.datetime.now(dt.UTC)
    assert leaf.is_valid_at(now)
    assert not leaf.is_valid_at(leaf.not_after + dt.timedelta(seconds=1))
    assert 364 < leaf.days_left(now) <= 365
    assert leaf.lifetime_days == 365
    record = leaf.to_dict()
    assert record["not_after"] == leaf.not_after.isoformat()
    assert record["self_signed"] is False and record["is_ca"] is False


def test_display_name_without_cn(lab):
    nameless = lab.intermediate.issue_leaf(None, ["only-san.example.com"], organization="Example Org").cert
    assert nameless.common_name is None
    assert nameless.display_name == nameless.subject == "O=Example Org"


def test_names_are_built_once_per_view(lab):
    """Chain building compares subject and issuer names pairwise: a view keeps its Name objects."""
    view = load_certificates(lab.leaf.cert.pem.encode(), source="names.pem")[0]
    assert view.subject_name is view.subject_name and view.issuer_name is view.issuer_name
    assert view.subject_name == lab.leaf.cert.certificate.subject
    assert view.issuer_name == lab.leaf.cert.certificate.issuer
