"""Renewal: CSRs with the SANs mrakit computes (on the box, or with a local key), signing for labs
and private test CAs, and matching signed certificates back to their nodes by public key."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from mrakit.adapters.base import CUCM_SERVICE_OF_KIND
from mrakit.desired import desired_state
from mrakit.errors import MrakitError, PkiError
from mrakit.files import MAX_MANIFEST_BYTES, inside, output_folder, read_limited, write_output
from mrakit.inventory.eku import server_certificate_ekus
from mrakit.inventory.model import CertificateFile, Inventory
from mrakit.observe import ObservedState
from mrakit.pki.ca import CertificateAuthority
from mrakit.pki.certview import CLIENT_AUTH, SAN_FIELD_LIMIT, SERVER_AUTH, CertView, san_field_length
from mrakit.pki.keys import (
    build_csr,
    certificate_matches_key,
    csr_dns_names,
    csr_pem,
    generate_private_key,
    public_key_sha256,
    write_private_key,
)
from mrakit.pki.load import load_certificate_file, load_certificates_file, load_csr_file, load_private_key_file
from mrakit.session import Session, kind_issuer, session_for

MANIFEST = "manifest.json"
CUCM_SERVICES = CUCM_SERVICE_OF_KIND


@dataclass(frozen=True)
class CsrRequest:
    cluster: str
    node: str
    product: str
    kind: str  # server | client | tomcat | callmanager | …
    common_name: str
    sans: tuple[str, ...]
    method: str  # on-box | local-key
    csr_file: str
    public_key_sha256: str
    key_file: str | None = None
    requested_at: str = ""
    multi_server: bool = False  # CUCM: one certificate for the whole cluster, requested on the publisher

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sans"] = list(self.sans)
        return data


def read_manifest(directory: Path) -> list[CsrRequest]:
    path = directory / MANIFEST
    if not os.path.lexists(path):
        return []
    raw = read_limited(path, MAX_MANIFEST_BYTES, "a CSR manifest")
    try:
        data = json.loads(raw)
        requests = [CsrRequest(**{**item, "sans": tuple(item["sans"])}) for item in data["requests"]]
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise MrakitError(f"{path}: not a mrakit CSR manifest ({type(exc).__name__}: {exc})") from None
    for index, request in enumerate(requests):
        for name, value in request.to_dict().items():
            if name == "multi_server":
                if not isinstance(value, bool):
                    raise MrakitError(f"{path}: not a mrakit CSR manifest (requests[{index}].{name} is not "
                                      "true or false)")
                continue
            ok = (all(isinstance(v, str) for v in value) if name == "sans"
                  else isinstance(value, str) or (value is None and name == "key_file"))
            if not ok:
                raise MrakitError(f"{path}: not a mrakit CSR manifest (requests[{index}].{name} is not text)")
    return requests


def _write_manifest(directory: Path, requests: Sequence[CsrRequest]) -> None:
    existing = {(r.node, r.kind): r for r in read_manifest(directory)}
    existing.update({(r.node, r.kind): r for r in requests})
    payload = {"format_version": 1, "requests": [r.to_dict() for r in existing.values()]}
    write_output(directory / MANIFEST, json.dumps(payload, indent=2) + "\n")


def request_csrs(
    inventory: Inventory,
    out_dir: str | os.PathLike[str],
    *,
    clusters: Sequence[str] | None = None,
    peers: Sequence[str] | None = None,
    cucm_services: Sequence[str] = (),
    client: bool = False,
    local_key: bool = False,
    expressway: bool = True,
    connections: Session | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[CsrRequest]:
    """One CSR per selected Expressway peer (its server certificate, or with `client` its X15.5
    client certificate) and per CUCM publisher for each of `cucm_services`, with the SANs mrakit
    computes. On the box by default (the key never leaves it); `local_key` writes the key here, 0600.
    Refuses, before asking any node, when a SAN list would pass the 999-character limit (MRA006)."""
    if client and not local_key:
        raise MrakitError("--client needs --local-key: no REST call is known to generate a client CSR on the box, "
                          "and the box's CSR call would replace a server CSR pending there")
    directory = Path(out_dir)
    # Secure phone security profiles the inventory does not name are read through AXL (MRA012).
    needs_axl = expressway and any(c.secure_registration and c.phone_security_profiles is None
                                   for c in inventory.cucm.values())
    # With local keys and nothing to read, no node is asked anything: no session is opened.
    opened = session_for(inventory, connections, environ=environ) if not local_key or needs_axl else None
    with opened or contextlib.nullcontext(connections) as session:
        profiles = _axl_profiles(inventory, session) if needs_axl and session is not None else {}
        return _request_csrs(inventory, directory, session, profiles, clusters=clusters, peers=peers,
                             cucm_services=cucm_services, client=client, local_key=local_key, expressway=expressway)


def _axl_profiles(inventory: Inventory, connections: Session) -> dict[str, tuple[str, ...]]:
    profiles = {}
    for cucm in inventory.cucm.values():
        if cucm.secure_registration and cucm.phone_security_profiles is None:
            read = connections.cucm[cucm.publisher.fqdn].phone_security_profiles()
            profiles[cucm.name] = tuple(p.name.lower() for p in read if p.secure and p.fqdn_form)
    return profiles


def _request_csrs(inventory: Inventory, directory: Path, conns: Session | None,
                  profiles: Mapping[str, tuple[str, ...]], *,
                  clusters: Sequence[str] | None, peers: Sequence[str] | None, cucm_services: Sequence[str],
                  client: bool, local_key: bool, expressway: bool) -> list[CsrRequest]:
    desired = desired_state(inventory, cucm_profiles=profiles)
    wanted_clusters = set(clusters) if clusters else None
    wanted_peers = {p.lower() for p in peers} if peers else None
    # cluster, node, product, kind, cn, sans, multi-server
    plans: list[tuple[str, str, str, str, str, tuple[str, ...], bool]] = []
    for cluster in inventory.expressway.values() if expressway else ():
        if wanted_clusters is not None and cluster.name not in wanted_clusters:
            continue
        if client and not (cluster.role == "control" and cluster.split_client_certificate):
            continue
        for peer in cluster.peers:
            if wanted_peers is not None and peer.fqdn not in wanted_peers:
                continue
            node = desired.node(peer.fqdn)
            sans = tuple(s.name for s in node.required_sans)
            length = san_field_length(sans)
            if length > SAN_FIELD_LIMIT:
                raise MrakitError(f"{peer.fqdn}: the required SANs take {length} characters; the Expressway ignores "
                                  f"everything past {SAN_FIELD_LIMIT} (MRA006): reduce domains, aliases or profiles")
            plans.append((cluster.name, peer.fqdn, "expressway", "client" if client else "server",
                          node.common_name or peer.fqdn, sans, False))
    for cucm in inventory.cucm.values():
        if wanted_clusters is not None and cucm.name not in wanted_clusters:
            continue
        for kind in cucm_services:
            if kind not in CUCM_SERVICES:
                raise MrakitError(f"unknown CUCM certificate {kind!r}; use {', '.join(CUCM_SERVICES)}")
            if kind in cucm.certificates:
                # The inventory keeps a multi-server certificate for this kind: one CSR, on the publisher.
                names = tuple(n.fqdn for n in cucm.nodes)
                plans.append((cucm.name, cucm.publisher.fqdn, "cucm", kind, cucm.publisher.fqdn, names, True))
                continue
            for server in cucm.nodes:  # one certificate per server, each requested on its own server
                if wanted_peers is not None and server.fqdn not in wanted_peers:
                    continue
                plans.append((cucm.name, server.fqdn, "cucm", kind, server.fqdn, (server.fqdn,), False))
    if not plans:
        raise MrakitError("no node matches the selection (check --cluster and --peer)")
    # Created (or refused in one line) before resolving: the manifest records absolute paths (sign
    # may run elsewhere), and resolving through a symbolic link loop raises instead of erring.
    directory = output_folder(directory).resolve()
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    requests: list[CsrRequest] = []
    for cluster_name, fqdn, product, kind, common_name, sans, multi in plans:
        stem = fqdn if kind == "server" else f"{fqdn}-{kind}"
        key_file = None
        if local_key:
            key = generate_private_key("rsa2048")
            key_file = str(write_private_key(directory / f"{stem}.key", key))
            csr = build_csr(key, common_name, sans)
        elif product == "expressway":
            assert conns is not None  # request_csrs opens a session whenever the box makes the key
            csr = conns.expressway[fqdn].generate_csr(common_name, sans)
        else:
            assert conns is not None
            csr = conns.cucm[fqdn].generate_csr(CUCM_SERVICES[kind], common_name, sans,
                                                distribution="multi-server" if multi else "this-server")
        csr_path = directory / f"{stem}.csr"
        write_output(csr_path, csr_pem(csr))
        requests.append(CsrRequest(cluster_name, fqdn, product, kind, common_name, tuple(sans),
                                   "local-key" if local_key else "on-box", str(csr_path),
                                   public_key_sha256(csr.public_key()), key_file, now, multi))
    _write_manifest(directory, requests)
    return requests


def _ekus_for(inventory: Inventory, request: CsrRequest) -> tuple[str, ...]:
    cluster = inventory.expressway.get(request.cluster)
    if request.kind == "client" or cluster is None:
        return (SERVER_AUTH, CLIENT_AUTH)
    return server_certificate_ekus(cluster)


def sign_csrs(
    inventory: Inventory,
    csr_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    ca_cert: str | os.PathLike[str] | None = None,
    ca_key: str | os.PathLike[str] | None = None,
    ca_key_passphrase_env: str | None = None,
    days: int = 90,
    ekus: Sequence[str] | None = None,
) -> list[Path]:
    """Sign every CSR of the manifest in `csr_dir` — ONLY for the lab and private test CAs. Without
    `ca_key` the lab's own CAs sign, which requires `connection: lab`. Writes `<node>.pem` (leaf
    then the CA chain) to `out_dir` (default: `csr_dir`)."""
    directory = Path(csr_dir)
    requests = read_manifest(directory)
    if not requests:
        raise MrakitError(f"{directory}: no {MANIFEST}; create the CSRs with `mrakit csr` first")
    test_issuer = None if ca_key is not None else kind_issuer(inventory)  # the lab's CAs, for a lab inventory
    if ca_key is None and test_issuer is None:
        raise MrakitError("mrakit sign signs with the lab's CAs only for `connection: lab` inventories; pass "
                          "--ca-cert and --ca-key of a private test CA explicitly (never a production CA)")
    if (ca_cert is None) != (ca_key is None):
        raise MrakitError("--ca-cert and --ca-key go together")
    fixed: CertificateAuthority | None = None
    chain_extra: list[CertView] = []
    if ca_cert is not None and ca_key is not None:
        certs = load_certificates_file(ca_cert)
        fixed = CertificateAuthority(certs[0], load_private_key_file(ca_key, passphrase_env=ca_key_passphrase_env))
        chain_extra = certs[1:]
        if not fixed.cert.is_ca:
            raise PkiError(f"{ca_cert}: {fixed.cert.display_name!r} is not a CA certificate")
        if not certificate_matches_key(fixed.cert, fixed.key):
            raise PkiError(f"{ca_key} is not the private key of {ca_cert} ({fixed.cert.display_name!r}): certificates "
                           "signed with it would not verify against that CA")
    # The manifest is data from a file: every request must name a node and kind of this inventory,
    # and its CSR is read from --csr-dir (by file name), never from a path the manifest makes up.
    nodes = {(peer.fqdn, kind) for cluster in inventory.expressway.values() for peer in cluster.peers
             for kind in ("server", "client")}
    nodes |= {(cucm.publisher.fqdn, kind) for cucm in inventory.cucm.values() for kind in CUCM_SERVICES}
    for request in requests:
        if (request.node, request.kind) not in nodes:
            raise MrakitError(f"{directory / MANIFEST}: the request for {request.node!r} ({request.kind!r}) names no "
                              "node and certificate kind of this inventory; refusing to sign anything")
    target = output_folder(Path(out_dir) if out_dir else directory)
    jobs = []
    for request in requests:
        csr = load_csr_file(inside(directory, Path(request.csr_file).name, "the manifest's CSR file"))
        if public_key_sha256(csr.public_key()) != request.public_key_sha256:
            raise MrakitError(f"{directory / Path(request.csr_file).name}: not the CSR the manifest records for "
                              f"{request.node} (its key differs); refusing to sign anything")
        stem = request.node if request.kind == "server" else f"{request.node}-{request.kind}"
        jobs.append((request, csr, inside(target, f"{stem}.pem", "the certificate file")))
    written = []
    for request, csr, path in jobs:
        if fixed is not None:
            issuer, chain = fixed, chain_extra
        else:
            assert test_issuer is not None  # refused above when there is neither
            issuer, chain = test_issuer(inventory, request.cluster)
        cert = issuer.sign_csr(csr, ekus=tuple(ekus) if ekus else _ekus_for(inventory, request), days=days)
        write_output(path, cert.pem + issuer.cert.pem + "".join(c.pem for c in chain))
        written.append(path)
    if target.resolve() != directory.resolve():
        # The manifest goes with the certificates: it is how apply matches them to their nodes.
        _write_manifest(target, requests)
    return written


@dataclass(frozen=True)
class MatchedCertificate:
    node: str
    kind: str
    file: Path
    key_file: Path | None = None  # the local key it was requested with (--local-key), if any
    multi_server: bool = False  # a CUCM certificate for the whole cluster


def match_certificates(
    inventory: Inventory,
    directory: str | os.PathLike[str],
    pending_keys: Mapping[str, str] | None = None,
) -> list[MatchedCertificate]:
    """Match every certificate file in `directory` to the node and kind whose pending CSR (from the
    manifest there, or observed on the nodes: fqdn → public key SHA-256) or local key it completes.
    A certificate that matches nothing is refused: nothing is changed."""
    folder = Path(directory)
    by_key: dict[str, tuple[str, str, str | None, bool]] = {}
    for request in read_manifest(folder):
        by_key[request.public_key_sha256] = (request.node, request.kind, request.key_file, request.multi_server)
    for fqdn, key_sha in (pending_keys or {}).items():
        by_key.setdefault(key_sha, (fqdn, "server", None, False))
    matched: list[MatchedCertificate] = []
    for path in sorted(folder.glob("*.pem")) + sorted(folder.glob("*.crt")) + sorted(folder.glob("*.cer")):
        leaf = load_certificate_file(path)  # a damaged file is refused (PkiError names it), never skipped
        if leaf.is_ca:
            continue
        hit = by_key.get(leaf.public_key_fingerprint_sha256)
        if hit is None:
            raise MrakitError(f"{path}: {leaf.display_name!r} matches no pending CSR and no key of the manifest; "
                              "refusing it (was it signed for another request?)")
        matched.append(MatchedCertificate(hit[0], hit[1], path, Path(hit[2]) if hit[2] else None, hit[3]))
    return matched


def with_certificates(inventory: Inventory, matched: Sequence[MatchedCertificate]) -> Inventory:
    """The inventory with the matched certificate files as the desired certificates of their nodes."""
    expressway = dict(inventory.expressway)
    cucm = dict(inventory.cucm)
    for item in matched:
        cert_file = CertificateFile(item.file, tuple(load_certificates_file(item.file)), item.key_file, renewal=True)
        for name, cluster in expressway.items():
            if any(p.fqdn == item.node for p in cluster.peers):
                peers = tuple(
                    (replace(p, client_certificate=cert_file) if item.kind == "client"
                     else replace(p, certificate=cert_file)) if p.fqdn == item.node else p
                    for p in cluster.peers)
                expressway[name] = replace(cluster, peers=peers)
        for name, cluster_c in cucm.items():
            if item.kind not in CUCM_SERVICES or not any(n.fqdn == item.node for n in cluster_c.nodes):
                continue
            if item.multi_server:
                cucm[name] = replace(cluster_c, certificates={**cluster_c.certificates, item.kind: cert_file})
                continue
            servers = tuple(replace(n, certificates={**n.certificates, item.kind: cert_file}) if n.fqdn == item.node
                            else n for n in cluster_c.nodes)
            cucm[name] = replace(cluster_c, publisher=servers[0], subscribers=servers[1:])
    return replace(inventory, expressway=expressway, cucm=cucm)


def inventory_with_certificates(inventory: Inventory, directory: str, observed: ObservedState) -> Inventory:
    """The inventory with the signed certificates of `directory` as the desired ones of their nodes."""
    pending = {fqdn: o.pending_csr_key for fqdn, o in observed.nodes.items() if o.pending_csr_key}
    return with_certificates(inventory, match_certificates(inventory, directory, pending))


def csr_names(path: str | os.PathLike[str]) -> tuple[str, ...]:
    return csr_dns_names(load_csr_file(path))
