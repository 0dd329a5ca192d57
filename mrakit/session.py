"""A session connects: the adapters for every node of an inventory, opened by the inventory's
connection kind (`defaults.connection`).

Kinds are registered by name. `rest` (the real boxes) is built in; any other kind is looked up in
the `mrakit.connection_kinds` entry point group, which is how the embedded lab provides `lab`
without the core importing it. A library user can register a kind of their own."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import TracebackType
from typing import Any

from mrakit.adapters.axl import axl_version_for
from mrakit.adapters.base import CucmApi, ExpresswayApi
from mrakit.adapters.cucm_rest import CucmRest
from mrakit.adapters.expressway_rest import ExpresswayRest
from mrakit.adapters.rest import RestSettings, verify_setting
from mrakit.errors import InventoryError
from mrakit.inventory.credentials import ApiKind, ResolvedCredentials, resolve_credentials
from mrakit.inventory.model import Inventory
from mrakit.pki.ca import CertificateAuthority
from mrakit.pki.certview import CertView

ENTRY_POINT_GROUP = "mrakit.connection_kinds"
# The kinds that ship with mrakit, as pyproject.toml declares them: named, not imported, so the core
# never loads the lab unless an inventory asks for it.
_SHIPPED_KINDS = {"lab": "mrakit.lab.connection:LAB_KIND"}


@dataclass
class Session:
    """Adapters by node FQDN. Close it (or use `with`) to release what the kind opened."""

    expressway: dict[str, ExpresswayApi] = field(default_factory=dict)
    cucm: dict[str, CucmApi] = field(default_factory=dict)
    closers: list[Callable[[], None]] = field(default_factory=list, repr=False)  # run by close(), last first

    def on_close(self, closer: Callable[[], None]) -> None:
        self.closers.append(closer)

    def close(self) -> None:
        while self.closers:
            self.closers.pop()()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # What a handshake proof (doctor) needs beyond the adapters; a kind that knows better overrides.
    def node_identities(self) -> dict[tuple[str, str], tuple[CertView, str]] | None:
        """(node, kind) → (certificate, private key PEM) the nodes hold, where the session can see
        them; None: only the key files the inventory names are known."""
        return None

    def tls_address(self, fqdn: str, listener: str, default: tuple[str, int]) -> tuple[str, int] | None:
        """Where `listener` (traversal, sip-tls, tomcat) of `fqdn` answers; None: it does not."""
        return default


@dataclass(frozen=True)
class OpenRequest:
    """What an opener gets: the inventory, its logins (resolved once), the retry budget, and the
    options only its kind understands (the lab's `lab=` and `lab_endpoints=`)."""

    inventory: Inventory
    credentials: ResolvedCredentials
    attempts: int = 5
    max_retry_seconds: float = 60.0
    options: Mapping[str, Any] = field(default_factory=dict)


Opener = Callable[[OpenRequest], Session]
# The CA that signs a CSR of `cluster` in a test deployment, and the chain above it (`mrakit sign`).
Issuer = Callable[[Inventory, str], tuple[CertificateAuthority, list[CertView]]]


@dataclass(frozen=True)
class ConnectionKind:
    name: str
    open: Opener
    issuer: Issuer | None = None


_KINDS: dict[str, ConnectionKind] = {}


def register_connection_kind(name: str, opener: Opener, *, issuer: Issuer | None = None) -> ConnectionKind:
    """Make `defaults.connection: <name>` open sessions with `opener` (replacing a kind of that name)."""
    kind = ConnectionKind(name, opener, issuer)
    _KINDS[name] = kind
    return kind


def connection_kind(name: str, *, file: str | None = None) -> ConnectionKind:
    """The kind registered as `name`, loading it from its entry point the first time. `file`: the
    inventory that asked for it, named in the error for an unknown kind."""
    if name not in _KINDS:
        found = [point for point in entry_points(group=ENTRY_POINT_GROUP) if point.name == name]
        if not found and name in _SHIPPED_KINDS:
            # A source checkout (or an install older than the kind) has no entry point metadata.
            found = [EntryPoint(name, _SHIPPED_KINDS[name], ENTRY_POINT_GROUP)]
        if not found:
            known = sorted({*_KINDS, *(point.name for point in entry_points(group=ENTRY_POINT_GROUP))})
            raise InventoryError(f"unknown connection kind {name!r} (known: {', '.join(known)})", file=file,
                                 path="defaults.connection")
        loaded = found[0].load()
        if isinstance(loaded, ConnectionKind):
            _KINDS[name] = ConnectionKind(name, loaded.open, loaded.issuer)
        elif callable(loaded):
            register_connection_kind(name, loaded)
        else:
            raise InventoryError(f"the entry point of connection kind {name!r} ({found[0].value}) is neither "
                                 "a ConnectionKind nor an opener", file=file, path="defaults.connection")
    return _KINDS[name]


def _kind_of(inventory: Inventory) -> ConnectionKind:
    return connection_kind(inventory.defaults.connection, file=str(inventory.path))


def kind_issuer(inventory: Inventory) -> Issuer | None:
    """The test CA the inventory's connection kind signs with, if it has one (the lab's)."""
    return _kind_of(inventory).issuer


def connect(inventory: Inventory, *, environ: Mapping[str, str] | None = None, attempts: int = 5,
            max_retry_seconds: float = 60.0, **options: Any) -> Session:
    """A session for every Expressway peer and CUCM node, opened by the inventory's connection kind.
    Passwords are read now (a missing one is an InventoryError before anything is contacted)."""
    kind = _kind_of(inventory)
    credentials = resolve_credentials(inventory, environ)
    return kind.open(OpenRequest(inventory, credentials, attempts, max_retry_seconds, options))


@contextmanager
def session_for(inventory: Inventory, given: Session | None, *, environ: Mapping[str, str] | None = None,
                **options: Any) -> Iterator[Session]:
    """`given`, left open; or a session of its own, closed on the way out."""
    if given is not None:
        yield given
        return
    with connect(inventory, environ=environ, **options) as own:
        yield own


def rest_session(request: OpenRequest, *, urls: Mapping[str, Mapping[str, str]] | None = None,
                 verify: bool | str | None = None, trust_env: bool = True, into: Session | None = None) -> Session:
    """REST adapters for every node, in `into` (or a new Session). `urls`: node FQDN → its API URLs
    (`api`, and `axl` for CUCM) where they are not the inventory's addresses; `verify` replaces the
    inventory's `api_tls` setting."""
    inventory, credentials, defaults = request.inventory, request.credentials, request.inventory.defaults
    urls = urls or {}
    tls = verify_setting(defaults.api_tls.verify, defaults.api_tls.ca_bundle) if verify is None else verify

    def settings(fqdn: str, address: str | None, port: int, api: ApiKind, url_kind: str = "api") -> RestSettings:
        user, password = credentials.login(fqdn, api)
        host = f"[{address}]" if address and ":" in address else (address or fqdn)  # IPv6 in brackets
        given_url = urls.get(fqdn, {}).get(url_kind)
        return RestSettings(
            base_url=given_url or (f"https://{host}" if port == 443 else f"https://{host}:{port}"),
            tls_server_name=fqdn if address and not given_url else None,
            username=user, password=password, verify=tls,
            connect_timeout=defaults.timeouts.connect, read_timeout=defaults.timeouts.read,
            attempts=request.attempts, max_retry_seconds=request.max_retry_seconds, pool_size=defaults.workers,
            trust_env=trust_env,
        )

    session = Session() if into is None else into
    for cluster in inventory.expressway.values():
        for peer in cluster.peers:
            expressway = ExpresswayRest(peer.fqdn, settings(peer.fqdn, peer.address, peer.api_port, "expressway"))
            session.expressway[peer.fqdn] = expressway
            session.on_close(expressway.close)
    for cucm in inventory.cucm.values():
        for node in cucm.nodes:
            server = CucmRest(node.fqdn, settings(node.fqdn, node.address, node.api_port, "cucm"),
                              settings(node.fqdn, node.address, cucm.axl_port, "cucm_axl", "axl"),
                              axl_version=axl_version_for(cucm.version.major))
            session.cucm[node.fqdn] = server
            session.on_close(server.close)
    return session


register_connection_kind("rest", rest_session)


__all__ = [
    "ENTRY_POINT_GROUP",
    "ConnectionKind",
    "Issuer",
    "OpenRequest",
    "Opener",
    "Session",
    "connect",
    "connection_kind",
    "kind_issuer",
    "register_connection_kind",
    "rest_session",
    "session_for",
]
