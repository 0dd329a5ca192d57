"""The `lab` connection kind: REST adapters to the embedded lab on loopback, which is started
in-process for the session unless a running lab (`lab=`) or the URLs of one serving in another
process (`lab_endpoints=`) are given. Found by mrakit.session through the `mrakit.connection_kinds`
entry point, so the core never imports the lab."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mrakit.inventory.model import Inventory
from mrakit.lab.pki import lab_authorities
from mrakit.lab.server import Lab, started_lab
from mrakit.pki.ca import CertificateAuthority
from mrakit.pki.certview import CertView
from mrakit.pki.load import load_certificates
from mrakit.session import ConnectionKind, OpenRequest, Session, rest_session

# node FQDN → its entry in what `mrakit lab serve` printed, or just its API URL
LabEndpoints = Mapping[str, "str | Mapping[str, Any]"]


@dataclass
class LabSession(Session):
    """A session on the lab: `lab` is the lab these adapters talk to (None when it serves in another
    process), stopped on close() when the session started it."""

    lab: Lab | None = None

    def close(self) -> None:
        super().close()
        self.lab = None

    def node_identities(self) -> dict[tuple[str, str], tuple[CertView, str]] | None:
        if self.lab is None:
            return None
        identities: dict[tuple[str, str], tuple[CertView, str]] = {}
        state = self.lab.state
        with state.lock:
            for fqdn, node in state.expressway.items():
                identities[(fqdn, "server")] = (load_certificates(node.server_chain[0].encode())[0], node.server_key)
                if node.client_chain:
                    identities[(fqdn, "client")] = (load_certificates(node.client_chain[0].encode())[0],
                                                    node.client_key)
            for fqdn, cnode in state.cucm.items():
                identities[(fqdn, "callmanager")] = (load_certificates(cnode.identities["CallManager"][0].encode())[0],
                                                     cnode.identity_keys["CallManager"])
        return identities

    def tls_address(self, fqdn: str, listener: str, default: tuple[str, int]) -> tuple[str, int] | None:
        if self.lab is None:
            return default
        endpoint = self.lab.endpoints.get(fqdn)
        port = endpoint.tls.get(listener) if endpoint else None
        return ("127.0.0.1", port) if port else None


def open_lab_session(request: OpenRequest) -> LabSession:
    """Options: `lab` (a running Lab) or `lab_endpoints` (LabEndpoints; TLS trusts `api_tls.ca_bundle`)."""
    inventory, options = request.inventory, request.options
    lab: Lab | None = options.get("lab")
    endpoints: LabEndpoints | None = options.get("lab_endpoints")
    session = LabSession(lab=lab)
    verify: bool | str | None = None
    if endpoints is not None:
        # A lab already serving in another process (`mrakit lab serve` printed these URLs).
        urls = {fqdn: ({"api": entry} if isinstance(entry, str) else {k: str(v) for k, v in entry.items()
                                                                          if isinstance(v, str)})
                for fqdn, entry in endpoints.items()}
    else:
        if lab is None:
            lab = started_lab(inventory, request.credentials)
            session.on_close(lab.stop)  # first in, so the last thing close() does
        session.lab = lab
        urls = {fqdn: {"api": endpoint.api, **({"axl": endpoint.axl} if endpoint.axl else {})}
                for fqdn, endpoint in lab.endpoints.items()}
        verify = str(lab.ca_bundle) if inventory.defaults.api_tls.verify else False
    # The lab is on loopback: never through a proxy.
    rest_session(request, urls=urls, verify=verify, trust_env=False, into=session)
    return session


def lab_issuer(inventory: Inventory, cluster: str) -> tuple[CertificateAuthority, list[CertView]]:
    """The lab CA that signs a CSR of `cluster` (the public one for an edge, else the private one),
    and the root above it."""
    cas = lab_authorities(inventory.lab_state_dir)
    expressway = inventory.expressway.get(cluster)
    if expressway is not None and expressway.role == "edge":
        return cas.public_issuing, [cas.public_root.cert]
    return cas.private_issuing, [cas.private_root.cert]


LAB_KIND = ConnectionKind("lab", open_lab_session, lab_issuer)

__all__ = ["LAB_KIND", "LabEndpoints", "LabSession", "lab_issuer", "open_lab_session"]
