"""Which login each API of each node uses, and the passwords resolved from where the inventory says.

Expressway peers use `defaults.credentials.expressway`. A CUCM server's platform (OS administrator)
API uses the server's own `credentials.cucm`, else its cluster's, else the defaults'. AXL takes an
application user: the cluster's `credentials.cucm_axl`, else the defaults', else the platform account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from mrakit.errors import InventoryError
from mrakit.inventory.model import Credential, Inventory

ApiKind = Literal["expressway", "cucm", "cucm_axl"]
API_KINDS: tuple[ApiKind, ...] = ("expressway", "cucm", "cucm_axl")


def credential_for(inventory: Inventory, fqdn: str, api: ApiKind) -> tuple[Credential | None, str]:
    """The credential reference for one node's API, and the inventory field it would come from."""
    defaults = inventory.defaults.credentials
    if api == "expressway":
        return defaults.get("expressway"), "defaults.credentials.expressway"
    for cluster in inventory.cucm.values():
        if not any(n.fqdn == fqdn for n in cluster.nodes):
            continue
        node = cluster.node(fqdn)
        if api == "cucm_axl":
            candidates = ((cluster.credentials.get("cucm_axl"), f"cucm.{cluster.name}.credentials.cucm_axl"),
                          (defaults.get("cucm_axl"), "defaults.credentials.cucm_axl"))
            for credential, where in candidates:
                if credential is not None:
                    return credential, where
        if "cucm" in node.credentials:
            return node.credentials["cucm"], node.credentials["cucm"].where
        if "cucm" in cluster.credentials:
            return cluster.credentials["cucm"], f"cucm.{cluster.name}.credentials.cucm"
        return defaults.get("cucm"), "defaults.credentials.cucm"
    raise KeyError(fqdn)


@dataclass(frozen=True)
class ResolvedCredentials:
    """(username, password) per (node, API). Holds secrets: never log or print it."""

    logins: Mapping[tuple[str, ApiKind], tuple[str, str]]

    def login(self, fqdn: str, api: ApiKind) -> tuple[str, str]:
        return self.logins[(fqdn, api)]

    def accepts(self, fqdn: str, api: ApiKind, username: str, password: str) -> bool:
        expected = self.logins.get((fqdn, api))
        return expected is not None and expected == (username, password)

    def __repr__(self) -> str:  # never the passwords
        return f"ResolvedCredentials({len(self.logins)} logins)"


def resolve_credentials(inventory: Inventory, environ: Mapping[str, str] | None = None) -> ResolvedCredentials:
    """Read every password now from the variables or files the inventory names. InventoryError names
    the field (and the variable or file), never a value."""
    logins: dict[tuple[str, ApiKind], tuple[str, str]] = {}
    cache: dict[int, str] = {}

    def resolve(fqdn: str, api: ApiKind) -> None:
        credential, where = credential_for(inventory, fqdn, api)
        if credential is None:
            product = "expressway" if api == "expressway" else "cucm"
            raise InventoryError(f"no credentials for {product}: add defaults.credentials.{product}",
                                 file=str(inventory.path), path=f"defaults.credentials.{product}")
        if id(credential) not in cache:
            try:
                cache[id(credential)] = credential.password(environ)
            except InventoryError as exc:
                raise InventoryError(exc.message, file=str(inventory.path), path=exc.path or where) from None
        logins[(fqdn, api)] = (credential.username, cache[id(credential)])

    for cluster in inventory.expressway.values():
        for peer in cluster.peers:
            resolve(peer.fqdn, "expressway")
    for cucm in inventory.cucm.values():
        for node in cucm.nodes:
            resolve(node.fqdn, "cucm")
            resolve(node.fqdn, "cucm_axl")
    return ResolvedCredentials(logins)
