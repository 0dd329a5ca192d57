"""Chain validation scenarios built with mrakit's own CertificateAuthority, under both semantics."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from mrakit.pki import (
    CLIENT_AUTH,
    SERVER_AUTH,
    CertificateAuthority,
    CertView,
    ChainReason,
    Purpose,
    Semantics,
    generate_private_key,
    verify_chain,
)

BOTH_SEMANTICS = pytest.mark.parametrize("semantics", ["openssl", "expressway"])
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
LONG_AGO = NOW - dt.timedelta(days=2000)


@BOTH_SEMANTICS
@pytest.mark.parametrize("intermediate_in", ["trust", "untrusted"])
def test_valid_three_level_chain(lab, semantics, intermediate_in):
    trust = [lab.root.cert] + ([lab.intermediate.cert] if intermediate_in == "trust" else [])
    untrusted = [lab.intermediate.cert] if intermediate_in == "untrusted" else []
    result = verify_chain(lab.leaf.cert, trust, untrusted, purpose="both", semantics=semantics)
    assert result.valid, result.detail
    assert result.reason is None
    assert result.path == (lab.leaf.cert, lab.intermediate.cert, lab.root.cert)
    assert result.semantics == Semantics(semantics)
    assert result.purpose is Purpose.BOTH


@BOTH_SEMANTICS
def test_leaf_presented_alone_with_only_the_root_trusted_is_missing_issuer(lab, semantics):
    result = verify_chain(lab.leaf.cert, [lab.root.cert], [], semantics=semantics)
    assert not result.valid
    assert result.reason is ChainReason.MISSING_ISSUER
    assert result.rule == "MRA020"
    assert result.missing_issuer == lab.intermediate.cert.subject
    assert result.missing_issuer == "CN=mrakit Test Issuing CA,O=mrakit tests"
    assert result.culprit == lab.leaf.cert
    assert result.path == (lab.leaf.cert,)


@BOTH_SEMANTICS
def test_intermediate_trusted_without_its_root_is_missing_issuer_mra021(lab, semantics):
    result = verify_chain(lab.leaf.cert, [lab.intermediate.cert], [], semantics=semantics)
    assert not result.valid
    assert result.reason is ChainReason.MISSING_ISSUER
    assert result.rule == "MRA021"
    assert result.missing_issuer == lab.root.cert.subject
    assert result.culprit == lab.intermediate.cert
    assert result.path == (lab.leaf.cert, lab.intermediate.cert)


@BOTH_SEMANTICS
def test_root_presented_by_peer_but_not_trusted_is_untrusted_root(lab, semantics):
    other_root = CertificateAuthority.create_root("Some Other Root")
    result = verify_chain(
        lab.leaf.cert, [other_root.cert], [lab.intermediate.cert, lab.root.cert], semantics=semantics
    )
    assert not result.valid
    assert result.reason is ChainReason.UNTRUSTED_ROOT
    assert result.culprit == lab.root.cert
    assert result.path == (lab.leaf.cert, lab.intermediate.cert, lab.root.cert)
    assert lab.root.cert.fingerprint_sha256[:16] in result.detail


@BOTH_SEMANTICS
def test_untrusted_root_with_an_empty_trust_list(lab, semantics):
    result = verify_chain(lab.leaf.cert, [], [lab.intermediate.cert, lab.root.cert], semantics=semantics)
    assert result.reason is ChainReason.UNTRUSTED_ROOT
    assert not result.valid


@BOTH_SEMANTICS
def test_expired_intermediate_is_named(semantics):
    root = CertificateAuthority.create_root("Expiry Root")
    old = root.issue_intermediate("Expired Issuing CA", not_before=LONG_AGO, days=30)
    leaf = old.issue_leaf("host.example.com")
    result = verify_chain(leaf.cert, [root.cert], [old.cert], semantics=semantics)
    assert not result.valid
    assert result.reason is ChainReason.EXPIRED
    assert result.culprit == old.cert
    assert result.rule == "MRA007"
    assert "Expired Issuing CA" in result.detail
    # the same chain at a moment inside the intermediate's validity passes
    inside = LONG_AGO + dt.timedelta(days=10)
    early = verify_chain(leaf.cert, [root.cert], [old.cert], semantics=semantics, at=inside)
    assert early.reason is ChainReason.NOT_YET_VALID  # the leaf was issued today
    assert early.culprit == leaf.cert


@BOTH_SEMANTICS
def test_not_yet_valid_leaf(lab, semantics):
    leaf = lab.intermediate.issue_leaf("future.example.com", not_before=NOW + dt.timedelta(days=10))
    result = verify_chain(leaf.cert, [lab.root.cert], [lab.intermediate.cert], semantics=semantics)
    assert not result.valid
    assert result.reason is ChainReason.NOT_YET_VALID
    assert result.culprit == leaf.cert
    # and valid once its time has come
    later = verify_chain(
        leaf.cert, [lab.root.cert], [lab.intermediate.cert], semantics=semantics, at=NOW + dt.timedelta(days=11)
    )
    assert later.valid, later.detail


@pytest.fixture(scope="module")
def eku_leaves(lab):
    return {
        "server": lab.intermediate.issue_leaf("server-only.example.com", ekus=[SERVER_AUTH]).cert,
        "client": lab.intermediate.issue_leaf("client-only.example.com", ekus=[CLIENT_AUTH]).cert,
        "none": lab.intermediate.issue_leaf("no-eku.example.com", ekus=()).cert,
        "both": lab.intermediate.issue_leaf("both.example.com").cert,
    }


EKU_EXPECTATIONS = [
    # leaf EKUs, purpose, valid, missing EKUs
    ("server", "server", True, ()),
    ("server", "client", False, (CLIENT_AUTH,)),
    ("server", "both", False, (CLIENT_AUTH,)),
    ("client", "client", True, ()),
    ("client", "server", False, (SERVER_AUTH,)),
    ("client", "both", False, (SERVER_AUTH,)),
    ("none", "server", True, ()),
    ("none", "client", True, ()),
    ("none", "both", True, ()),
    ("both", "server", True, ()),
    ("both", "client", True, ()),
    ("both", "both", True, ()),
]


@BOTH_SEMANTICS
@pytest.mark.parametrize(("leaf_ekus", "purpose", "valid", "missing"), EKU_EXPECTATIONS)
def test_leaf_eku_per_purpose(lab, eku_leaves, semantics, leaf_ekus, purpose, valid, missing):
    leaf = eku_leaves[leaf_ekus]
    if leaf_ekus == "none":
        assert not leaf.has_eku_extension
    result = verify_chain(leaf, [lab.root.cert], [lab.intermediate.cert], purpose=purpose, semantics=semantics)
    assert result.valid is valid, result.detail
    if valid:
        assert result.reason is None
    else:
        assert result.reason is ChainReason.EKU_MISSING
        assert result.rule == "MRA001"
        assert result.culprit == leaf
        assert result.missing_ekus == missing


@pytest.fixture(scope="module")
def server_only_intermediate():
    root = CertificateAuthority.create_root("EKU Root")
    intermediate = root.issue_intermediate("Server-only Issuing CA", ekus=[SERVER_AUTH])
    leaf = intermediate.issue_leaf("both-ekus.example.com")  # the leaf itself has both EKUs
    return root, intermediate, leaf


@BOTH_SEMANTICS
def test_intermediate_eku_restricts_the_chain(server_only_intermediate, semantics):
    root, intermediate, leaf = server_only_intermediate
    for purpose, valid in (("server", True), ("client", False), ("both", False)):
        result = verify_chain(leaf.cert, [root.cert], [intermediate.cert], purpose=purpose, semantics=semantics)
        assert result.valid is valid, (purpose, result.detail)
        if not valid:
            assert result.reason is ChainReason.EKU_MISSING
            assert result.culprit == intermediate.cert
            assert result.missing_ekus == (CLIENT_AUTH,)


def test_intermediate_eku_restriction_matches_openssl(server_only_intermediate, openssl_verify, tmp_path):
    root, intermediate, leaf = server_only_intermediate
    assert openssl_verify(tmp_path / "s", leaf.cert, [root.cert], [intermediate.cert], purpose="server")
    assert not openssl_verify(tmp_path / "c", leaf.cert, [root.cert], [intermediate.cert], purpose="client")


@BOTH_SEMANTICS
def test_trust_entry_with_right_subject_but_wrong_key_is_bad_signature(semantics):
    real = CertificateAuthority.create_root("Lookalike Root")
    impostor = CertificateAuthority.create_root("Lookalike Root")
    assert real.cert.subject_name == impostor.cert.subject_name
    leaf = real.issue_leaf("host.example.com")
    result = verify_chain(leaf.cert, [impostor.cert], [], semantics=semantics)
    assert not result.valid
    assert result.reason is ChainReason.BAD_SIGNATURE
    assert result.culprit == leaf.cert
    assert impostor.cert.fingerprint_sha256[:16] in result.detail


@BOTH_SEMANTICS
def test_bad_signature_on_presented_intermediate(lab, semantics):
    # the peer sends an intermediate with the right subject but a different key
    lookalike = lab.root.issue_intermediate("mrakit Test Issuing CA", organization="mrakit tests")
    assert lookalike.cert.subject_name == lab.intermediate.cert.subject_name
    result = verify_chain(lab.leaf.cert, [lab.root.cert], [lookalike.cert], semantics=semantics)
    assert result.reason is ChainReason.BAD_SIGNATURE
    assert result.culprit == lab.leaf.cert


@BOTH_SEMANTICS
def test_certificate_signed_by_a_leaf_is_not_a_ca(lab, semantics, sign_raw, openssl_verify, tmp_path):
    leaf = lab.intermediate.issue_leaf("not-a-ca.example.com")
    victim = sign_raw("victim.example.com", leaf.cert, leaf.key, generate_private_key("p256"))
    assert victim.issuer_name == leaf.cert.subject_name
    assert victim.is_signed_by(leaf.cert)
    result = verify_chain(victim, [lab.root.cert], [leaf.cert, lab.intermediate.cert], semantics=semantics)
    assert not result.valid
    assert result.reason is ChainReason.NOT_A_CA
    assert result.culprit == leaf.cert
    assert result.path == (victim, leaf.cert, lab.intermediate.cert, lab.root.cert)
    assert not openssl_verify(tmp_path, victim, [lab.root.cert], [leaf.cert, lab.intermediate.cert])


@pytest.fixture(scope="module")
def twin_roots():
    """Two roots with identical subjects and different keys; the leaf is signed by `signer`."""
    signer = CertificateAuthority.create_root("Twin Root", organization="Example")
    other = CertificateAuthority.create_root("Twin Root", organization="Example")
    assert signer.cert.subject_name == other.cert.subject_name
    assert signer.cert.public_key_fingerprint_sha256 != other.cert.public_key_fingerprint_sha256
    leaf = signer.issue_leaf("cucm.example.com")
    return signer, other, leaf


def test_same_subject_shadowing_fails_expressway_only(twin_roots):
    signer, other, leaf = twin_roots
    trust = [other.cert, signer.cert]
    expressway = verify_chain(leaf.cert, trust, semantics="expressway")
    assert not expressway.valid
    assert expressway.reason is ChainReason.SHADOWED_BY_SAME_SUBJECT
    assert expressway.rule == "MRA022"
    assert expressway.shadowing_entry == other.cert
    assert expressway.shadowed_entry == signer.cert
    assert expressway.culprit == leaf.cert
    assert other.cert.fingerprint_sha256[:16] in expressway.detail
    assert signer.cert.fingerprint_sha256[:16] in expressway.detail
    assert "trust entry 1" in expressway.detail
    assert "trust entry 2" in expressway.detail

    standard = verify_chain(leaf.cert, trust, semantics="openssl")
    assert standard.valid, standard.detail
    assert standard.path == (leaf.cert, signer.cert)


@BOTH_SEMANTICS
def test_same_subject_in_signing_order_passes(twin_roots, semantics):
    signer, other, leaf = twin_roots
    result = verify_chain(leaf.cert, [signer.cert, other.cert], semantics=semantics)
    assert result.valid, result.detail
    assert result.path == (leaf.cert, signer.cert)


def test_shadowing_by_same_key_expired_cross_sign():
    """Synthetic copy of the ISRG X2 case: an expired cross-signed copy (same subject and key) of a
    root placed above the self-signed root takes the Expressway down an expired path."""
    old_root = CertificateAuthority.create_root("Old Root")
    new_root = CertificateAuthority.create_root("New Root")
    cross = old_root.issue_intermediate(
        "New Root", key=new_root.key, not_before=LONG_AGO, days=30
    )
    assert cross.cert.subject_name == new_root.cert.subject_name
    leaf = new_root.issue_leaf("host.example.com")
    for trust in ([cross.cert, new_root.cert, old_root.cert], [cross.cert, new_root.cert]):
        expressway = verify_chain(leaf.cert, trust, semantics="expressway")
        assert expressway.reason is ChainReason.SHADOWED_BY_SAME_SUBJECT, expressway.detail
        assert expressway.shadowing_entry == cross.cert
        assert expressway.shadowed_entry == new_root.cert
        assert cross.cert.fingerprint_sha256[:16] in expressway.detail
        assert verify_chain(leaf.cert, trust, semantics="openssl").valid
    fixed = verify_chain(leaf.cert, [new_root.cert, cross.cert, old_root.cert], semantics="expressway")
    assert fixed.valid, fixed.detail
    assert fixed.path == (leaf.cert, new_root.cert)


@BOTH_SEMANTICS
def test_self_signed_leaf_trusted_directly(semantics):
    root = CertificateAuthority.create_root("Self CA")
    assert verify_chain(root.cert, [root.cert], purpose="both", semantics=semantics).valid
    result = verify_chain(root.cert, [], semantics=semantics)
    assert result.reason is ChainReason.UNTRUSTED_ROOT


def test_naive_datetime_is_taken_as_utc(lab):
    naive = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert verify_chain(lab.leaf.cert, [lab.root.cert], [lab.intermediate.cert], at=naive).valid
    far = naive + dt.timedelta(days=4000)
    assert verify_chain(lab.leaf.cert, [lab.root.cert], [lab.intermediate.cert], at=far).reason is ChainReason.EXPIRED


def test_result_to_dict(lab):
    result = verify_chain(lab.leaf.cert, [lab.root.cert], [], purpose="server", semantics="expressway")
    record = result.to_dict()
    assert record == {
        "valid": False,
        "path": [lab.leaf.cert.subject],
        "reason": "missing_issuer",
        "detail": result.detail,
        "rule": "MRA020",
        "semantics": "expressway",
        "purpose": "server",
    }


@BOTH_SEMANTICS
def test_peer_certificates_are_not_used_above_a_trusted_intermediate(semantics, openssl_verify, tmp_path):
    """OpenSSL stops using the peer's certificates once the chain reaches a trusted one: a trusted
    issuing CA whose own issuer is only presented by the peer does not chain to the trusted root."""
    root = CertificateAuthority.create_root("Policy Root")
    policy = root.issue_intermediate("Policy CA")
    issuing = policy.issue_intermediate("Issuing CA below Policy CA")
    leaf = issuing.issue_leaf("host.example.com")
    trust, untrusted = [root.cert, issuing.cert], [policy.cert]
    result = verify_chain(leaf.cert, trust, untrusted, semantics=semantics)
    assert not result.valid
    assert result.reason is ChainReason.MISSING_ISSUER
    assert result.rule == "MRA021"
    assert result.culprit == issuing.cert
    assert result.missing_issuer == policy.cert.subject
    assert "among the certificates presented" in result.detail
    assert not openssl_verify(tmp_path, leaf.cert, trust, untrusted)
    # with the policy CA in the trust list too, the chain is complete
    assert verify_chain(leaf.cert, [*trust, policy.cert], semantics=semantics).valid
    # and with the issuing CA only presented, the peer's certificates complete the chain
    assert verify_chain(leaf.cert, [root.cert], [issuing.cert, policy.cert], semantics=semantics).valid


@BOTH_SEMANTICS
def test_trusted_intermediate_with_only_a_presented_root_is_missing_issuer(lab, semantics):
    result = verify_chain(lab.leaf.cert, [lab.intermediate.cert], [lab.root.cert], semantics=semantics)
    assert result.reason is ChainReason.MISSING_ISSUER
    assert result.rule == "MRA021"
    assert result.missing_issuer == lab.root.cert.subject


def _ca_with_path_length(parent: CertificateAuthority, common_name: str, path_length: int) -> CertificateAuthority:
    key = generate_private_key("p256")
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(parent.cert.subject_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
    )
    return CertificateAuthority(CertView(builder.sign(parent.key, hashes.SHA256())), key)


@BOTH_SEMANTICS
def test_path_length_constraint(semantics, openssl_verify, tmp_path):
    root = CertificateAuthority.create_root("Pathlen Root")
    issuing = _ca_with_path_length(root, "Issuing CA pathlen 0", 0)
    assert issuing.cert.path_length == 0
    direct = issuing.issue_leaf("ok.example.com")
    assert verify_chain(direct.cert, [root.cert], [issuing.cert], semantics=semantics).valid
    below = issuing.issue_intermediate("CA below a pathlen 0 CA")
    leaf = below.issue_leaf("too-deep.example.com")
    result = verify_chain(leaf.cert, [root.cert], [issuing.cert, below.cert], semantics=semantics)
    assert not result.valid
    assert result.reason is ChainReason.NOT_A_CA
    assert result.culprit == issuing.cert
    assert "pathlen" in result.detail
    assert not openssl_verify(tmp_path, leaf.cert, [root.cert], [issuing.cert, below.cert])
    # pathlen 1 leaves room for exactly one CA below it
    roomy = _ca_with_path_length(root, "Issuing CA pathlen 1", 1)
    sub = roomy.issue_intermediate("CA below a pathlen 1 CA")
    deep = sub.issue_leaf("deep.example.com")
    assert verify_chain(deep.cert, [root.cert], [roomy.cert, sub.cert], semantics=semantics).valid
