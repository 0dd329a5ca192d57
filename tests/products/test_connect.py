"""Where and as whom mrakit connects: ports per node, AXL on its own port, a CUCM server's own platform
login overriding its cluster's and the defaults (the platform API is per server)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml
from _productkit import CUCM_LOGIN, EXPC1, PUB, SUB, lab_get
from mrakit_testkit import PASSWORDS

from mrakit.inventory.credentials import credential_for
from mrakit.inventory.load import load_inventory
from mrakit.session import Session, connect

SUB_PASSWORD = {"MRAKIT_SUB1_OS_PASSWORD": "sub1-os-admin-secret"}


def with_server_login(path: Any) -> None:
    data = yaml.safe_load(path.read_text())
    data["cucm"]["cucm-main"]["subscribers"][0]["credentials"] = {
        "cucm": {"username": "osadmin", "password_env": "MRAKIT_SUB1_OS_PASSWORD"}}
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_ports_and_logins_of_a_rest_inventory(make_deployment: Callable[..., Any]) -> None:
    path = make_deployment().path
    data = yaml.safe_load(path.read_text())
    data["defaults"]["connection"] = "rest"
    data["expressway"]["exp-c"]["peers"][0]["api_port"] = 8443
    data["cucm"]["cucm-main"]["axl_port"] = 9443
    data["cucm"]["cucm-main"]["credentials"] = {"cucm_axl": {"username": "axl-app", "password_env": "MRAKIT_AXL"}}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with_server_login(path)
    inventory = load_inventory(path)
    environ = {**PASSWORDS, **SUB_PASSWORD, "MRAKIT_AXL": "axl-secret"}
    with connect(inventory, environ=environ) as connections:  # nothing is contacted until a call
        assert connections.expressway[EXPC1].client.settings.base_url == "https://192.0.2.21:8443"
        assert connections.expressway["expc2.acme.local"].client.settings.base_url == "https://192.0.2.22"
        pub, sub = connections.cucm[PUB], connections.cucm[SUB]
        assert pub.client.settings.base_url == "https://192.0.2.31"
        assert pub.axl_client.settings.base_url == "https://192.0.2.31:9443"
        assert (pub.client.settings.username, pub.axl_client.settings.username) == ("ccmadmin", "axl-app")
        assert sub.client.settings.username == "osadmin" and sub.client.settings.password == "sub1-os-admin-secret"
        assert "sub1-os-admin-secret" not in repr(sub.client.settings)
    assert credential_for(inventory, SUB, "cucm")[1] == "cucm.cucm-main.subscribers[0].credentials.cucm"


def test_a_server_with_its_own_platform_login(make_deployment: Callable[..., Any],
                                              lab_connections: Callable[..., Session],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SUB_PASSWORD.items():
        monkeypatch.setenv(name, value)
    path = make_deployment().path
    with_server_login(path)
    connections = lab_connections(path)
    assert connections.cucm[SUB].trusted_certificates("tomcat-trust")  # its own login
    assert connections.cucm[PUB].trusted_certificates("tomcat-trust")  # the cluster's
    assert connections.lab is not None
    url = connections.lab.endpoints[SUB].api + "/platformcom/api/v1/certmgr/config/trust/certificate?service=tomcat"
    assert lab_get(connections, url, auth=CUCM_LOGIN).status_code == 401  # the cluster's login is not the sub's
