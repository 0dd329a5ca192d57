"""Inventory YAML → validated, typed `Inventory`: schema, cross-references, files. No network."""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from mrakit.errors import InventoryError, MrakitError, PkiError
from mrakit.files import MAX_INVENTORY_BYTES, MiB, broken_link, read_limited
from mrakit.inventory.model import (
    CUCM_CERTIFICATE_KINDS,
    AcmeSettings,
    ApiTls,
    Authority,
    CertificateFile,
    Credential,
    CucmCluster,
    CucmNode,
    Defaults,
    DnsUpdate,
    Endpoints,
    ExpresswayCluster,
    ExpresswayPeer,
    FaultProfile,
    Inventory,
    LabSettings,
    Timeouts,
)
from mrakit.inventory.schema import validate_against_schema
from mrakit.inventory.versions import CucmVersion, ExpresswayVersion
from mrakit.inventory.yamlsource import Located, dotted, load_located_yaml
from mrakit.pki.load import load_certificates_file, load_private_key_file

_FAULT_KEYS = ("latency_ms", "jitter_ms", "error_rate", "reset_rate", "hang_rate")


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


class _Builder:
    def __init__(self, located: Located, base: Path, *, require_files: bool) -> None:
        self.located = located
        self.base = base
        self.require_files = require_files
        self.lab_hint = ""

    def error(self, path: tuple[str | int, ...], message: str, *, key: bool = False) -> InventoryError:
        return self.located.error(path, message, key=key)

    def resolve(self, value: str) -> Path:
        path = Path(os.path.expanduser(value))
        return path if path.is_absolute() else self.base / path

    def certificate_file(
        self, path: tuple[str | int, ...], value: str | None, key_value: str | None = None
    ) -> CertificateFile | None:
        if value is None:
            return None
        file = self.resolve(value)
        key_path = self.resolve(key_value) if key_value else file.with_suffix(".key")
        key_field = "client_key" if path[-1] == "client_certificate" else "key"
        if key_value and not key_path.exists() and self.require_files:
            link = broken_link(key_path)
            raise self.error((*path[:-1], key_field),
                             f"{key_value} is {link}" if link else f"file not found: {key_value}")
        if key_value and key_path.exists():
            # A key named on purpose that cannot be used (encrypted, a folder, empty, garbage) is a
            # mistake to fix now, not a warning to scroll past.
            try:
                load_private_key_file(key_path)
            except PkiError as exc:
                raise self.error((*path[:-1], key_field), str(exc).replace(str(key_path), key_value)) from None
        if not file.exists():
            link = broken_link(file)
            if link:
                raise self.error(path, f"{value} is {link}")
            if not self.require_files:
                return None
            raise self.error(path, f"file not found: {value}{self.lab_hint}")
        try:
            certificates = tuple(load_certificates_file(file))
        except PkiError as exc:
            raise self.error(path, str(exc).replace(str(file), value)) from None
        return CertificateFile(file, certificates, key_path if key_path.exists() else None)

    def credential(self, path: tuple[str | int, ...], raw: Mapping[str, Any]) -> Credential:
        password_file = raw.get("password_file")
        return Credential(
            username=raw["username"],
            password_env=raw.get("password_env"),
            password_file=self.resolve(password_file) if password_file else None,
            where=dotted(path),
        )

    def build(self, source_path: Path, sha256: str) -> Inventory:
        data: dict[str, Any] = self.located.data
        defaults = self.defaults(data.get("defaults", {}))
        if defaults.connection == "lab":
            self.lab_hint = " (for a lab inventory, `mrakit lab init -i INVENTORY` creates it)"
        authorities = self.authorities(data.get("authorities", {}))
        cucm = {name: self.cucm_cluster(name, raw) for name, raw in data.get("cucm", {}).items()}
        expressway = {name: self.expressway_cluster(name, raw) for name, raw in data.get("expressway", {}).items()}
        inventory = Inventory(
            path=source_path,
            sha256=sha256,
            defaults=defaults,
            authorities=authorities,
            expressway=expressway,
            cucm=cucm,
            endpoints=Endpoints(**data.get("endpoints", {})),
            lab=self.lab(data.get("lab", {})),
            acme=self.acme(data),
        )
        self.cross_references(inventory)
        return inventory

    def defaults(self, raw: Mapping[str, Any]) -> Defaults:
        credentials = {
            product: self.credential(("defaults", "credentials", product), value)
            for product, value in raw.get("credentials", {}).items()
        }
        tls = raw.get("api_tls", {})
        return Defaults(
            connection=raw.get("connection", "rest"),
            workers=raw.get("workers", 8),
            renewal_window_days=raw.get("renewal_window_days", 30),
            credentials=credentials,
            api_tls=ApiTls(
                verify=tls.get("verify", True),
                ca_bundle=self.resolve(tls["ca_bundle"]) if tls.get("ca_bundle") else None,
            ),
            timeouts=Timeouts(**raw.get("timeouts", {})),
            prune=raw.get("prune", False),
            max_removal_ratio=float(raw.get("max_removal_ratio", 0.3)),
            authorities_from_nodes=raw.get("authorities_from_nodes", True),
        )

    def authorities(self, raw: Mapping[str, Any]) -> dict[str, Authority]:
        result: dict[str, Authority] = {}
        for name, value in raw.items():
            cert_file = self.certificate_file(("authorities", name, "file"), value["file"])
            certificates = cert_file.certificates if cert_file else ()
            non_ca = [c for c in certificates if not c.is_ca]
            if non_ca:
                raise self.error(
                    ("authorities", name, "file"),
                    f"{value['file']} holds {non_ca[0].display_name!r}, which is not a CA certificate; "
                    "authorities list CA certificates only",
                )
            result[name] = Authority(name, self.resolve(value["file"]), certificates, value.get("description", ""))
        return result

    def expressway_cluster(self, name: str, raw: Mapping[str, Any]) -> ExpresswayCluster:
        here: tuple[str | int, ...] = ("expressway", name)
        try:
            version = ExpresswayVersion.parse(raw["version"])
        except ValueError as exc:
            raise self.error((*here, "version"), str(exc)) from None
        peers = []
        for index, peer in enumerate(raw["peers"]):
            at = (*here, "peers", index)
            if peer.get("client_certificate") and not (raw["role"] == "control" and version.at_least("X15.5")):
                raise self.error(
                    (*at, "client_certificate"),
                    f"a separate client certificate exists only on control clusters from X15.5 (this is "
                    f"{raw['role']} {version})",
                )
            peers.append(
                ExpresswayPeer(
                    fqdn=peer["fqdn"].lower(),
                    address=peer.get("address"),
                    certificate=self.certificate_file((*at, "certificate"), peer.get("certificate"), peer.get("key")),
                    client_certificate=self.certificate_file(
                        (*at, "client_certificate"), peer.get("client_certificate"), peer.get("client_key")
                    ),
                    api_port=peer.get("api_port", 443),
                )
            )
        federation = raw.get("xmpp_federation", {})
        return ExpresswayCluster(
            name=name,
            role=raw["role"],
            version=version,
            cluster_fqdn=raw["cluster_fqdn"].lower(),
            peers=tuple(peers),
            domains=tuple(d.lower() for d in raw.get("domains", [])),
            chat_node_aliases=tuple(a.lower() for a in federation.get("chat_node_aliases", [])),
            federation_domains=tuple(d.lower() for d in federation.get("federation_domains", [])),
            traversal=raw.get("traversal"),
            cucm=tuple(raw.get("cucm", [])),
            trust=tuple(raw.get("trust", [])),
            server_eku_upload=raw.get("server_eku_upload", False),
            san_domain_form=raw.get("san_domain_form", "domain"),
            prune=raw.get("prune"),
        )

    def cucm_credentials(self, path: tuple[str | int, ...], raw: Mapping[str, Any]) -> dict[str, Credential]:
        return {api: self.credential((*path, api), value) for api, value in raw.items()}

    def cucm_certificates(self, path: tuple[str | int, ...], raw: Mapping[str, Any]) -> dict[str, CertificateFile]:
        certificates = {}
        for kind in CUCM_CERTIFICATE_KINDS:
            cert_file = self.certificate_file((*path, kind), raw.get(kind))
            if cert_file is not None:
                certificates[kind] = cert_file
        return certificates

    def cucm_node(self, path: tuple[str | int, ...], raw: Mapping[str, Any]) -> CucmNode:
        return CucmNode(
            raw["fqdn"].lower(), raw.get("address"), api_port=raw.get("api_port", 443),
            certificates=self.cucm_certificates((*path, "certificates"), raw.get("certificates", {})),
            credentials=self.cucm_credentials((*path, "credentials"), raw.get("credentials", {})),
        )

    def cucm_cluster(self, name: str, raw: Mapping[str, Any]) -> CucmCluster:
        here: tuple[str | int, ...] = ("cucm", name)
        try:
            version = CucmVersion.parse(str(raw["version"]))
        except ValueError as exc:
            raise self.error((*here, "version"), str(exc)) from None
        certificates = self.cucm_certificates((*here, "certificates"), raw.get("certificates", {}))
        profiles = raw.get("phone_security_profiles")
        publisher = self.cucm_node((*here, "publisher"), raw["publisher"])
        subscribers = tuple(self.cucm_node((*here, "subscribers", index), s)
                            for index, s in enumerate(raw.get("subscribers", [])))
        for kind, cert_file in certificates.items():
            # A cluster-level certificate is a multi-server one: it must name every server.
            names = {n.lower() for n in cert_file.leaf.dns_sans}
            missing = [n.fqdn for n in (publisher, *subscribers) if n.fqdn not in names]
            if missing:
                raise self.error(
                    (*here, "certificates", kind),
                    f"{raw['certificates'][kind]} is a multi-server {kind} certificate for the whole cluster, but "
                    f"its SANs do not name {', '.join(missing)}; name every server, or give each server its own "
                    "certificate under its 'certificates'")
        return CucmCluster(
            name=name,
            version=version,
            publisher=publisher,
            subscribers=subscribers,
            tls_verify=raw.get("tls_verify", True),
            secure_registration=raw.get("secure_registration", False),
            phone_security_profiles=tuple(p.lower() for p in profiles) if profiles is not None else None,
            certificates=certificates,
            credentials=self.cucm_credentials((*here, "credentials"), raw.get("credentials", {})),
            axl_port=raw.get("axl_port", 8443),
        )

    def acme(self, data: Mapping[str, Any]) -> dict[str, AcmeSettings]:
        """Each cluster's ACME settings: the defaults' section, overridden key by key by the cluster's."""
        base = data.get("defaults", {}).get("acme")
        result: dict[str, AcmeSettings] = {}
        for product in ("expressway", "cucm"):
            for name, raw in data.get(product, {}).items():
                own = raw.get("acme")
                if base is None and own is None:
                    continue
                where: tuple[str | int, ...] = (product, name, "acme") if own is not None else ("defaults", "acme")
                merged = {**(base or {}), **(own or {})}
                result[name] = self.acme_settings(where, merged)
        return result

    def acme_settings(self, where: tuple[str | int, ...], raw: Mapping[str, Any]) -> AcmeSettings:
        if raw.get("directory"):
            for required in ("account_key", "dns_update"):
                if required not in raw:
                    raise self.error(where, f"missing {required!r} (in this section or in defaults.acme): "
                                            "`mrakit renew` needs it with a directory")
        dns = raw.get("dns_update")
        issuers = self.certificate_file((*where, "issuers"), raw.get("issuers"))
        if issuers is not None and any(not c.is_ca for c in issuers.certificates):
            raise self.error((*where, "issuers"), f"{raw['issuers']} holds a certificate that is not a CA; "
                                                  "issuers lists the CA's intermediates and roots only")
        return AcmeSettings(
            directory=raw.get("directory", ""),
            account_key=self.resolve(raw["account_key"]) if raw.get("account_key") else None,
            dns_update=self.dns_update((*where, "dns_update"), dns) if dns else None,
            ca_bundle=self.resolve(raw["ca_bundle"]) if raw.get("ca_bundle") else None,
            contact=tuple(raw.get("contact", [])),
            challenge=raw.get("challenge", "dns-01"),
            propagation_seconds=float(raw.get("propagation_seconds", 0)),
            issuers=self.resolve(raw["issuers"]) if raw.get("issuers") else None,
            issuer_certificates=issuers.certificates if issuers is not None else (),
            cucm_certificates=tuple(raw.get("cucm_certificates", ["tomcat"])),
            where=dotted(where),
        )

    def dns_update(self, where: tuple[str | int, ...], dns: Mapping[str, Any]) -> DnsUpdate:
        server = str(dns["server"])
        host, port = server, 53
        if server.startswith("["):
            host, _, rest = server[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else 53
        elif server.count(":") == 1:
            host, _, port_text = server.partition(":")
            port = int(port_text)
        if not 0 < port < 65536:
            raise self.error((*where, "server"), f"port {port} is out of range")
        return DnsUpdate(
            host=host, port=port, tsig_key_name=dns["tsig_key_name"], tsig_secret_env=dns["tsig_secret_env"],
            tsig_algorithm=dns.get("tsig_algorithm", "hmac-sha256"), zone=dns.get("zone"),
            timeout_seconds=float(dns.get("timeout_seconds", 10)))

    def lab(self, raw: Mapping[str, Any]) -> LabSettings:
        def profile(values: Mapping[str, Any]) -> FaultProfile:
            return FaultProfile(
                **{k: float(values[k]) for k in _FAULT_KEYS if k in values}, down=bool(values.get("down", False))
            )

        return LabSettings(
            faults=profile(raw),
            # A node's entry overrides the lab-wide values it names and inherits the rest.
            node_faults={
                fqdn.lower(): profile({**raw, "down": False, **v}) for fqdn, v in raw.get("nodes", {}).items()
            },
            seed=int(raw.get("seed", 0)),
            replication_delay_ms=float(raw.get("replication_delay_ms", 300)),
            state_dir=self.resolve(raw["state_dir"]) if raw.get("state_dir") else None,
            authorities=dict(raw.get("authorities", {})),
        )

    def cross_references(self, inventory: Inventory) -> None:
        seen: dict[str, tuple[str | int, ...]] = {}

        def claim(fqdn: str, path: tuple[str | int, ...]) -> None:
            if _is_ip(fqdn):
                raise self.error(
                    path,
                    (
                        f"{fqdn!r} is an IP address; name the node by its FQDN (MRA034: certificates are checked "
                        "against names, so CUCM and Expressway must be addressed by FQDN)"
                    ),
                )
            if fqdn in seen:
                raise self.error(path, f"duplicate FQDN {fqdn!r}: already used at {dotted(seen[fqdn])}")
            seen[fqdn] = path

        for cucm in inventory.cucm.values():
            claim(cucm.publisher.fqdn, ("cucm", cucm.name, "publisher", "fqdn"))
            for index, sub in enumerate(cucm.subscribers):
                claim(sub.fqdn, ("cucm", cucm.name, "subscribers", index, "fqdn"))
        for cluster in inventory.expressway.values():
            here: tuple[str | int, ...] = ("expressway", cluster.name)
            for index, peer in enumerate(cluster.peers):
                claim(peer.fqdn, (*here, "peers", index, "fqdn"))
            if cluster.role == "control":
                if cluster.traversal is None:
                    raise self.error(here, "a control cluster needs `traversal`: the edge cluster it pairs with")
                target = inventory.expressway.get(cluster.traversal)
                if target is None:
                    edges = ", ".join(c.name for c in inventory.edge_clusters()) or "none defined"
                    raise self.error(
                        (*here, "traversal"),
                        f"{cluster.traversal!r} names no edge cluster (edge clusters: {edges})",
                    )
                if target.role != "edge":
                    raise self.error(
                        (*here, "traversal"),
                        f"{cluster.traversal!r} is a control cluster; a traversal zone pairs a control cluster "
                        "with an edge cluster",
                    )
                for index, cucm_name in enumerate(cluster.cucm):
                    if cucm_name not in inventory.cucm:
                        known = ", ".join(inventory.cucm) or "none defined"
                        raise self.error(
                            (*here, "cucm", index), f"{cucm_name!r} names no CUCM cluster (CUCM clusters: {known})"
                        )
            for index, authority in enumerate(cluster.trust):
                if authority not in inventory.authorities:
                    known = ", ".join(inventory.authorities) or "none defined"
                    raise self.error(
                        (*here, "trust", index), f"{authority!r} names no authority (authorities: {known})"
                    )
        for name in inventory.lab.node_faults:
            if name not in seen:
                raise self.error(("lab", "nodes", name), f"{name!r} is not a node of this inventory", key=True)


def load_inventory(path: str | os.PathLike[str], *, require_files: bool = True, text: str | None = None) -> Inventory:
    """Load and validate an inventory file. Raises InventoryError (file, line, column, field path).

    `require_files=False` skips certificate files that do not exist yet (used by `lab init` to
    create them); every other check still applies. Nothing here touches the network or reads a secret.
    """
    source = Path(path)
    if text is None:
        try:
            raw = read_limited(path, MAX_INVENTORY_BYTES, "an inventory")
        except MrakitError as exc:
            if not os.path.lexists(path):
                raise InventoryError("inventory file not found", file=str(path)) from None
            raise InventoryError(str(exc).removeprefix(f"{path}: "), file=str(path)) from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InventoryError("the inventory is not UTF-8 text", file=str(path)) from None
    elif len(text) > MAX_INVENTORY_BYTES:
        raise InventoryError(f"larger than {MAX_INVENTORY_BYTES // MiB} MiB, the size limit for an inventory",
                             file=str(path))
    located = load_located_yaml(text, str(path))
    if not isinstance(located.data, dict):
        raise InventoryError(
            "the inventory must be a mapping (version, defaults, expressway, cucm, …)", file=str(path), line=1
        )
    validate_against_schema(located)
    builder = _Builder(located, source.resolve().parent, require_files=require_files)
    inventory = builder.build(source.resolve(), "")
    return replace(inventory, sha256=_content_hash(text, inventory))


def _content_hash(text: str, inventory: Inventory) -> str:
    """SHA-256 over the inventory's text and every certificate it names: a saved plan is stale when
    either changed."""
    digest = hashlib.sha256(text.encode("utf-8"))
    named: list[tuple[str, tuple[str, ...]]] = [
        (str(a.file), tuple(c.fingerprint_sha256 for c in a.certificates)) for a in inventory.authorities.values()]
    for cluster in inventory.expressway.values():
        for peer in cluster.peers:
            for cert_file in (peer.certificate, peer.client_certificate):
                if cert_file is not None:
                    named.append((str(cert_file.path), tuple(c.fingerprint_sha256 for c in cert_file.certificates)))
    for cucm in inventory.cucm.values():
        for cert_file in [*cucm.certificates.values(), *(f for n in cucm.nodes for f in n.certificates.values())]:
            named.append((str(cert_file.path), tuple(c.fingerprint_sha256 for c in cert_file.certificates)))
    for path, fingerprints in sorted(named):
        digest.update(f"\n{path}:{','.join(fingerprints)}".encode())
    return digest.hexdigest()
