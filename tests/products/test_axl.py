"""AXL as CUCM serves it: its own port and account, a SOAPAction naming the operation, returned tags
the schema type knows (a SOAP fault otherwise), and only call-processing servers as CUCM servers."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from _productkit import CUCM_LOGIN, EXPC1, EXPRESSWAY_LOGIN, PUB, SUB, lab_get, lab_post

from mrakit.adapters.axl import AXL_VERSION, envelope, list_phone_security_profile, soap_action
from mrakit.errors import AuthError
from mrakit.inventory.credentials import resolve_credentials
from mrakit.inventory.load import load_inventory
from mrakit.lab.server import started_lab
from mrakit.session import Session, connect

OLD_ENVELOPE = envelope("<ns:listPhoneSecurityProfile><searchCriteria><name>%</name></searchCriteria><returnedTags>"
                        "<name/><phoneType/><securityMode/></returnedTags></ns:listPhoneSecurityProfile>")


def axl(connections: Session, body: str, action: str, login: tuple[str, str] = CUCM_LOGIN) -> Any:
    assert connections.lab is not None
    endpoint = connections.lab.endpoints[PUB].axl
    assert endpoint is not None
    return lab_post(connections, endpoint + "/axl/", data=body, auth=login,
                    headers={"Content-Type": "text/xml", "SOAPAction": action})


def test_phone_security_profiles_are_read_with_device_security_mode(
        make_deployment: Callable[..., Any], lab_connections: Callable[..., Session]) -> None:
    connections = lab_connections(make_deployment().path)
    profiles = {p.name: p for p in connections.cucm[PUB].phone_security_profiles()}
    assert profiles["secure-8865.acme.local"].security_mode == "Encrypted"
    assert profiles["secure-8865.acme.local"].secure and profiles["secure-8865.acme.local"].fqdn_form
    # Cisco's own secure profiles are named with spaces: secure, but no name a certificate can carry
    standard = profiles["Cisco 8865 - Standard SIP Secure Profile"]
    assert standard.secure and not standard.fqdn_form
    assert not profiles["Universal Device Template - Model-independent Security Profile"].secure
    # the request asks for the tag the schema type has
    assert "<deviceSecurityMode/>" in list_phone_security_profile() and "securityMode/>" not in \
        list_phone_security_profile().replace("deviceSecurityMode", "")


def test_a_returned_tag_the_schema_lacks_is_a_soap_fault(make_deployment: Callable[..., Any],
                                                         lab_connections: Callable[..., Session]) -> None:
    connections = lab_connections(make_deployment().path)
    answer = axl(connections, OLD_ENVELOPE, soap_action("listPhoneSecurityProfile"))
    assert answer.status_code == 500
    assert "<faultstring>" in answer.text and "securityMode" in answer.text
    right = axl(connections, list_phone_security_profile(), soap_action("listPhoneSecurityProfile"))
    assert right.status_code == 200 and "deviceSecurityMode" in right.text


@pytest.mark.parametrize("action", ["", f"CUCM:DB ver={AXL_VERSION}", f'"CUCM:DB ver={AXL_VERSION} listProcessNode"'])
def test_the_soap_action_must_name_the_operation(make_deployment: Callable[..., Any],
                                                 lab_connections: Callable[..., Session], action: str) -> None:
    connections = lab_connections(make_deployment().path)
    answer = axl(connections, list_phone_security_profile(), action)
    assert answer.status_code == 500 and "SOAPAction" in answer.text
    assert soap_action("listPhoneSecurityProfile") == f'"CUCM:DB ver={AXL_VERSION} listPhoneSecurityProfile"'


def test_process_nodes_are_the_call_processing_servers_only(make_deployment: Callable[..., Any],
                                                            lab_connections: Callable[..., Session]) -> None:
    connections = lab_connections(make_deployment().path)
    raw = axl(connections, envelope("<ns:listProcessNode><searchCriteria><name>%</name></searchCriteria>"
                                    "<returnedTags><name/><processNodeRole/></returnedTags></ns:listProcessNode>"),
              soap_action("listProcessNode"))
    assert raw.status_code == 200
    assert "EnterpriseWideData" in raw.text and "CUCM IM and Presence" in raw.text  # the lab lists an IM&P server
    assert connections.cucm[PUB].process_nodes() == (PUB, SUB)


def test_axl_is_on_its_own_port_with_its_own_account(make_deployment: Callable[..., Any],
                                                     lab_connections: Callable[..., Session],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MRAKIT_AXL_PASSWORD", "axl-app-user-secret")
    deployment = make_deployment(overrides={"defaults": {"credentials": {
        "cucm_axl": {"username": "axluser", "password_env": "MRAKIT_AXL_PASSWORD"}}}})
    connections = lab_connections(deployment.path)
    assert connections.lab is not None
    endpoint = connections.lab.endpoints[PUB]
    assert endpoint.axl is not None and endpoint.axl != endpoint.api
    # the platform API does not serve AXL, and the platform account cannot use AXL
    on_platform = lab_post(connections, endpoint.api + "/axl/", data=list_phone_security_profile(), auth=CUCM_LOGIN,
                           headers={"SOAPAction": soap_action("listPhoneSecurityProfile")})
    assert on_platform.status_code == 404
    assert axl(connections, list_phone_security_profile(), soap_action("listPhoneSecurityProfile")).status_code == 401
    # mrakit uses each account where it belongs
    assert connections.cucm[PUB].version() == "15.0.1"
    assert connections.cucm[PUB].trusted_certificates("tomcat-trust")
    # the Expressway-C reports the AXL account for its CUCM server, as the product does
    servers = lab_get(connections, connections.lab.endpoints[EXPC1].api + "/api/provisioning/controller/server/cucm",
                      auth=EXPRESSWAY_LOGIN).json()
    assert servers == [{"Publisher": PUB, "AxlUsername": "axluser"}]


def test_a_wrong_axl_password_is_an_authentication_error(make_deployment: Callable[..., Any],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MRAKIT_AXL_PASSWORD", "right")
    deployment = make_deployment(overrides={"defaults": {"credentials": {
        "cucm_axl": {"username": "axluser", "password_env": "MRAKIT_AXL_PASSWORD"}}}})
    inventory = load_inventory(deployment.path)
    lab = started_lab(inventory, resolve_credentials(inventory))  # the lab expects "right"
    try:
        with connect(inventory, lab=lab, attempts=1, environ={**os.environ, "MRAKIT_AXL_PASSWORD": "wrong"}) as conns:
            with pytest.raises(AuthError, match="axluser@cucm-pub"):
                conns.cucm[PUB].version()
            assert conns.cucm[PUB].trusted_certificates("tomcat-trust")  # the platform login still works
    finally:
        lab.stop()
