"""Open adapters for every node of an inventory: REST to real boxes, or to the embedded lab."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from mrakit.adapters.axl import axl_version_for
from mrakit.adapters.cucm_rest import CucmRest
from mrakit.adapters.expressway_rest import ExpresswayRest
from mrakit.adapters.rest import RestSettings, verify_setting
from mrakit.inventory.credentials import ApiKind, resolve_credentials
from mrakit.inventory.model import Inventory
from mrakit.lab.server import Lab, started_lab


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


LabEndpoints = Mapping[str, "str | Mapping[str, Any]"]


def connect(
    inventory: Inventory,
    *,
    environ: Mapping[str, str] | None = None,
    lab: Lab | None = None,
    lab_endpoints: LabEndpoints | None = None,
    attempts: int = 5,
    max_retry_seconds: float = 60.0,
) -> Connections:
    """Adapters for every Expressway peer and CUCM node. With `connection: lab` the lab is started
    in-process for the lifetime of the returned Connections, unless a running `lab` is given or
    `lab_endpoints` (node FQDN → its entry in what `mrakit lab serve` printed, or just its API URL;
    TLS trusts `api_tls.ca_bundle`)."""
    credentials = resolve_credentials(inventory, environ)
    defaults = inventory.defaults
    own_lab = None
    urls: dict[str, dict[str, str]] = {}
    verify = verify_setting(defaults.api_tls.verify, defaults.api_tls.ca_bundle)
    if defaults.connection == "lab" and lab_endpoints is not None:
        # A lab already serving in another process (`mrakit lab serve` printed these URLs).
        urls = {fqdn: ({"api": entry} if isinstance(entry, str) else {k: str(v) for k, v in entry.items()
                                                                          if isinstance(v, str)})
                for fqdn, entry in lab_endpoints.items()}
    elif defaults.connection == "lab":
        if lab is None:
            lab = own_lab = started_lab(inventory, credentials)
        urls = {fqdn: {"api": endpoint.api, **({"axl": endpoint.axl} if endpoint.axl else {})}
                for fqdn, endpoint in lab.endpoints.items()}
        verify = str(lab.ca_bundle) if defaults.api_tls.verify else False

    def settings(fqdn: str, address: str | None, port: int, api: ApiKind, url_kind: str = "api") -> RestSettings:
        user, password = credentials.login(fqdn, api)
        host = f"[{address}]" if address and ":" in address else (address or fqdn)  # IPv6 in brackets
        lab_url = urls.get(fqdn, {}).get(url_kind)
        return RestSettings(
            base_url=lab_url or (f"https://{host}" if port == 443 else f"https://{host}:{port}"),
            tls_server_name=fqdn if address and not lab_url else None,
            username=user, password=password, verify=verify,
            connect_timeout=defaults.timeouts.connect, read_timeout=defaults.timeouts.read,
            attempts=attempts, max_retry_seconds=max_retry_seconds, pool_size=defaults.workers,
            trust_env=defaults.connection != "lab",  # the lab is on loopback: never through a proxy
        )

    connections = Connections(lab=lab, owns_lab=own_lab is not None)
    for cluster in inventory.expressway.values():
        for peer in cluster.peers:
            connections.expressway[peer.fqdn] = ExpresswayRest(
                peer.fqdn, settings(peer.fqdn, peer.address, peer.api_port, "expressway"))
    for cucm in inventory.cucm.values():
        for node in cucm.nodes:
            connections.cucm[node.fqdn] = CucmRest(
                node.fqdn, settings(node.fqdn, node.address, node.api_port, "cucm"),
                settings(node.fqdn, node.address, cucm.axl_port, "cucm_axl", "axl"),
                axl_version=axl_version_for(cucm.version.major))
    return connections


def rest_settings(base_url: str, username: str, password: str, *, verify: bool | str = True,
                  tls_server_name: str | None = None, attempts: int = 2, max_retry_seconds: float = 10.0,
                  connect_timeout: float = 5.0, read_timeout: float = 30.0) -> RestSettings:
    """Settings for one management API known only by its URL and login (discovery has no inventory yet).
    Loopback URLs (a lab) never go through a proxy."""
    loopback = base_url.startswith(("https://127.", "https://localhost", "https://[::1]"))
    return RestSettings(base_url=base_url, username=username, password=password, verify=verify,
                        tls_server_name=tls_server_name, connect_timeout=connect_timeout,
                        read_timeout=read_timeout, attempts=attempts, max_retry_seconds=max_retry_seconds,
                        trust_env=not loopback)
