"""Loading certificates, private keys and CSRs: formats, and one-line errors naming the file and what
was found instead."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization

from mrakit.errors import MrakitError, PkiError
from mrakit.pki import (
    build_csr,
    certificate_matches_key,
    certificates_to_pem,
    csr_pem,
    generate_private_key,
    load_certificate_file,
    load_certificates,
    load_certificates_file,
    load_csr,
    load_csr_file,
    load_private_key,
    load_private_key_file,
    private_key_pem,
)


@pytest.fixture(scope="module")
def rsa_key():
    return generate_private_key("rsa2048")


@pytest.fixture(scope="module")
def ec_key():
    return generate_private_key("p256")


def _one_line(exc: BaseException) -> str:
    message = str(exc)
    assert "\n" not in message
    assert "Traceback" not in message
    return message


def test_pkierror_is_a_mrakit_error():
    assert issubclass(PkiError, MrakitError)


# --- certificates --------------------------------------------------------------------------------


def test_pem_with_several_certificates_keeps_order(lab, tmp_path):
    chain = [lab.leaf.cert, lab.intermediate.cert, lab.root.cert]
    path = tmp_path / "chain.pem"
    path.write_text("leading text is ignored\n" + certificates_to_pem(chain) + "\ntrailing\n")
    loaded = load_certificates_file(path)
    assert loaded == chain
    assert [c.source for c in loaded] == [str(path)] * 3
    assert load_certificate_file(path) == lab.leaf.cert


def test_der_certificate(lab, tmp_path):
    path = tmp_path / "leaf.cer"
    path.write_bytes(lab.leaf.cert.der)
    assert load_certificates_file(path) == [lab.leaf.cert]


def test_trusted_certificate_label(lab):
    pem = lab.root.cert.pem.replace("CERTIFICATE", "TRUSTED CERTIFICATE")
    assert load_certificates(pem.encode()) == [lab.root.cert]


@pytest.fixture(scope="module")
def pkcs7_files(lab, openssl, tmp_path_factory):
    d = tmp_path_factory.mktemp("p7")
    chain = d / "chain.pem"
    chain.write_text(certificates_to_pem([lab.leaf.cert, lab.intermediate.cert, lab.root.cert]))
    openssl("crl2pkcs7", "-nocrl", "-certfile", chain, "-outform", "DER", "-out", d / "chain.p7b")
    openssl("crl2pkcs7", "-nocrl", "-certfile", chain, "-outform", "PEM", "-out", d / "chain.p7c")
    return d / "chain.p7b", d / "chain.p7c"


# openssl writes the PKCS#7 certificate SET unsorted (not strict DER); cryptography warns and reads it as BER
BER_PKCS7 = pytest.mark.filterwarnings("ignore:PKCS#7 certificates could not be parsed as DER:UserWarning")


@BER_PKCS7
def test_pkcs7_der(lab, pkcs7_files):
    der, _ = pkcs7_files
    assert not der.read_bytes().startswith(b"-----")
    loaded = load_certificates_file(der)
    assert set(loaded) == {lab.leaf.cert, lab.intermediate.cert, lab.root.cert}
    assert len(loaded) == 3


@BER_PKCS7
def test_pkcs7_pem(lab, pkcs7_files):
    _, pem = pkcs7_files
    assert pem.read_text().startswith("-----BEGIN PKCS7-----")
    loaded = load_certificates_file(pem)
    assert set(loaded) == {lab.leaf.cert, lab.intermediate.cert, lab.root.cert}
    assert len(loaded) == 3


@BER_PKCS7
def test_pem_mixing_certificate_and_pkcs7(lab, pkcs7_files, tmp_path):
    _, pem = pkcs7_files
    path = tmp_path / "mixed.pem"
    path.write_text(lab.leaf.cert.pem + pem.read_text())
    loaded = load_certificates_file(path)
    assert loaded[0] == lab.leaf.cert
    assert len(loaded) == 4


def test_private_key_where_a_certificate_is_expected(ec_key, tmp_path):
    path = tmp_path / "server.key"
    path.write_bytes(private_key_pem(ec_key))
    with pytest.raises(PkiError) as excinfo:
        load_certificates_file(path)
    message = _one_line(excinfo.value)
    assert str(path) in message
    assert "found a private key" in message
    assert "BEGIN" not in message  # never the key material


@pytest.mark.parametrize("format_", [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8])
def test_private_key_in_any_pem_flavour_is_recognised(rsa_key, tmp_path, format_):
    path = tmp_path / "k.pem"
    path.write_bytes(rsa_key.private_bytes(serialization.Encoding.PEM, format_, serialization.NoEncryption()))
    with pytest.raises(PkiError, match="found a private key"):
        load_certificates_file(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pem"
    path.write_bytes(b"")
    with pytest.raises(PkiError) as excinfo:
        load_certificates_file(path)
    message = _one_line(excinfo.value)
    assert message == f"{path}: no certificate found; found an empty file"


def test_whitespace_only_file(tmp_path):
    path = tmp_path / "blank.pem"
    path.write_text("\n   \n")
    with pytest.raises(PkiError, match="found an empty file"):
        load_certificates_file(path)


def test_csr_given_as_certificate(ec_key, tmp_path):
    path = tmp_path / "request.csr"
    path.write_text(csr_pem(build_csr(ec_key, "expe.example.com")))
    with pytest.raises(PkiError) as excinfo:
        load_certificates_file(path)
    message = _one_line(excinfo.value)
    assert str(path) in message
    assert "certificate signing request (CSR)" in message


def test_missing_file(tmp_path):
    path = tmp_path / "nope.pem"
    with pytest.raises(PkiError) as excinfo:
        load_certificates_file(path)
    assert _one_line(excinfo.value) == f"{path}: file not found"


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(PkiError, match="is a directory"):
        load_certificates_file(tmp_path)


def test_plain_text_and_binary_garbage():
    with pytest.raises(PkiError, match="text without any PEM block"):
        load_certificates(b"hello world", source="notes.txt")
    with pytest.raises(PkiError, match="binary data"):
        load_certificates(b"\x00\xff\x10\x80" * 8, source="blob.bin")


def test_damaged_pem_block_names_the_block(lab):
    good = lab.root.cert.pem
    lines = good.splitlines()
    lines[3] = lines[3][:10] + "!!!!" + lines[3][14:]
    damaged = (lab.leaf.cert.pem + "\n".join(lines) + "\n").encode()
    with pytest.raises(PkiError) as excinfo:
        load_certificates(damaged, source="bundle.pem")
    message = _one_line(excinfo.value)
    assert message.startswith("bundle.pem: PEM block 2 (CERTIFICATE) is damaged")


def test_begin_without_end():
    with pytest.raises(PkiError, match="damaged PEM block"):
        load_certificates(b"-----BEGIN CERTIFICATE-----\nMIIB\n", source="cut.pem")


def test_non_bytes_input_is_a_pki_error():
    with pytest.raises(PkiError, match="expected bytes"):
        load_certificates("-----BEGIN CERTIFICATE-----")  # type: ignore[arg-type]
    with pytest.raises(PkiError, match="expected bytes"):
        load_private_key("key")  # type: ignore[arg-type]


# --- private keys --------------------------------------------------------------------------------


def test_pkcs8_pem(ec_key, lab):
    loaded = load_private_key(private_key_pem(lab.leaf.key))
    assert certificate_matches_key(lab.leaf.cert, loaded)
    assert not certificate_matches_key(lab.leaf.cert, ec_key)


def test_pkcs1_rsa_pem(rsa_key, tmp_path):
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    path = tmp_path / "rsa.key"
    path.write_bytes(pem)
    loaded = load_private_key_file(path)
    assert loaded.private_numbers() == rsa_key.private_numbers()


def test_sec1_ec_pem(ec_key, tmp_path):
    pem = ec_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    assert pem.startswith(b"-----BEGIN EC PRIVATE KEY-----")
    path = tmp_path / "ec.key"
    path.write_bytes(pem)
    assert load_private_key_file(path).private_numbers() == ec_key.private_numbers()


def test_der_pkcs8(ec_key):
    der = ec_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert load_private_key(der).private_numbers() == ec_key.private_numbers()


def test_key_after_a_certificate_in_one_file(lab, tmp_path):
    path = tmp_path / "combined.pem"
    path.write_bytes(lab.leaf.cert.pem.encode() + private_key_pem(lab.leaf.key))
    assert certificate_matches_key(load_certificate_file(path), load_private_key_file(path))


@pytest.fixture()
def encrypted_key_file(ec_key, tmp_path):
    path = tmp_path / "enc.key"
    path.write_bytes(private_key_pem(ec_key, passphrase=b"s3cret passphrase"))
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    return path


def test_encrypted_pkcs8_with_passphrase_from_env(ec_key, encrypted_key_file):
    loaded = load_private_key_file(
        encrypted_key_file, passphrase_env="MRAKIT_KEY_PASS", environ={"MRAKIT_KEY_PASS": "s3cret passphrase"}
    )
    assert loaded.private_numbers() == ec_key.private_numbers()


def test_encrypted_pkcs8_with_passphrase_from_process_env(ec_key, encrypted_key_file, monkeypatch):
    monkeypatch.setenv("MRAKIT_TEST_KEY_PASS", "s3cret passphrase")
    loaded = load_private_key_file(encrypted_key_file, passphrase_env="MRAKIT_TEST_KEY_PASS")
    assert loaded.private_numbers() == ec_key.private_numbers()


def test_encrypted_pkcs8_wrong_passphrase(encrypted_key_file):
    with pytest.raises(PkiError) as excinfo:
        load_private_key_file(encrypted_key_file, passphrase_env="P", environ={"P": "Hunter2-not-it"})
    message = _one_line(excinfo.value)
    assert str(encrypted_key_file) in message
    assert "cannot decrypt the private key (wrong passphrase?)" in message
    assert "Hunter2" not in message  # the value itself is never echoed


def test_encrypted_pkcs8_without_passphrase(encrypted_key_file):
    with pytest.raises(PkiError) as excinfo:
        load_private_key_file(encrypted_key_file)
    message = _one_line(excinfo.value)
    assert message == f"{encrypted_key_file}: the private key is encrypted and no passphrase was given"


def test_encrypted_key_with_unset_passphrase_variable(encrypted_key_file):
    with pytest.raises(PkiError) as excinfo:
        load_private_key_file(encrypted_key_file, passphrase_env="MRAKIT_UNSET_VAR", environ={})
    assert _one_line(excinfo.value) == f"{encrypted_key_file}: passphrase variable MRAKIT_UNSET_VAR is not set"


def test_certificate_given_as_private_key(lab, tmp_path):
    path = tmp_path / "cert.pem"
    path.write_text(lab.leaf.cert.pem)
    with pytest.raises(PkiError) as excinfo:
        load_private_key_file(path)
    message = _one_line(excinfo.value)
    assert message == f"{path}: no private key found; found a certificate"


def test_der_certificate_given_as_private_key(lab):
    with pytest.raises(PkiError, match="no private key found"):
        load_private_key(lab.leaf.cert.der, source="cert.der")


def test_missing_key_file(tmp_path):
    with pytest.raises(PkiError, match="file not found"):
        load_private_key_file(tmp_path / "absent.key")


# --- CSRs ----------------------------------------------------------------------------------------


def test_csr_pem_and_der(ec_key, tmp_path):
    csr = build_csr(ec_key, "expe.example.com", ["expe1.example.com"])
    path = tmp_path / "req.csr"
    path.write_text(csr_pem(csr))
    assert load_csr_file(path).subject == csr.subject
    der = csr.public_bytes(serialization.Encoding.DER)
    assert load_csr(der).public_bytes(serialization.Encoding.DER) == der


def test_certificate_given_as_csr(lab):
    with pytest.raises(PkiError) as excinfo:
        load_csr(lab.leaf.cert.pem.encode(), source="leaf.pem")
    assert _one_line(excinfo.value) == "leaf.pem: no certificate signing request found; found a certificate"


# --- certificates that parse but are damaged inside ------------------------------------------------


def _damaged_san(cert) -> bytes:
    """The DER with the first DNS SAN's tag changed to an undefined GeneralName choice ([9])."""
    name = cert.dns_sans[0].encode()
    needle = b"\x82" + bytes([len(name)]) + name
    assert cert.der.count(needle) == 1
    return cert.der.replace(needle, b"\x89" + needle[1:])


def _damaged_key(cert) -> bytes:
    """The DER with the EC point's 0x04 (uncompressed) prefix changed to an invalid 0x05."""
    point = cert.public_key_der[-65:]
    assert point[0] == 4 and cert.der.count(point) == 1
    return cert.der.replace(point, b"\x05" + point[1:])


@pytest.mark.parametrize(("damage", "needle"), [(_damaged_san, "subject_alternative_name"),
                                                (_damaged_key, "Invalid key")], ids=["san", "key"])
def test_certificate_damaged_inside_is_rejected_at_load(lab, damage, needle, tmp_path):
    data = damage(lab.leaf.cert)
    path = tmp_path / "damaged.der"
    path.write_bytes(data)
    with pytest.raises(PkiError) as excinfo:
        load_certificates_file(path)
    message = _one_line(excinfo.value)
    assert message.startswith(f"{path}: certificate 1 is damaged: ")
    assert needle in message
    # in a PEM bundle, the damaged one is named by its position
    pem = "-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(data).decode() + "-----END CERTIFICATE-----\n"
    bundle = (lab.root.cert.pem + pem).encode()
    with pytest.raises(PkiError, match=r"bundle\.pem: certificate 2 is damaged"):
        load_certificates(bundle, source="bundle.pem")


# --- parsed once -----------------------------------------------------------------------------------

def test_the_same_pem_block_is_parsed_and_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A node's trust list comes back on every read, and the same CAs are in every node's list:
    each PEM block is parsed once per process; each read still gets its own source name."""
    from mrakit.pki import load as load_module
    from mrakit.pki.ca import CertificateAuthority

    root = CertificateAuthority.create_root("Parse Once Root CA")
    issuing = root.issue_intermediate("Parse Once Issuing CA")
    parsed: list[bytes] = []
    real = load_module.x509.load_pem_x509_certificate
    monkeypatch.setattr(load_module.x509, "load_pem_x509_certificate",
                        lambda data: parsed.append(data) or real(data))
    bundle = (root.cert.pem + issuing.cert.pem).encode()

    first = load_certificates(bundle, source="node1 trusted CA list")
    again = load_certificates(bundle, source="node2 trusted CA list")
    alone = load_certificates(issuing.cert.pem.encode(), source="node3 trusted CA list")

    assert len(parsed) == 2  # two blocks, each parsed once
    assert first == again == [root.cert, issuing.cert] and alone == [issuing.cert]
    assert [c.source for c in again] == ["node2 trusted CA list"] * 2
    assert [c.source for c in first] == ["node1 trusted CA list"] * 2
    assert alone[0].fingerprint_sha256 == issuing.cert.fingerprint_sha256


def test_a_changed_certificate_is_read_as_changed() -> None:
    """The cache is by the block's bytes: a node that now answers another certificate gives that one."""
    from mrakit.pki.ca import CertificateAuthority

    ca = CertificateAuthority.create_root("Changed Root CA")
    before = ca.issue_leaf("node.example.com", ["node.example.com"]).cert
    after = ca.issue_leaf("node.example.com", ["node.example.com"]).cert
    assert load_certificates(before.pem.encode(), source="node server certificate") == [before]
    read = load_certificates(after.pem.encode(), source="node server certificate")
    assert read == [after] and read[0].fingerprint_sha256 != before.fingerprint_sha256


def test_a_damaged_block_is_refused_every_time_not_remembered() -> None:
    from mrakit.pki.ca import CertificateAuthority

    good = CertificateAuthority.create_root("Good Root CA").cert.pem
    damaged = good.replace(good.splitlines()[5], "A" * len(good.splitlines()[5]))
    for _ in range(2):
        with pytest.raises(PkiError, match="node trust list: "):
            load_certificates((good + damaged).encode(), source="node trust list")
    assert load_certificates(good.encode(), source="again") == load_certificates(good.encode())
