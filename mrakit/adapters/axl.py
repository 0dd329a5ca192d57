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


# The returned tags must exist in the schema type (RPhoneSecurityProfile has deviceSecurityMode, not
# securityMode): AXL answers a SOAP fault for a tag it does not know.
def list_phone_security_profile(version: str = AXL_VERSION) -> str:
    return envelope(
        "<ns:listPhoneSecurityProfile><searchCriteria><name>%</name></searchCriteria><returnedTags>"
        "<name/><phoneType/><deviceSecurityMode/></returnedTags></ns:listPhoneSecurityProfile>",
        version,
    )


def list_process_node(version: str = AXL_VERSION) -> str:
    return envelope(
        "<ns:listProcessNode><searchCriteria><name>%</name></searchCriteria><returnedTags><name/>"
        "<processNodeRole/></returnedTags></ns:listProcessNode>",
        version,
    )


# Only call-processing nodes are CUCM servers; IM and Presence servers are process nodes too, and the
# EnterpriseWideData row is no server at all.
CALL_PROCESSING_ROLE = "CUCM Voice/Video"
ENTERPRISE_WIDE_DATA = "EnterpriseWideData"


def soap_action(operation: str, version: str = AXL_VERSION) -> str:
    """The SOAPAction header value CUCM expects: the schema version and the operation, quoted."""
    return f'"CUCM:DB ver={version} {operation}"'


def fault_string(xml_text: str) -> str | None:
    """The faultstring of a SOAP fault, or None when the answer is no fault."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError:
        return None
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "faultstring":
            return (element.text or "").strip()
    return None


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
