"""Open adapters for every node of an inventory: REST to real boxes, or to the embedded lab."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType

from mrakit.adapters.axl import axl_version_for
from mrakit.adapters.cucm_rest import CucmRest
from mrakit.adapters.expressway_rest import ExpresswayRest
from mrakit.adapters.rest import RestSettings, verify_setting
from mrakit.errors import InventoryError
from mrakit.inventory.model import Inventory
from mrakit.lab.server import Lab, started_lab


def resolve_credentials(inventory: Inventory, environ: Mapping[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """(username, password) per product, read now from the variables or files the inventory names."""
    resolved = {}
    for product in ("expressway", "cucm"):
        needed = inventory.expressway if product == "expressway" else inventory.cucm
        if not needed:
            continue
        credential = inventory.defaults.credentials.get(product)
        if credential is None:
            raise InventoryError(f"no credentials for {product}: add defaults.credentials.{product}",
                                 file=str(inventory.path), path=f"defaults.credentials.{product}")
        try:
            resolved[product] = (credential.username, credential.password(environ))
        except InventoryError as exc:
            raise InventoryError(exc.message, file=str(inventory.path), path=exc.path) from None
    return resolved


@dataclass
class Connections:
    """Adapters by node FQDN. Close it (or use `with`) to release sessions and stop an in-process lab."""

    expressway: dict[str, ExpresswayRest] = field(default_factory=dict)
    cucm: dict[str, CucmRest] = field(default_factory=dict)
    lab: Lab | None = None  # the lab these adapters talk to (for lab inventories)
    owns_lab: bool = False  # started by connect(): stopped by close()

    def close(self) -> None:
        for adapter in self.expressway.values():
            adapter.close()
        for cucm in self.cucm.values():
            cucm.close()
        if self.lab is not None and self.owns_lab:
            self.lab.stop()
        self.lab = None

    def __enter__(self) -> Connections:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def connect(
    inventory: Inventory,
    *,
    environ: Mapping[str, str] | None = None,
    lab: Lab | None = None,
    lab_endpoints: Mapping[str, str] | None = None,
    attempts: int = 5,
    max_retry_seconds: float = 60.0,
) -> Connections:
    """Adapters for every Expressway peer and CUCM node. With `connection: lab` the lab is started
    in-process for the lifetime of the returned Connections, unless a running `lab` is given or
    `lab_endpoints` (node FQDN → API URL of a lab serving elsewhere; TLS trusts `api_tls.ca_bundle`)."""
    credentials = resolve_credentials(inventory, environ)
    defaults = inventory.defaults
    own_lab = None
    urls: dict[str, str] = {}
    verify = verify_setting(defaults.api_tls.verify, defaults.api_tls.ca_bundle)
    if defaults.connection == "lab" and lab_endpoints is not None:
        # A lab already serving in another process (`mrakit lab serve` printed these URLs).
        urls = dict(lab_endpoints)
    elif defaults.connection == "lab":
        if lab is None:
            lab = own_lab = started_lab(inventory, credentials)
        urls = {fqdn: endpoint.api for fqdn, endpoint in lab.endpoints.items()}
        verify = str(lab.ca_bundle) if defaults.api_tls.verify else False

    def settings(product: str, fqdn: str, address: str | None) -> RestSettings:
        user, password = credentials[product]
        host = f"[{address}]" if address and ":" in address else (address or fqdn)  # IPv6 in brackets
        return RestSettings(
            base_url=urls.get(fqdn) or f"https://{host}",
            tls_server_name=fqdn if address and fqdn not in urls else None,
            username=user, password=password, verify=verify,
            connect_timeout=defaults.timeouts.connect, read_timeout=defaults.timeouts.read,
            attempts=attempts, max_retry_seconds=max_retry_seconds, pool_size=defaults.workers,
            trust_env=defaults.connection != "lab",  # the lab is on loopback: never through a proxy
        )

    connections = Connections(lab=lab, owns_lab=own_lab is not None)
    for cluster in inventory.expressway.values():
        for peer in cluster.peers:
            connections.expressway[peer.fqdn] = ExpresswayRest(
                peer.fqdn, settings("expressway", peer.fqdn, peer.address))
    for cucm in inventory.cucm.values():
        for node in cucm.nodes:
            connections.cucm[node.fqdn] = CucmRest(node.fqdn, settings("cucm", node.fqdn, node.address),
                                                   axl_version=axl_version_for(cucm.version.major))
    return connections
