"""The few AXL SOAP envelopes mrakit needs, built by hand (the WSDL is not redistributable)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mrakit.errors import AdapterError

AXL_VERSION = "15.0"


def axl_version_for(major: int) -> str:
    """The AXL schema version to speak to a CUCM of this major version: CUCM refuses a newer one."""
    return {10: "10.0", 11: "11.0", 12: "12.0", 14: "14.0"}.get(major, "15.0" if major >= 15 else "10.0")
_ENVELOPE = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:ns="http://www.cisco.com/AXL/API/{version}"><soapenv:Header/><soapenv:Body>{body}'
    "</soapenv:Body></soapenv:Envelope>"
)


def envelope(body: str, version: str = AXL_VERSION) -> str:
    return _ENVELOPE.format(version=version, body=body)


def list_phone_security_profile(version: str = AXL_VERSION) -> str:
    return envelope(
        "<ns:listPhoneSecurityProfile><searchCriteria><name>%</name></searchCriteria><returnedTags>"
        "<name/><phoneType/><securityMode/></returnedTags></ns:listPhoneSecurityProfile>",
        version,
    )


def list_process_node(version: str = AXL_VERSION) -> str:
    return envelope(
        "<ns:listProcessNode><searchCriteria><name>%</name></searchCriteria><returnedTags><name/>"
        "</returnedTags></ns:listProcessNode>",
        version,
    )


def get_ccm_version(version: str = AXL_VERSION) -> str:
    return envelope("<ns:getCCMVersion/>", version)


def rows(xml_text: str, row_tag: str, node: str) -> list[dict[str, str]]:
    """Every <row_tag> element in the SOAP body as {child tag: text}, namespaces stripped."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise AdapterError(f"{node} returned an unreadable AXL answer: {exc}", node=node) from None
    found = []
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == row_tag:
            found.append({child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in element})
    return found


def first_text(xml_text: str, tag: str, node: str) -> str:
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise AdapterError(f"{node} returned an unreadable AXL answer: {exc}", node=node) from None
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == tag:
            return element.text or ""
    return ""
