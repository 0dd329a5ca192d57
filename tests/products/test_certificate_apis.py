"""The certificate calls as the products answer them: the Expressway's on-box CSR, and CUCM's trust
store that keeps one certificate per name. Each upload is confirmed by reading it back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from _productkit import CUCM_LOGIN, EXPC1, EXPRESSWAY_LOGIN, PUB, SUB, lab_get, lab_post

from mrakit.errors import AdapterError, UnsupportedOperation
from mrakit.pki.ca import CertificateAuthority
from mrakit.session import Session

CSR_PATH = "/api/provisioning/certs/generate_csr"


def test_the_csr_post_answers_without_the_csr_and_takes_only_known_keys(
        make_deployment: Callable[..., Any], lab_connections: Callable[..., Session]) -> None:
    connections = lab_connections(make_deployment().path)
    assert connections.lab is not None
    url = connections.lab.endpoints[EXPC1].api + CSR_PATH
    assert lab_get(connections, url, auth=EXPRESSWAY_LOGIN).status_code == 404  # nothing pending
    refused = lab_post(connections, url, auth=EXPRESSWAY_LOGIN, json={"CommonName": "x.acme.local"})
    assert refused.status_code == 400 and "CommonName" in refused.json()["Message"]
    assert lab_post(connections, url, auth=EXPRESSWAY_LOGIN, json={"DigestAlgorithm": "SHA-256"}).status_code == 400
    made = lab_post(connections, url, auth=EXPRESSWAY_LOGIN,
                    json={"Additional_FQDNS": ["acme.com"], "KeyLength": 2048, "DigestAlgorithm": "sha256"})
    assert made.status_code == 200 and made.json() == {"Message": "The operation was successful"}
    pending = lab_get(connections, url, auth=EXPRESSWAY_LOGIN)
    assert pending.status_code == 200 and "BEGIN CERTIFICATE REQUEST" in pending.text
    again = lab_post(connections, url, auth=EXPRESSWAY_LOGIN, json={"Additional_FQDNS": []})
    assert again.status_code == 409 and again.json() == {"Message": "Conflict"}
    # mrakit reads the pending CSR back and, since it carries every name asked for, reuses it
    csr = connections.expressway[EXPC1].generate_csr("expc.acme.local", ("expc.acme.local", EXPC1, "acme.com"))
    assert "BEGIN" not in str(csr) and csr.public_key().public_numbers()  # a parsed CSR, the box's key


def _same_name_cas() -> tuple[CertificateAuthority, CertificateAuthority, CertificateAuthority]:
    """Three CAs named "Renewed CA": an old one, one renewed later, and one that starts earlier still."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)

    def named(offset_days: int) -> CertificateAuthority:
        return CertificateAuthority.create_root("Renewed CA", organization="Acme",
                                                not_before=start + dt.timedelta(days=offset_days))

    return named(0), named(10), named(-10)


def test_cucm_replaces_a_same_name_certificate_that_starts_later_and_skips_one_that_does_not(
        make_deployment: Callable[..., Any], lab_connections: Callable[..., Session]) -> None:
    connections = lab_connections(make_deployment(overrides={"lab": {"replication_delay_ms": 0}}).path)
    pub = connections.cucm[PUB]
    old, newer, older = _same_name_cas()
    pub.add_trusted_certificate("tomcat-trust", old.cert)
    assert old.cert in pub.trusted_certificates("tomcat-trust")
    pub.add_trusted_certificate("tomcat-trust", newer.cert)  # starts later: replaces
    now = pub.trusted_certificates("tomcat-trust")
    assert newer.cert in now and old.cert not in now
    assert newer.cert in connections.cucm[SUB].trusted_certificates("tomcat-trust")  # and replicates
    # starts earlier: CUCM answers success and stores nothing; mrakit reads back and says why
    with pytest.raises(AdapterError, match=r"did not store it: tomcat-trust already holds 'Renewed CA' of the same "
                                           r"name, valid from .*starts later"):
        pub.add_trusted_certificate("tomcat-trust", older.cert)
    assert older.cert not in pub.trusted_certificates("tomcat-trust")


def test_raw_same_name_upload_is_answered_with_success(make_deployment: Callable[..., Any],
                                                      lab_connections: Callable[..., Session]) -> None:
    """What the product does, without mrakit's read-back: a 201 for an upload it did not store."""
    connections = lab_connections(make_deployment().path)
    assert connections.lab is not None
    old, _newer, older = _same_name_cas()
    connections.cucm[PUB].add_trusted_certificate("CallManager-trust", old.cert)
    url = connections.lab.endpoints[PUB].api + "/platformcom/api/v1/certmgr/config/trust/certificates"
    answer = lab_post(connections, url, auth=CUCM_LOGIN,
                      json={"service": ["CallManager"], "certificates": [older.cert.pem], "description": "x"})
    assert answer.status_code == 201
    assert older.cert not in connections.cucm[PUB].trusted_certificates("CallManager-trust")


def test_a_cucm_trust_delete_is_a_manual_step_with_an_unverified_rest_path(
        make_deployment: Callable[..., Any], lab_connections: Callable[..., Session]) -> None:
    connections = lab_connections(make_deployment().path)
    with pytest.raises(UnsupportedOperation, match="REST path unverified"):
        connections.cucm[PUB].remove_trusted_certificate("tomcat-trust", connections.cucm[PUB].trusted_certificates(
            "tomcat-trust")[0])
