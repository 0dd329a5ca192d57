"""The inventory as typed, immutable values. Built by `mrakit.inventory.load_inventory`."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mrakit.errors import InventoryError, MrakitError
from mrakit.files import MAX_SECRET_BYTES, read_limited
from mrakit.inventory.versions import CucmVersion, ExpresswayVersion
from mrakit.pki.certview import CertView

Role = Literal["edge", "control"]


@dataclass(frozen=True)
class Credential:
    """A reference to a secret: the variable or file that holds the password, never the password."""

    username: str
    password_env: str | None = None
    password_file: Path | None = None
    where: str = ""  # the inventory field, for error messages

    def password(self, environ: Mapping[str, str] | None = None) -> str:
        """Resolve the password now. Raises InventoryError naming the variable or file, not the value."""
        if self.password_env:
            env = os.environ if environ is None else environ
            value = env.get(self.password_env)
            if value is None or value == "":
                raise InventoryError(f"environment variable {self.password_env} is not set", path=self.where)
            return value
        if self.password_file is not None:
            return _password_from_file(self.password_file, self.where)
        raise InventoryError("no password_env or password_file", path=self.where)


def _password_from_file(path: Path, where: str) -> str:
    """The password in `path`: refused when others may read the file (as ssh refuses such a key) or
    when it is empty, like an empty variable."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise InventoryError(f"cannot read password file {path} ({exc.strerror})", path=where) from None
    if mode & 0o077:
        raise InventoryError(f"password file {path} is readable by others (mode {mode & 0o777:o}); "
                             f"make it private: chmod 600 {path}", path=where)
    try:
        raw = read_limited(path, MAX_SECRET_BYTES, "a password file")
        value = raw.decode("utf-8").rstrip("\r\n")
    except MrakitError as exc:
        raise InventoryError(str(exc), path=where) from None
    except UnicodeDecodeError:
        raise InventoryError(f"password file {path} is not UTF-8 text", path=where) from None
    if not value:
        raise InventoryError(f"password file {path} is empty", path=where)
    return value


@dataclass(frozen=True)
class CertificateFile:
    """A certificate file named in the inventory: its leaf first, then any chain that came with it."""

    path: Path
    certificates: tuple[CertView, ...]
    key_path: Path | None = None
    renewal: bool = False  # handed in with --certificates: install it, even over a same-age certificate

    @property
    def leaf(self) -> CertView:
        return self.certificates[0]

    @property
    def chain(self) -> tuple[CertView, ...]:
        return self.certificates[1:]


@dataclass(frozen=True)
class Authority:
    name: str
    file: Path
    certificates: tuple[CertView, ...]
    description: str = ""


@dataclass(frozen=True)
class ExpresswayPeer:
    fqdn: str
    address: str | None = None
    certificate: CertificateFile | None = None
    client_certificate: CertificateFile | None = None
    api_port: int = 443


@dataclass(frozen=True)
class ExpresswayCluster:
    name: str
    role: Role
    version: ExpresswayVersion
    cluster_fqdn: str
    peers: tuple[ExpresswayPeer, ...]
    domains: tuple[str, ...] = ()
    chat_node_aliases: tuple[str, ...] = ()
    federation_domains: tuple[str, ...] = ()
    traversal: str | None = None
    cucm: tuple[str, ...] = ()
    trust: tuple[str, ...] = ()
    server_eku_upload: bool = False
    san_domain_form: Literal["domain", "collab-edge"] = "domain"
    prune: bool | None = None

    @property
    def is_edge(self) -> bool:
        return self.role == "edge"

    @property
    def clustered(self) -> bool:
        return len(self.peers) > 1

    @property
    def split_client_certificate(self) -> bool:
        """X15.5+: separate server and client certificate stores."""
        return self.version.at_least("X15.5")


CUCM_CERTIFICATE_KINDS = ("tomcat", "callmanager", "tomcat_ecdsa", "callmanager_ecdsa")


@dataclass(frozen=True)
class CucmNode:
    """One CUCM server. Its platform API is its own: trust reads, identities, CSRs and installs go to it."""

    fqdn: str
    address: str | None = None
    api_port: int = 443
    certificates: Mapping[str, CertificateFile] = field(default_factory=dict)
    credentials: Mapping[str, Credential] = field(default_factory=dict)


@dataclass(frozen=True)
class CucmCluster:
    name: str
    version: CucmVersion
    publisher: CucmNode
    subscribers: tuple[CucmNode, ...] = ()
    tls_verify: bool = True
    secure_registration: bool = False
    phone_security_profiles: tuple[str, ...] | None = None
    certificates: Mapping[str, CertificateFile] = field(default_factory=dict)  # multi-server (every node's SANs)
    credentials: Mapping[str, Credential] = field(default_factory=dict)
    axl_port: int = 8443

    @property
    def nodes(self) -> tuple[CucmNode, ...]:
        return (self.publisher, *self.subscribers)

    def node(self, fqdn: str) -> CucmNode:
        for node in self.nodes:
            if node.fqdn == fqdn:
                return node
        raise KeyError(fqdn)

    def certificates_of(self, node: CucmNode) -> dict[str, CertificateFile]:
        """The identity files the inventory names for `node`: its own, else the cluster's multi-server ones."""
        return {**self.certificates, **node.certificates}

    def multi_server(self, kind: str, node: CucmNode) -> bool:
        """The `kind` certificate of `node` is the cluster's multi-server one (installed once, on the publisher)."""
        return kind in self.certificates and kind not in node.certificates


@dataclass(frozen=True)
class Endpoints:
    phones: bool = True
    jabber: bool = True
    tc_endpoints: bool = False

    @property
    def devices_in_scope(self) -> bool:
        """Phones or room endpoints: devices whose trust list cannot be edited (MRA005, MRA013)."""
        return self.phones or self.tc_endpoints


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    read: float = 30.0


@dataclass(frozen=True)
class ApiTls:
    verify: bool = True
    ca_bundle: Path | None = None


@dataclass(frozen=True)
class DnsUpdate:
    """RFC 2136 dynamic update with a TSIG key; the secret is read from `tsig_secret_env` when needed."""

    host: str
    port: int
    tsig_key_name: str
    tsig_secret_env: str
    tsig_algorithm: str = "hmac-sha256"
    zone: str | None = None
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class AcmeSettings:
    """Where `mrakit renew` gets certificates: an ACME CA, dns-01 through `dns_update`. A section with
    only `issuers` describes a CA the box renews from by itself (Expressway-E's own ACME client):
    mrakit then keeps the trust in step but does not renew. `where` is the inventory field."""

    directory: str = ""
    account_key: Path | None = None
    dns_update: DnsUpdate | None = None
    ca_bundle: Path | None = None
    contact: tuple[str, ...] = ()
    challenge: str = "dns-01"
    propagation_seconds: float = 0.0
    issuers: Path | None = None
    issuer_certificates: tuple[CertView, ...] = ()
    cucm_certificates: tuple[str, ...] = ("tomcat",)
    where: str = ""

    @property
    def renews(self) -> bool:
        """mrakit renews through this CA (a directory is set), rather than only tracking its issuers."""
        return bool(self.directory)

    @property
    def issuing_intermediates(self) -> tuple[CertView, ...]:
        return tuple(c for c in self.issuer_certificates if c.is_ca and not c.self_signed)


@dataclass(frozen=True)
class Defaults:
    connection: Literal["lab", "rest"] = "rest"
    workers: int = 8
    renewal_window_days: int = 30
    credentials: Mapping[str, Credential] = field(default_factory=dict)
    api_tls: ApiTls = field(default_factory=ApiTls)
    timeouts: Timeouts = field(default_factory=Timeouts)
    prune: bool = False
    max_removal_ratio: float = 0.3
    authorities_from_nodes: bool = True


@dataclass(frozen=True)
class FaultProfile:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    reset_rate: float = 0.0
    hang_rate: float = 0.0
    down: bool = False


@dataclass(frozen=True)
class LabSettings:
    faults: FaultProfile = field(default_factory=FaultProfile)
    node_faults: Mapping[str, FaultProfile] = field(default_factory=dict)
    seed: int = 0
    replication_delay_ms: float = 300.0
    state_dir: Path | None = None
    authorities: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Inventory:
    """A loaded, validated inventory. `path` is the file; relative paths in it were resolved from there."""

    path: Path
    sha256: str
    defaults: Defaults
    authorities: Mapping[str, Authority]
    expressway: Mapping[str, ExpresswayCluster]
    cucm: Mapping[str, CucmCluster]
    endpoints: Endpoints = field(default_factory=Endpoints)
    lab: LabSettings = field(default_factory=LabSettings)
    acme: Mapping[str, AcmeSettings] = field(default_factory=dict)  # cluster name -> defaults merged with its own

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def lab_state_dir(self) -> Path:
        return self.lab.state_dir or self.base_dir / ".mrakit-lab"

    def edge_clusters(self) -> Iterator[ExpresswayCluster]:
        return (c for c in self.expressway.values() if c.role == "edge")

    def control_clusters(self) -> Iterator[ExpresswayCluster]:
        return (c for c in self.expressway.values() if c.role == "control")

    def controls_of(self, edge: ExpresswayCluster) -> list[ExpresswayCluster]:
        """The control clusters whose traversal zone ends on `edge`."""
        return [c for c in self.control_clusters() if c.traversal == edge.name]

    def controls_fronting(self, cucm: CucmCluster) -> list[ExpresswayCluster]:
        return [c for c in self.control_clusters() if cucm.name in c.cucm]

    def cluster_of(self, fqdn: str) -> tuple[str, str]:
        """(product, cluster name) of the node with this FQDN."""
        for cluster in self.expressway.values():
            if any(p.fqdn == fqdn for p in cluster.peers):
                return "expressway", cluster.name
        for cucm in self.cucm.values():
            if any(n.fqdn == fqdn for n in cucm.nodes):
                return "cucm", cucm.name
        raise KeyError(fqdn)
