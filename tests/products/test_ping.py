"""`mrakit ping`: every node's APIs step by step, read-only; each failure names its cause."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from _productkit import EXPE1, PUB, SUB
from mrakit_testkit import PASSWORDS

from mrakit.inventory.credentials import resolve_credentials
from mrakit.inventory.load import load_inventory
from mrakit.lab.server import started_lab
from mrakit.ping import STEPS, ping
from mrakit.pki.ca import CertificateAuthority


def by_api(results: Any) -> dict[tuple[str, str], Any]:
    return {(r.node, r.api): r for r in results}


def test_every_node_usable_and_nothing_written(make_deployment: Callable[..., Any], run_mrakit: Any) -> None:
    deployment = make_deployment()
    proc = run_mrakit("ping", "-i", deployment.path, "--format", "json", env={**os.environ, **PASSWORDS})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data["usable"] is True
    apis = {(a["node"], a["api"]): a for a in data["apis"]}
    # 4 Expressways, 2 CUCM platform APIs, AXL on the publisher
    assert len(apis) == 7 and (PUB, "CUCM AXL") in apis and (SUB, "CUCM AXL") not in apis
    assert [s["step"] for s in apis[(EXPE1, "Expressway REST")]["steps"]] == list(STEPS)
    assert apis[(EXPE1, "Expressway REST")]["version"] == "X15.5.1"
    assert apis[(PUB, "CUCM AXL")]["version"] == "15.0.1"
    log = (load_inventory(deployment.path).lab_state_dir / "requests.jsonl").read_text().splitlines()
    assert log and not [e for e in map(json.loads, log) if e["method"] != "GET" and not e["path"].startswith("/axl")]
    text = run_mrakit("ping", "-i", deployment.path, env={**os.environ, **PASSWORDS})
    assert text.returncode == 0 and "Ping: 7/7 API(s) usable on 6 node(s)" in text.stdout


def test_a_node_down_is_named_with_its_cause(make_deployment: Callable[..., Any], run_mrakit: Any) -> None:
    deployment = make_deployment(overrides={"lab": {"nodes": {SUB: {"down": True}}}})
    proc = run_mrakit("ping", "-i", deployment.path, env={**os.environ, **PASSWORDS})
    assert proc.returncode == 1
    line = next(line for line in proc.stdout.splitlines() if line.startswith(SUB))
    assert "FAIL  tcp: cannot connect to 127.0.0.1:" in line and "refused" in line.lower()
    assert proc.stdout.splitlines()[-1] == f"Ping: 6/7 API(s) usable on 6 node(s); not usable: {SUB}"


def test_a_wrong_password_fails_the_login_step(make_deployment: Callable[..., Any]) -> None:
    inventory = load_inventory(make_deployment().path)
    lab = started_lab(inventory, resolve_credentials(inventory, PASSWORDS))
    try:
        wrong = {**PASSWORDS, "MRAKIT_CUCM_PASSWORD": "not-the-password"}
        results = by_api(ping(inventory, environ=wrong, lab=lab, timeout=3))
    finally:
        lab.stop()
    platform = results[(PUB, "CUCM platform REST")]
    assert not platform.usable
    assert [(s.name, s.ok) for s in platform.steps] == [("resolve", True), ("tcp", True), ("tls", True),
                                                        ("login", False)]
    assert platform.cause.startswith("login: authentication failed for ccmadmin@cucm-pub.acme.local")
    assert "not-the-password" not in json.dumps([r.to_dict() for r in results.values()])
    assert results[(EXPE1, "Expressway REST")].usable


def test_a_wrong_ca_bundle_fails_the_tls_step(make_deployment: Callable[..., Any], run_mrakit: Any) -> None:
    deployment = make_deployment()
    stranger = CertificateAuthority.create_root("Not The Management CA")
    (deployment.directory / "pki" / "mgmt-ca.pem").write_text(stranger.cert.pem)
    proc = run_mrakit("ping", "-i", deployment.path, "--format", "json", env={**os.environ, **PASSWORDS})
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["usable"] is False
    assert all(a["cause"].startswith("tls: the management certificate is not trusted for " + a["node"])
               and "api_tls.ca_bundle" in a["cause"] for a in data["apis"])
