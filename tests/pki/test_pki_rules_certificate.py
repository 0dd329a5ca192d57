"""Single-certificate findings (mrakit.rules.certificate): MRA001, MRA004, MRA006, MRA007, MRA009."""

from __future__ import annotations

import datetime as dt

import pytest

from mrakit.findings import Severity
from mrakit.pki import CLIENT_AUTH, SERVER_AUTH
from mrakit.rules.certificate import (
    DEFAULT_WINDOW_DAYS,
    check_both_ekus,
    check_common_name,
    check_san_limit,
    check_validity,
    check_wildcard,
    single_certificate_findings,
)

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def codes(findings):
    return sorted(f.code for f in findings)


@pytest.fixture(scope="module")
def good(lab):
    return lab.intermediate.issue_leaf("expe.example.com", ["expe1.example.com"]).cert


def test_good_leaf_has_no_findings(good):
    assert single_certificate_findings(good, NOW) == []


@pytest.mark.parametrize(
    ("ekus", "missing"),
    [([SERVER_AUTH], [CLIENT_AUTH]), ([CLIENT_AUTH], [SERVER_AUTH]),
     (["1.3.6.1.5.5.7.3.3"], [SERVER_AUTH, CLIENT_AUTH])],
)
def test_mra001_fires_when_an_eku_is_missing(lab, ekus, missing):
    cert = lab.intermediate.issue_leaf("expe.example.com", ekus=ekus).cert
    findings = check_both_ekus(cert)
    assert codes(findings) == ["MRA001"]
    finding = findings[0]
    assert finding.severity is Severity.ERROR
    assert finding.evidence["missing"] == missing
    assert " and ".join(missing) in finding.message
    assert "MRA001" in codes(single_certificate_findings(cert, NOW))


@pytest.mark.parametrize("ekus", [[SERVER_AUTH, CLIENT_AUTH], [], ["2.5.29.37.0"]], ids=["both", "none", "any"])
def test_mra001_silent_for_both_ekus_or_no_restriction(lab, ekus):
    cert = lab.intermediate.issue_leaf("expe.example.com", ekus=ekus).cert
    assert check_both_ekus(cert) == []


def test_mra001_ignores_cas(lab):
    from mrakit.pki import CertificateAuthority

    restricted = CertificateAuthority.create_root("Server-only Root", ekus=[SERVER_AUTH])
    assert check_both_ekus(restricted.cert) == []
    assert codes(single_certificate_findings(restricted.cert, NOW)) == []


def test_mra004_wildcard_san(lab, good):
    cert = lab.intermediate.issue_leaf("expe.example.com", ["*.example.com"]).cert
    findings = check_wildcard(cert)
    assert codes(findings) == ["MRA004"]
    assert findings[0].severity is Severity.ERROR
    assert findings[0].evidence["wildcards"] == ["*.example.com"]
    assert "*.example.com" in findings[0].message
    assert check_wildcard(good) == []


def test_mra004_wildcard_cn(lab):
    cert = lab.intermediate.issue_leaf("*.example.com").cert
    assert check_wildcard(cert)[0].evidence["wildcards"] == ["*.example.com"]


def test_mra006_lists_the_ignored_names(lab, good):
    names = [f"peer-{i:02d}.mra-expressway-edge.example.com" for i in range(1, 36)]
    cert = lab.intermediate.issue_leaf("cluster.example.com", names).cert
    assert cert.san_field_length > 999
    findings = check_san_limit(cert)
    assert codes(findings) == ["MRA006"]
    finding = findings[0]
    assert finding.severity is Severity.ERROR
    ignored = list(cert.sans_beyond_limit)
    assert ignored and ignored[-1] == names[-1]
    assert finding.evidence == {"san_field_length": cert.san_field_length, "ignored": ignored}
    assert finding.message.endswith(", ".join(ignored))
    assert str(cert.san_field_length) in finding.message
    kept = [n for n in cert.dns_sans if n not in ignored]
    assert all(name not in finding.message for name in kept[1:])  # kept[0] is the CN, named as the cert
    assert check_san_limit(good) == []


def test_mra006_silent_at_exactly_999(lab):
    # CN "c.example.com" = "DNS:c.example.com" (17) then names of ", DNS:" + 30 characters (36 each)
    names = [f"n{i:02d}".ljust(30, "x") for i in range(27)]  # 17 + 27 * 36 = 989
    names.append("z" * 4)  # ", DNS:zzzz" = 10 → 999
    cert = lab.intermediate.issue_leaf("c.example.com", names).cert
    assert cert.san_field_length == 999
    assert check_san_limit(cert) == []
    longer = lab.intermediate.issue_leaf("c.example.com", [*names[:-1], "z" * 5]).cert
    assert longer.san_field_length == 1000
    assert check_san_limit(longer)[0].evidence["ignored"] == ["z" * 5]


def test_mra007_expired_is_an_error(lab):
    cert = lab.intermediate.issue_leaf("old.example.com", not_before=NOW - dt.timedelta(days=100), days=30).cert
    findings = check_validity(cert, NOW)
    assert codes(findings) == ["MRA007"]
    assert findings[0].severity is Severity.ERROR
    assert "expired on" in findings[0].message
    assert findings[0].evidence["not_after"] == cert.not_after.isoformat()


def test_mra007_not_yet_valid_is_an_error(lab):
    cert = lab.intermediate.issue_leaf("new.example.com", not_before=NOW + dt.timedelta(days=2)).cert
    findings = check_validity(cert, NOW)
    assert findings[0].severity is Severity.ERROR
    assert "not valid before" in findings[0].message


def test_mra007_warning_inside_the_window(lab):
    cert = lab.intermediate.issue_leaf("soon.example.com", not_before=NOW - dt.timedelta(days=350), days=360).cert
    findings = check_validity(cert, NOW)
    assert codes(findings) == ["MRA007"]
    assert findings[0].severity is Severity.WARNING
    assert "in 10 days" in findings[0].message or "in 9 days" in findings[0].message
    # a narrower window silences it, a wider one keeps it
    assert check_validity(cert, NOW, window_days=5) == []
    assert check_validity(cert, NOW, window_days=60)[0].severity is Severity.WARNING


def test_mra007_silent_outside_the_window(lab):
    cert = lab.intermediate.issue_leaf("fine.example.com", days=DEFAULT_WINDOW_DAYS + 5).cert
    assert check_validity(cert, NOW) == []
    assert check_validity(cert, NOW + dt.timedelta(days=6))[0].severity is Severity.WARNING
    assert check_validity(cert, NOW + dt.timedelta(days=DEFAULT_WINDOW_DAYS + 6))[0].severity is Severity.ERROR


def test_mra007_applies_to_cas(lab):
    from mrakit.pki import CertificateAuthority

    old_root = CertificateAuthority.create_root("Old Root", not_before=NOW - dt.timedelta(days=100), days=30)
    assert codes(single_certificate_findings(old_root.cert, NOW)) == ["MRA007"]


def test_mra009_leaf_without_cn(lab, good):
    nameless = lab.intermediate.issue_leaf(None, ["expe.example.com"], organization="Example").cert
    findings = check_common_name(nameless)
    assert codes(findings) == ["MRA009"]
    assert findings[0].severity is Severity.ERROR
    assert "O=Example" in findings[0].message
    assert check_common_name(good) == []
    assert check_common_name(lab.root.cert) == []


def test_single_certificate_findings_combines_every_check(lab):
    bad = lab.intermediate.issue_leaf(
        None, ["*.example.com"], ekus=[SERVER_AUTH], organization="Example",
        not_before=NOW - dt.timedelta(days=100), days=30,
    ).cert
    assert codes(single_certificate_findings(bad, NOW)) == ["MRA001", "MRA004", "MRA007", "MRA009"]
