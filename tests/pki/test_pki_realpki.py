"""Real public CA certificates (tests/data/realpki): Let's Encrypt R11, R12
and E5 under ISRG Root X1 / X2, and the expired cross-signed X2 that shadows the self-signed X2 (MRA022)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from mrakit.pki import CLIENT_AUTH, SERVER_AUTH, ChainReason, verify_chain

AT = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)  # inside R11/R12/E5 validity, after the cross-sign expired
BOTH_SEMANTICS = pytest.mark.parametrize("semantics", ["openssl", "expressway"])


@pytest.fixture(scope="module")
def isrg(realpki):
    return {
        name: realpki(f"{name}.pem")
        for name in ("r11", "r12", "e5", "isrg-root-x1", "isrg-root-x2", "isrg-root-x2-by-x1")
    }


def test_real_certificates_are_what_the_tests_assume(isrg):
    assert isrg["isrg-root-x1"].self_signed and isrg["isrg-root-x2"].self_signed
    cross, x2 = isrg["isrg-root-x2-by-x1"], isrg["isrg-root-x2"]
    assert cross.subject_name == x2.subject_name
    assert cross.public_key_fingerprint_sha256 == x2.public_key_fingerprint_sha256
    assert cross.fingerprint_sha256 != x2.fingerprint_sha256
    assert not cross.self_signed
    assert cross.not_after < AT < isrg["r11"].not_after


@BOTH_SEMANTICS
@pytest.mark.parametrize(("intermediate", "root"), [("r11", "isrg-root-x1"), ("r12", "isrg-root-x1"),
                                                   ("e5", "isrg-root-x2")])
def test_lets_encrypt_intermediates_chain_to_isrg_roots(isrg, semantics, intermediate, root):
    result = verify_chain(isrg[intermediate], [isrg[root]], purpose="server", semantics=semantics, at=AT)
    assert result.valid, result.detail
    assert result.path == (isrg[intermediate], isrg[root])


@BOTH_SEMANTICS
def test_r11_does_not_chain_to_x2(isrg, semantics):
    result = verify_chain(isrg["r11"], [isrg["isrg-root-x2"]], purpose="server", semantics=semantics, at=AT)
    assert result.reason is ChainReason.MISSING_ISSUER
    assert result.missing_issuer == isrg["isrg-root-x1"].subject


@pytest.mark.parametrize("with_x1", [True, False], ids=["x1-trusted", "x1-absent"])
def test_expired_cross_signed_x2_first_shadows_self_signed_x2(isrg, with_x1):
    cross, x2, x1 = isrg["isrg-root-x2-by-x1"], isrg["isrg-root-x2"], isrg["isrg-root-x1"]
    trust = [cross, x2] + ([x1] if with_x1 else [])
    expressway = verify_chain(isrg["e5"], trust, purpose="server", semantics="expressway", at=AT)
    assert not expressway.valid
    assert expressway.reason is ChainReason.SHADOWED_BY_SAME_SUBJECT
    assert expressway.rule == "MRA022"
    assert expressway.shadowing_entry == cross
    assert expressway.shadowing_entry.fingerprint_sha256 == cross.fingerprint_sha256
    assert expressway.shadowed_entry == x2
    assert cross.fingerprint_sha256[:16] in expressway.detail
    assert x2.fingerprint_sha256[:16] in expressway.detail
    # what the walk tripped over after taking the cross-signed copy
    assert ("expired" if with_x1 else "neither the trust list") in expressway.detail

    standard = verify_chain(isrg["e5"], trust, purpose="server", semantics="openssl", at=AT)
    assert standard.valid, standard.detail
    assert standard.path == (isrg["e5"], x2)


@BOTH_SEMANTICS
@pytest.mark.parametrize("with_x1", [True, False], ids=["x1-trusted", "x1-absent"])
def test_self_signed_x2_first_passes(isrg, semantics, with_x1):
    cross, x2, x1 = isrg["isrg-root-x2-by-x1"], isrg["isrg-root-x2"], isrg["isrg-root-x1"]
    trust = [x2, cross] + ([x1] if with_x1 else [])
    result = verify_chain(isrg["e5"], trust, purpose="server", semantics=semantics, at=AT)
    assert result.valid, result.detail
    assert result.path == (isrg["e5"], x2)


def test_cross_signed_x2_chain_while_it_was_valid(isrg):
    """Before the cross-sign expired, the chain through it to X1 was valid under both semantics."""
    cross, x2, x1 = isrg["isrg-root-x2-by-x1"], isrg["isrg-root-x2"], isrg["isrg-root-x1"]
    when = dt.datetime(2025, 1, 15, tzinfo=dt.UTC)
    for semantics in ("openssl", "expressway"):
        result = verify_chain(isrg["e5"], [cross, x2, x1], purpose="server", semantics=semantics, at=when)
        assert result.valid, (semantics, result.detail)


def test_cert_show_r11_json_subprocess(realpki_dir, run_mrakit):
    proc = run_mrakit("cert", "show", realpki_dir / "r11.pem", "--format", "json")
    assert "Traceback" not in proc.stderr
    records = json.loads(proc.stdout)
    assert len(records) == 1
    record = records[0]
    assert SERVER_AUTH in record["ekus"] and CLIENT_AUTH in record["ekus"]
    assert set(record["ekus"]) == {SERVER_AUTH, CLIENT_AUTH}
    assert record["subject"] == "CN=R11,O=Let's Encrypt,C=US"
    assert record["is_ca"] is True
    assert record["key_type"] == "RSA" and record["key_size"] == 2048
    # a CA only gets MRA007, so the exit code follows its validity today
    expected_rc = 2 if any(f["severity"] == "error" for f in record["findings"]) else 0
    assert proc.returncode == expected_rc, proc.stderr


def test_cert_show_r11_json_in_process(realpki_dir, cli_main):
    run = cli_main("cert", "show", str(realpki_dir / "r11.pem"), "--format", "json")
    record = json.loads(run.out)[0]
    assert record["ekus"] == [CLIENT_AUTH, SERVER_AUTH]  # certificate order
    assert record["fingerprint_sha256"] == record["fingerprint_sha256"].lower()
    assert run.code in (0, 2)


def test_cert_verify_e5_shadowed_via_cli(realpki_dir, run_mrakit):
    proc = run_mrakit(
        "cert", "verify", realpki_dir / "e5.pem",
        "--trust", realpki_dir / "isrg-root-x2-by-x1.pem", "--trust", realpki_dir / "isrg-root-x2.pem",
        "--purpose", "server", "--format", "json",
    )
    # `cert verify` judges at the current time: only meaningful while E5 is valid
    if dt.datetime.now(dt.UTC) > dt.datetime(2027, 3, 12, tzinfo=dt.UTC):
        pytest.skip("E5 has expired; the shadowing is covered at a fixed date above")
    assert proc.returncode == 2, proc.stderr
    assert json.loads(proc.stdout)["reason"] == "shadowed_by_same_subject"
