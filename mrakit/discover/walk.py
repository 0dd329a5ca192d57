"""Walk a deployment from the nodes named on the command line: each Expressway's cluster peers,
traversal zone and CUCM servers, each CUCM publisher's call-processing servers. Every node is read
once; each wave of newly named nodes is read in parallel. What fails is a located one-line Problem,
and the walk carries on with the rest."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from mrakit.adapters import axl
from mrakit.adapters.base import CUCM_SERVICE_OF_KIND, CUCM_TRUST_UNITS, PhoneSecurityProfile
from mrakit.adapters.cucm_rest import CucmRest
from mrakit.adapters.expressway_rest import ExpresswayRest
from mrakit.adapters.rest import json_of
from mrakit.errors import AdapterError, MrakitError
from mrakit.inventory.versions import CucmVersion
from mrakit.pki.certview import CertView

SYSINFO = "/api/provisioning/sysinfo"
CUCM_SERVERS = "/api/provisioning/controller/server/cucm"
TRAVERSAL_CLIENT = "/api/provisioning/controller/zone/traversalclient"  # ASSUMED path and shape
TRAVERSAL_UNREADABLE = "traversal zone not readable: name --expressway for the edge too"
_PEER_FIELD = re.compile(r"^Peer\d*Address$", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    """What could not be read, where, and why: one line."""

    node: str
    message: str

    def line(self) -> str:
        return f"{self.node}: {self.message}"


@dataclass(frozen=True)
class ExpresswayFound:
    name: str
    version: str
    role: Literal["edge", "control"]
    role_from: str  # where the role was read
    system_name: str
    peers: tuple[str, ...]
    domains: tuple[str, ...]
    server_chain: tuple[CertView, ...]
    trusted: tuple[CertView, ...]
    cucm_servers: tuple[dict[str, str], ...] = ()  # control: each CUCM server entry as the box answers it
    traversal_peers: tuple[str, ...] | None = None  # control: the traversal client zone's peers; None: unreadable


@dataclass(frozen=True)
class CucmFound:
    name: str
    publisher: str
    version: str
    identities: dict[str, tuple[CertView, ...]]  # inventory kind (tomcat, callmanager, ...) → chain
    trust: dict[str, tuple[CertView, ...]]
    process_nodes: tuple[str, ...] = ()  # publisher only
    profiles: tuple[PhoneSecurityProfile, ...] = ()  # publisher only


@dataclass
class Discovery:
    expressway: dict[str, ExpresswayFound] = field(default_factory=dict)
    cucm: dict[str, CucmFound] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    referred: dict[str, str] = field(default_factory=dict)  # node → who named it ("cluster peer of …")


class NotExpressway(MrakitError):
    pass


def _answers(adapter: ExpresswayRest, path: str, what: str) -> Any | None:
    """The JSON of a GET, or None where the box has no such resource (404/405)."""
    try:
        return json_of(adapter.client.read(path), adapter.node, what)
    except AdapterError as exc:
        if exc.status in (404, 405):
            return None
        raise


def read_expressway(adapter: ExpresswayRest) -> ExpresswayFound:
    try:
        info = json_of(adapter.client.read(SYSINFO), adapter.node, "sysinfo")
    except AdapterError as exc:
        if exc.status in (404, 405):
            raise NotExpressway(f"does not answer as an Expressway (no {SYSINFO}: {exc.status})") from None
        raise
    product = str(info.get("ProductType", "")) if isinstance(info, dict) else ""
    if not isinstance(info, dict) or (product and not re.search(r"expressway|vcs|tandberg", product, re.I)):
        raise NotExpressway(f"does not answer as an Expressway (sysinfo ProductType {product!r})")
    version = str(info.get("Version") or info.get("SoftwareVersion") or "")
    servers = _answers(adapter, CUCM_SERVERS, "CUCM servers")
    role_text = str(info.get("Role", "")).strip().lower()
    role: Literal["edge", "control"]
    if role_text in ("edge", "control"):
        role, role_from = ("edge" if role_text == "edge" else "control"), "sysinfo Role (assumed field)"
    else:
        role = "control" if servers is not None else "edge"
        role_from = ("it answers controller/server/cucm" if servers is not None
                     else "it does not answer controller/server/cucm")
    cucm_servers: tuple[dict[str, str], ...] = ()
    traversal: tuple[str, ...] | None = None
    if role == "control":
        cucm_servers = tuple({k: str(v) for k, v in item.items()} for item in servers or []
                             if isinstance(item, dict) and item.get("Publisher"))
        zones = _answers(adapter, TRAVERSAL_CLIENT, "traversal client zones")
        if isinstance(zones, list):
            traversal = tuple(dict.fromkeys(str(v).lower() for zone in zones if isinstance(zone, dict)
                                            for k, v in zone.items() if _PEER_FIELD.match(k) and v))
    return ExpresswayFound(
        name=adapter.node, version=version, role=role, role_from=role_from,
        system_name=str(info.get("SystemName", "")), peers=adapter.cluster_peers(), domains=adapter.domains(),
        server_chain=adapter.server_certificate(), trusted=adapter.trusted_cas(), cucm_servers=cucm_servers,
        traversal_peers=traversal)


def read_cucm(adapter: CucmRest, publisher: str, publisher_version: str | None) -> CucmFound:
    """A CUCM server. The publisher is also read through AXL (version, servers, profiles)."""
    is_publisher = publisher_version is None
    nodes: tuple[str, ...] = ()
    profiles: tuple[PhoneSecurityProfile, ...] = ()
    if is_publisher:
        version = adapter.version()
        with contextlib.suppress(ValueError):
            adapter.axl_version = axl.axl_version_for(CucmVersion.parse(version).major)
        nodes = adapter.process_nodes()
        profiles = adapter.phone_security_profiles()
    else:
        version = publisher_version or ""
    identities: dict[str, tuple[CertView, ...]] = {}
    for kind, service in CUCM_SERVICE_OF_KIND.items():
        try:
            chain = adapter.identity_certificate(service)
        except AdapterError as exc:
            if exc.status == 404:
                continue  # no such identity (no ECDSA certificate, say)
            raise
        if chain:
            identities[kind] = chain
    trust = {unit: adapter.trusted_certificates(unit) for unit in CUCM_TRUST_UNITS}
    return CucmFound(adapter.node, publisher, version, identities, trust, nodes, profiles)


ExpresswayOpener = Callable[[str], ExpresswayRest]
CucmOpener = Callable[[str], CucmRest]


def walk(expressways: list[str], cucms: list[str], open_expressway: ExpresswayOpener, open_cucm: CucmOpener,
         *, workers: int = 8) -> Discovery:
    """Read the named nodes, then what they name, wave by wave, until nothing new is named."""
    found = Discovery()
    seen: set[str] = set()
    todo: list[tuple[str, str, str, str | None]] = []  # (product, name, publisher, publisher version)

    def name(product: str, node: str, referred: str, publisher: str = "", version: str | None = None) -> None:
        node = node.lower()
        if node in seen:
            if product == "expressway" and node in found.cucm:
                found.problems.append(Problem(node, f"{referred} names it, but it answered as a CUCM server"))
            return
        seen.add(node)
        found.referred[node] = referred
        todo.append((product, node, publisher or node, version))

    for node in expressways:
        name("expressway", node, "named with --expressway")
    for node in cucms:
        name("cucm", node, "named with --cucm")

    def read(job: tuple[str, str, str, str | None]) -> ExpresswayFound | CucmFound | Problem:
        product, node, publisher, version = job
        try:
            if product == "expressway":
                adapter = open_expressway(node)
                try:
                    return read_expressway(adapter)
                finally:
                    adapter.close()
            cucm = open_cucm(node)
            try:
                return read_cucm(cucm, publisher, version)
            finally:
                cucm.close()
        except MrakitError as exc:
            message = str(exc).removeprefix(f"{node}: ")
            return Problem(node, f"{message} ({found.referred.get(node, '')})")

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        while todo:
            wave, todo[:] = list(todo), []
            for result in pool.map(read, wave):
                if isinstance(result, Problem):
                    found.problems.append(result)
                elif isinstance(result, ExpresswayFound):
                    found.expressway[result.name] = result
                    for peer in result.peers:
                        name("expressway", peer, f"cluster peer of {result.name}")
                    for peer in result.traversal_peers or ():
                        name("expressway", peer, f"traversal zone peer of {result.name}")
                    for entry in result.cucm_servers:
                        name("cucm", entry["Publisher"], f"CUCM server of {result.name}")
                else:
                    found.cucm[result.name] = result
                    for server in result.process_nodes:
                        name("cucm", server, f"call-processing server of {result.name}", result.name,
                             result.version)
    return found
