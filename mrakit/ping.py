"""`mrakit ping`: can mrakit use every node? Read-only, step by step, in parallel: name resolution,
TCP, TLS trust of the management certificate, login, API answering (product and version), read
rights. The first step that fails is the cause; the steps after it are not tried."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from mrakit.adapters.cucm_rest import CucmRest
from mrakit.adapters.expressway_rest import ExpresswayRest
from mrakit.adapters.rest import RestClient
from mrakit.errors import AuthError, MrakitError
from mrakit.inventory.model import Inventory
from mrakit.session import connect

_Rest = TypeVar("_Rest", ExpresswayRest, CucmRest)
STEPS = ("resolve", "tcp", "tls", "login", "api", "read")


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class PingResult:
    """One API of one node: the Expressway REST API, a CUCM server's platform API, or AXL."""

    node: str
    cluster: str
    api: str
    endpoint: str
    steps: tuple[Step, ...]
    product: str = ""
    version: str = ""
    seconds: float = 0.0

    @property
    def usable(self) -> bool:
        return len(self.steps) == len(STEPS) and all(s.ok for s in self.steps)

    @property
    def cause(self) -> str:
        failed = next((s for s in self.steps if not s.ok), None)
        return f"{failed.name}: {failed.detail}" if failed else ""

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "cluster": self.cluster, "api": self.api, "endpoint": self.endpoint,
                "usable": self.usable, "product": self.product, "version": self.version, "cause": self.cause,
                "seconds": round(self.seconds, 3), "steps": [s.to_dict() for s in self.steps]}


class _Failed(Exception):
    def __init__(self, step: str, detail: str) -> None:
        super().__init__(detail)
        self.step = step
        self.detail = detail


def _transport(client: RestClient, timeout: float) -> list[Step]:
    """Resolve, connect and shake hands the way the API client will, verifying as it will."""
    settings = client.settings
    url = urlsplit(settings.base_url)
    host, port = url.hostname or "", url.port or 443
    steps: list[Step] = []
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise _Failed("resolve", f"{host} does not resolve ({exc.strerror})") from None
    steps.append(Step("resolve", True, ", ".join(sorted({str(a[4][0]) for a in addresses}))))
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise _Failed("tcp", f"cannot connect to {host}:{port} ({reason})") from None
    steps.append(Step("tcp", True, f"{host}:{port}"))
    name = settings.tls_server_name or client.node
    context = ssl.create_default_context()
    if settings.verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif isinstance(settings.verify, str):
        try:
            context.load_verify_locations(cafile=settings.verify)
        except (OSError, ssl.SSLError) as exc:
            raw.close()
            raise _Failed("tls", f"cannot read the CA bundle {settings.verify} ({exc})") from None
    try:
        with context.wrap_socket(raw, server_hostname=name) as tls:
            version = tls.version()
    except ssl.SSLCertVerificationError as exc:
        raise _Failed("tls", f"the management certificate is not trusted for {name}: {exc.verify_message} "
                             "(check api_tls.ca_bundle)") from None
    except (ssl.SSLError, OSError) as exc:
        raise _Failed("tls", f"TLS handshake failed: {getattr(exc, 'reason', None) or exc}") from None
    finally:
        raw.close()
    verified = "not verified (api_tls.verify: false)" if settings.verify is False else f"verified for {name}"
    steps.append(Step("tls", True, f"{version}, {verified}"))
    return steps


def _api(step_login: Callable[[], str], step_read: Callable[[], str]) -> tuple[list[Step], str]:
    """Log in and read the version (one call proves both), then prove read rights."""
    steps: list[Step] = []
    try:
        version = step_login()
    except AuthError as exc:
        raise _Failed("login", str(exc)) from None
    except MrakitError as exc:
        status = getattr(exc, "status", None)
        if status in (404, 405):
            raise _Failed("api", f"the API does not answer ({exc}); is it enabled for this account?") from None
        raise _Failed("api", str(exc)) from None
    steps.append(Step("login", True, "accepted"))
    steps.append(Step("api", True, f"version {version}" if version else "answers"))
    try:
        steps.append(Step("read", True, step_read()))
    except MrakitError as exc:
        raise _Failed("read", str(exc)) from None
    return steps, version


def _ping(node: str, cluster: str, api: str, client: RestClient, product: str,
          login: Callable[[], str], read: Callable[[], str], timeout: float) -> PingResult:
    started = time.monotonic()
    steps: list[Step] = []
    version = ""
    try:
        steps += _transport(client, timeout)
        more, version = _api(login, read)
        steps += more
    except _Failed as failed:
        steps.append(Step(failed.step, False, failed.detail))
    return PingResult(node, cluster, api, client.settings.base_url, tuple(steps), product, version,
                      time.monotonic() - started)


def _rest(adapter: object, rest: type[_Rest], inventory: Inventory) -> _Rest:
    """Ping checks the transport of REST APIs: adapters of another kind have none to check."""
    if not isinstance(adapter, rest):
        raise MrakitError(f"{inventory.path}: ping checks REST management APIs; the connection kind "
                          f"{inventory.defaults.connection!r} gives {type(adapter).__name__} adapters")
    return adapter


def ping(inventory: Inventory, *, environ: Mapping[str, str] | None = None, workers: int | None = None,
         timeout: float = 5.0, **options: Any) -> list[PingResult]:
    """Every node's APIs, checked step by step; no write is made. Passwords are read from where the
    inventory says (a missing one is an InventoryError before anything is contacted). `options`: those
    of the inventory's connection kind (the lab's `lab=`: a lab already running, else one is started)."""
    jobs: list[Callable[[], PingResult]] = []
    with connect(inventory, environ=environ, attempts=1, max_retry_seconds=timeout, **options) as connections:
        for cluster in inventory.expressway.values():
            for peer in cluster.peers:
                adapter = _rest(connections.expressway[peer.fqdn], ExpresswayRest, inventory)

                def read_expressway(a: ExpresswayRest = adapter) -> str:
                    return f"{len(a.trusted_cas())} trusted CA(s) readable"

                jobs.append(lambda a=adapter, c=cluster.name, r=read_expressway: _ping(  # type: ignore[misc]
                    a.node, c, "Expressway REST", a.client, "Expressway", a.version, r, timeout))
        for cucm in inventory.cucm.values():
            for server in cucm.nodes:
                cucm_adapter = _rest(connections.cucm[server.fqdn], CucmRest, inventory)

                def read_trust(a: CucmRest = cucm_adapter) -> str:
                    return f"{len(a.trusted_certificates('tomcat-trust'))} tomcat-trust certificate(s) readable"

                def platform_login(a: CucmRest = cucm_adapter) -> str:
                    a.trusted_certificates("CallManager-trust")
                    return ""  # the platform API reports no version; AXL does, on the publisher

                jobs.append(lambda a=cucm_adapter, c=cucm.name, r=read_trust, lg=platform_login: _ping(  # type: ignore[misc]
                    a.node, c, "CUCM platform REST", a.client, "CUCM", lg, r, timeout))
                if server is cucm.publisher:  # AXL is read on the publisher only

                    def read_axl(a: CucmRest = cucm_adapter) -> str:
                        return f"{len(a.process_nodes())} call-processing server(s) listed"

                    jobs.append(lambda a=cucm_adapter, c=cucm.name, r=read_axl: _ping(  # type: ignore[misc]
                        a.node, c, "CUCM AXL", a.axl_client, "CUCM", a.version, r, timeout))
        with ThreadPoolExecutor(max_workers=max(1, workers or inventory.defaults.workers)) as pool:
            return list(pool.map(lambda job: job(), jobs))
