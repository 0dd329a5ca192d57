"""A renewal that fails at any step leaves the old certificate in place and working, says where it
stopped, and a re-run resumes and converges: a DNS update the server refuses, an order the CA
cannot validate, a crash between finalize and install."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _acmekit import (
    CERT_INSTALL,
    CSR_POST,
    EXPE,
    READONLY_TSIG_NAME,
    Bind,
    doctor_problems,
    phone_roots,
    requests_to,
    run_cli,
    server_chains,
)
from conftest import TSIG_ENV, ZONES
from mrakit_testkit import write_inventory

from mrakit.acmerenew import flow
from mrakit.acmerenew.order import AcmeAccount
from mrakit.acmerenew.state import STATE_FOLDER
from mrakit.inventory.load import load_inventory
from mrakit.pki.load import load_certificates_file


def _records(deployment: Any) -> dict[str, dict[str, Any]]:
    folder = deployment.directory / STATE_FOLDER
    return {fqdn: json.loads((folder / f"{fqdn}.json").read_text()) for fqdn in EXPE
            if (folder / f"{fqdn}.json").exists()}


def _with_dns_update(deployment: Any, **dns_update: Any) -> None:
    deployment.data["defaults"]["acme"]["dns_update"].update(dns_update)
    write_inventory(deployment.directory, deployment.data)


def _assert_old_certificates_work(deployment: Any, old: dict[str, Any], roots: Path) -> None:
    assert {fqdn: chain[0] for fqdn, chain in server_chains(deployment.path, EXPE).items()} == old
    assert requests_to(load_inventory(deployment.path).lab_state_dir, CERT_INSTALL, EXPE) == []
    assert doctor_problems(deployment.path, roots) == []



def _converges(deployment: Any, roots: Path, old: dict[str, Any]) -> None:
    result = run_cli("renew", "-i", deployment.path, "--cluster", "exp-e", "--due-within", "400")
    assert result.code == 0, result.out + result.err
    now = {fqdn: chain[0] for fqdn, chain in server_chains(deployment.path, EXPE).items()}
    assert all(now[fqdn] != old[fqdn] and "Pebble" in now[fqdn].issuer for fqdn in EXPE)
    assert doctor_problems(deployment.path, roots) == []
    assert all(r["stage"] == "installed" for r in _records(deployment).values())


@pytest.fixture
def edge_before(acme_deployment, acme_servers):  # type: ignore[no-untyped-def]
    def make(**overrides: Any) -> tuple[Any, dict[str, Any], Path]:
        deployment = acme_deployment(**overrides)
        state_dir = load_inventory(deployment.path).lab_state_dir
        roots = phone_roots(deployment.directory, state_dir, acme_servers.pebble.root_pem())
        old = {fqdn: chain[0] for fqdn, chain in server_chains(deployment.path, EXPE).items()}
        assert doctor_problems(deployment.path, roots) == []
        return deployment, old, roots

    return make


def test_refused_dns_update_keeps_the_old_certificate_and_a_rerun_reuses_the_order(
        edge_before, acme_servers, monkeypatch) -> None:
    monkeypatch.setenv("MRAKIT_TEST_TSIG_READONLY", acme_servers.bind.readonly_secret)
    deployment, old, roots = edge_before(dns_update={"tsig_key_name": READONLY_TSIG_NAME,
                                                     "tsig_secret_env": "MRAKIT_TEST_TSIG_READONLY"})
    result = run_cli("renew", "-i", deployment.path, "--cluster", "exp-e", "--due-within", "400")
    assert result.code == 1
    assert "expe1.acme.com: stopped at dns:" in result.err and "REFUSED" in result.err
    assert "old certificate stays in place" in result.err and "Traceback" not in result.err
    assert acme_servers.bind.readonly_secret not in result.out + result.err
    _assert_old_certificates_work(deployment, old, roots)
    orders = {fqdn: record["order_url"] for fqdn, record in _records(deployment).items()}
    assert set(orders) == set(EXPE) and all(orders.values())

    _with_dns_update(deployment, tsig_key_name="mrakit", tsig_secret_env=TSIG_ENV)
    _converges(deployment, roots, old)
    # the same orders completed (their authorizations answered now), and no second CSR on the boxes
    assert {fqdn: record["order_url"] for fqdn, record in _records(deployment).items()} == orders
    state_dir = load_inventory(deployment.path).lab_state_dir
    assert all(len(requests_to(state_dir, CSR_POST, [fqdn])) == 1 for fqdn in EXPE)


def test_order_failing_validation_keeps_the_old_certificate_and_a_rerun_converges(
        edge_before, acme_servers, monkeypatch, tmp_path: Path) -> None:
    # The update goes to a server the CA does not resolve through: the record is published, but
    # not where the CA looks, so the CA really fails the dns-01 validation.
    elsewhere = Bind(tmp_path / "bind-elsewhere", ZONES)
    elsewhere.start()
    try:
        monkeypatch.setenv("MRAKIT_TEST_TSIG_ELSEWHERE", elsewhere.secret)
        deployment, old, roots = edge_before(dns_update={"server": elsewhere.address,
                                                         "tsig_secret_env": "MRAKIT_TEST_TSIG_ELSEWHERE"})
        result = run_cli("renew", "-i", deployment.path, "--cluster", "exp-e", "--due-within", "400")
    finally:
        elsewhere.stop()
    assert result.code == 1
    assert "expe1.acme.com: stopped at validation: the CA could not validate" in result.err, result.err
    _assert_old_certificates_work(deployment, old, roots)

    _with_dns_update(deployment, server=acme_servers.bind.address, tsig_secret_env=TSIG_ENV)
    _converges(deployment, roots, old)


def test_crash_between_finalize_and_install_keeps_the_old_certificate_and_a_rerun_installs_it(
        edge_before, monkeypatch) -> None:
    deployment, old, roots = edge_before()

    def crash(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt  # the process dies after the CA issued, before anything was installed

    with monkeypatch.context() as patched, pytest.raises(KeyboardInterrupt):
        patched.setattr(flow, "_install", crash)
        flow.renew(load_inventory(deployment.path), clusters=["exp-e"], due_within=400)
    records = _records(deployment)
    assert {r["stage"] for r in records.values()} == {"issued"}
    issued = {fqdn: load_certificates_file(r["certificate_file"])[0] for fqdn, r in records.items()}
    _assert_old_certificates_work(deployment, old, roots)

    def no_new_order(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the re-run ordered again instead of installing what the CA issued")

    monkeypatch.setattr(AcmeAccount, "new_order", no_new_order)
    monkeypatch.setattr(AcmeAccount, "certificate", no_new_order)
    _converges(deployment, roots, old)
    now = server_chains(deployment.path, EXPE)
    assert {fqdn: chain[0] for fqdn, chain in now.items()} == issued


def test_renewal_that_installs_but_cannot_verify_everything_exits_1(acme_deployment) -> None:
    deployment = acme_deployment()
    deployment.data["lab"]["nodes"] = {"cucm-sub1.acme.local": {"down": True}}  # a node the apply cannot read
    write_inventory(deployment.directory, deployment.data)
    old = server_chains(deployment.path, EXPE)
    result = run_cli("renew", "-i", deployment.path, "--cluster", "exp-e", "--due-within", "400")
    assert result.code == 1, result.out + result.err
    assert "mrakit: renew: Apply:" in result.err and "see `mrakit doctor`" in result.err
    now = server_chains(deployment.path, EXPE)
    assert all(f"{fqdn}: renewed" in result.out and now[fqdn][0] != old[fqdn][0] for fqdn in EXPE)
