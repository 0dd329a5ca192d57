"""What `mrakit renew` refuses or leaves alone, with one clear line and nothing changed."""

from __future__ import annotations

import json

from _acmekit import CERT_INSTALL, CSR_POST, EXPE, renew_report_validator, requests_to, run_cli, server_chains
from conftest import TSIG_ENV
from mrakit_testkit import write_inventory

from mrakit.acmerenew.state import STATE_FOLDER
from mrakit.inventory.load import load_inventory


def test_dry_run_lists_what_is_due_and_touches_nothing(acme_deployment) -> None:
    deployment = acme_deployment()
    state_dir = load_inventory(deployment.path).lab_state_dir
    result = run_cli("renew", "-i", deployment.path, "--due-within", "400", "--dry-run")
    assert result.code == 0, result.err
    for fqdn in EXPE:
        assert f"due: {fqdn} [exp-e]: expires" in result.out and f"would renew {fqdn}" in result.out
    assert requests_to(state_dir, CSR_POST) == [] and requests_to(state_dir, CERT_INSTALL) == []
    assert not (deployment.directory / STATE_FOLDER).exists()
    assert not (deployment.directory / "acme" / "account.key").exists()


def test_nothing_due_without_due_within_on_fresh_certificates(acme_deployment) -> None:
    deployment = acme_deployment()
    result = run_cli("renew", "-i", deployment.path)  # the lab's certificates have 180 days left; window 30
    assert result.code == 0 and "nothing is due" in result.out
    assert requests_to(load_inventory(deployment.path).lab_state_dir, CSR_POST) == []


def test_missing_tsig_secret_stops_at_dns_naming_the_variable(acme_deployment, monkeypatch) -> None:
    deployment = acme_deployment()
    old = server_chains(deployment.path, EXPE)
    monkeypatch.delenv(TSIG_ENV)
    result = run_cli("renew", "-i", deployment.path, "--cluster", "exp-e", "--due-within", "400")
    assert result.code == 1
    assert f"stopped at dns: environment variable {TSIG_ENV} (the TSIG secret) is not set" in result.err
    assert "Traceback" not in result.err
    assert server_chains(deployment.path, EXPE) == old


def test_directory_without_dns_update_is_refused_at_load_naming_the_field(acme_deployment) -> None:
    deployment = acme_deployment(converged=False)
    del deployment.data["defaults"]["acme"]["dns_update"]
    write_inventory(deployment.directory, deployment.data)
    result = run_cli("renew", "-i", deployment.path, "--dry-run")
    assert result.code == 1
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"mrakit: error: {deployment.path}:")
    assert "defaults.acme: missing 'dns_update'" in lines[0]


def test_unknown_acme_key_is_refused_by_the_schema(acme_deployment) -> None:
    deployment = acme_deployment(converged=False)
    deployment.data["defaults"]["acme"]["challenge"] = "http-01"
    write_inventory(deployment.directory, deployment.data)
    result = run_cli("validate", "-i", deployment.path)
    assert result.code == 1 and "defaults.acme.challenge" in result.err and "Traceback" not in result.err


def test_issuers_only_section_tracks_trust_but_renews_nothing(acme_deployment, acme_servers) -> None:
    deployment = acme_deployment(converged=False)
    deployment.data["defaults"]["acme"] = {"issuers": str(acme_servers.issuers)}  # E renews itself (its own ACME)
    write_inventory(deployment.directory, deployment.data)
    result = run_cli("renew", "-i", deployment.path, "--due-within", "400")
    assert result.code == 1 and "no `acme` section with a `directory`" in result.err
    inventory = load_inventory(deployment.path)
    assert inventory.acme["exp-e"].issuer_certificates and not inventory.acme["exp-e"].renews


def test_unknown_cluster_or_peer_is_refused_before_anything_is_asked(acme_deployment) -> None:
    import pytest

    from mrakit.acmerenew.flow import renew
    from mrakit.errors import MrakitError

    deployment = acme_deployment(converged=False)
    with pytest.raises(MrakitError, match="no cluster named nope"):
        renew(load_inventory(deployment.path), clusters=["nope"], due_within=400)
    result = run_cli("renew", "-i", deployment.path, "--peer", "expe9.acme.com", "--due-within", "400")
    assert result.code == 1 and "no node named expe9.acme.com" in result.err
    assert requests_to(load_inventory(deployment.path).lab_state_dir, CSR_POST) == []


def test_a_node_that_cannot_be_read_is_never_renewed_blind(acme_deployment) -> None:
    deployment = acme_deployment(converged=False)
    deployment.data["lab"]["nodes"] = {"expe2.acme.com": {"down": True}}
    write_inventory(deployment.directory, deployment.data)
    result = run_cli("renew", "-i", deployment.path, "--cluster", "exp-e", "--due-within", "400", "--dry-run")
    assert result.code == 1
    assert "expe2.acme.com: stopped at select: could not be read" in result.err
    assert "would renew expe1.acme.com" in result.out and "would renew expe2.acme.com" not in result.out
    as_json = run_cli("renew", "-i", deployment.path, "--cluster", "exp-e", "--due-within", "400", "--dry-run",
                      "--format", "json")
    report = json.loads(as_json.out)
    renew_report_validator().validate(report)
    assert report["failed"] and {(o["node"], o["status"], o["stage"]) for o in report["outcomes"]} == {
        ("expe1.acme.com", "would-renew", "select"), ("expe2.acme.com", "failed", "select")}
