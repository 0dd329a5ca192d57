"""Keys, CSRs and the lab CA's CSR signing."""

from __future__ import annotations

import os
import re
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from mrakit.errors import PkiError
from mrakit.pki import (
    CLIENT_AUTH,
    SERVER_AUTH,
    CertificateAuthority,
    build_csr,
    certificate_matches_key,
    csr_dns_names,
    generate_private_key,
    load_csr,
    load_private_key_file,
    verify_chain,
    write_private_key,
)
from mrakit.pki.keys import csr_pem


def test_certificate_matches_its_own_key_only(lab):
    assert certificate_matches_key(lab.leaf.cert, lab.leaf.key)
    assert certificate_matches_key(lab.root.cert, lab.root.key)
    assert not certificate_matches_key(lab.leaf.cert, lab.intermediate.key)
    assert not certificate_matches_key(lab.leaf.cert, generate_private_key("p256"))


def test_certificate_matches_key_across_key_types(lab):
    issued = lab.intermediate.issue_leaf("rsa.example.com", key_type="rsa2048")
    assert certificate_matches_key(issued.cert, issued.key)
    assert not certificate_matches_key(issued.cert, lab.leaf.key)


@pytest.mark.parametrize(
    ("key_type", "kind", "size"),
    [("rsa2048", rsa.RSAPrivateKey, 2048), ("RSA-3072", rsa.RSAPrivateKey, 3072),
     ("p256", ec.EllipticCurvePrivateKey, 256), ("P-384", ec.EllipticCurvePrivateKey, 384),
     ("ec", ec.EllipticCurvePrivateKey, 256)],
)
def test_generate_private_key(key_type, kind, size):
    key = generate_private_key(key_type)
    assert isinstance(key, kind)
    assert key.key_size == size


@pytest.mark.slow
def test_generate_rsa4096():
    key = generate_private_key("rsa4096")
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 4096


@pytest.mark.parametrize("bad", ["rsa1024", "rsa", "rsaXYZ", "p521", "ed25519", "dsa2048", ""])
def test_bad_key_type_is_a_pki_error(bad):
    if bad == "rsa":  # bare "rsa" means rsa2048
        assert generate_private_key(bad).key_size == 2048
        return
    with pytest.raises(PkiError, match="unsupported"):
        generate_private_key(bad)


def test_write_private_key_is_0600(tmp_path):
    key = generate_private_key("p256")
    path = write_private_key(tmp_path / "sub" / "dir" / "node.key", key)
    assert path == tmp_path / "sub" / "dir" / "node.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_private_key_file(path).private_numbers() == key.private_numbers()


def test_write_private_key_tightens_an_existing_0644_file(tmp_path):
    path = tmp_path / "node.key"
    path.write_text("old content that is much longer than the key would ever be " * 100)
    os.chmod(path, 0o644)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    key = generate_private_key("p256")
    write_private_key(path, key)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert b"old content" not in path.read_bytes()  # truncated, not overwritten in place
    assert load_private_key_file(path).private_numbers() == key.private_numbers()


def test_write_private_key_with_passphrase(tmp_path):
    key = generate_private_key("p256")
    path = write_private_key(tmp_path / "enc.key", key, passphrase=b"pw")
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(PkiError, match="encrypted"):
        load_private_key_file(path)
    loaded = load_private_key_file(path, passphrase_env="PW", environ={"PW": "pw"})
    assert loaded.private_numbers() == key.private_numbers()


MANY_SANS = [f"peer{i:02d}.expressway.example.com" for i in range(1, 41)] + ["example.com", "collab-edge.example.com"]


def test_build_csr_round_trips_cn_and_sans():
    key = generate_private_key("p256")
    csr = build_csr(key, "cluster.example.com", MANY_SANS, organization="Example Corp", country="CH")
    assert csr.is_signature_valid
    assert csr_dns_names(csr) == ("cluster.example.com", *MANY_SANS)
    subject = csr.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "cluster.example.com"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example Corp"
    assert subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "CH"
    reloaded = load_csr(csr_pem(csr).encode())
    assert csr_dns_names(reloaded) == ("cluster.example.com", *MANY_SANS)


def test_build_csr_does_not_repeat_the_cn():
    key = generate_private_key("p256")
    csr = build_csr(key, "a.example.com", ["b.example.com", "a.example.com", "b.example.com"])
    assert csr_dns_names(csr) == ("a.example.com", "b.example.com")


@pytest.mark.parametrize(
    ("common_name", "dns_names", "country"),
    [("a.example.com", (), "CHE"),  # a country is 2 letters
     ("a" * 60 + ".example.com", (), None),  # a CN is at most 64 characters (a SAN may be longer)
     ("a.example.com", ("bücher.example",), None)],  # DNS names must be A-labels
    ids=["country", "long-cn", "u-label"],
)
def test_build_csr_bad_input_is_a_pki_error(common_name, dns_names, country):
    with pytest.raises(PkiError) as excinfo:
        build_csr(generate_private_key("p256"), common_name, dns_names, country=country)
    assert str(excinfo.value).startswith(f"cannot build CSR for {common_name}: ")


@pytest.mark.parametrize(
    ("common_name", "kwargs"),
    [("a" * 60 + ".example.com", {}), ("a.example.com", {"dns_names": ["bücher.example"]}),
     ("a.example.com", {"ip_addresses": ["not-an-ip"]})],
    ids=["long-cn", "u-label", "bad-ip"],
)
def test_issue_leaf_bad_input_is_a_pki_error(lab, common_name, kwargs):
    with pytest.raises(PkiError, match=re.escape(f"cannot issue certificate for {common_name}: ")):
        lab.intermediate.issue_leaf(common_name, **kwargs)


def test_sign_csr_keeps_subject_and_sans(lab):
    key = generate_private_key("p256")
    csr = build_csr(key, "expc.example.com", MANY_SANS, organization="Example Corp")
    cert = lab.intermediate.sign_csr(csr)
    assert cert.subject_name == csr.subject
    assert cert.common_name == "expc.example.com"
    assert cert.dns_sans == ("expc.example.com", *MANY_SANS)
    assert cert.ekus == (SERVER_AUTH, CLIENT_AUTH)
    assert cert.issuer_name == lab.intermediate.cert.subject_name
    assert certificate_matches_key(cert, key)
    assert not cert.is_ca
    assert verify_chain(cert, [lab.root.cert], [lab.intermediate.cert]).valid


def test_sign_csr_with_chosen_ekus(lab):
    csr = build_csr(generate_private_key("p256"), "srv.example.com")
    cert = lab.intermediate.sign_csr(csr, ekus=[SERVER_AUTH], days=10)
    assert cert.ekus == (SERVER_AUTH,)
    assert 9.9 < cert.lifetime_days <= 10
    assert verify_chain(cert, [lab.root.cert], [lab.intermediate.cert], purpose="client").reason == "eku_missing"


def test_sign_csr_rejects_a_tampered_csr(lab):
    from cryptography import x509

    csr = build_csr(generate_private_key("p256"), "srv.example.com")
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # damage the signature
    tampered = x509.load_der_x509_csr(bytes(der))
    with pytest.raises(PkiError, match="signature does not verify"):
        lab.intermediate.sign_csr(tampered)


def test_issue_leaf_with_unknown_eku_is_a_pki_error(lab):
    with pytest.raises(PkiError, match="unknown EKU"):
        lab.intermediate.issue_leaf("x.example.com", ekus=["webServer"])
    dotted = lab.intermediate.issue_leaf("x.example.com", ekus=["1.3.6.1.5.5.7.3.3"])
    assert dotted.cert.ekus == ("codeSigning",)


def test_root_key_types():
    rsa_root = CertificateAuthority.create_root("RSA Root", key_type="rsa2048")
    assert rsa_root.cert.key_type == "RSA" and rsa_root.cert.key_size == 2048
    p384 = CertificateAuthority.create_root("P-384 Root", key_type="p384")
    assert p384.cert.key_type == "EC" and p384.cert.key_curve == "secp384r1"
    assert p384.cert.signature_algorithm == "ecdsa-with-SHA384"
    leaf = p384.issue_leaf("x.example.com")
    assert leaf.cert.signature_algorithm == "ecdsa-with-SHA384"
    assert verify_chain(leaf.cert, [p384.cert]).valid
