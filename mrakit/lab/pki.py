"""The lab's certificate authorities, and the certificate files a lab inventory names.

`lab init` uses this to make an inventory work on a machine with no real CA: every authority
file and node certificate the inventory names but that does not exist yet is issued here. The
CA private keys stay in the lab's state directory (0600); node keys sit beside their certificate
(same name, `.key`, 0600), which is how the lab knows a node's key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import yaml

from mrakit.desired import desired_state
from mrakit.errors import InventoryError
from mrakit.inventory.eku import server_certificate_ekus
from mrakit.inventory.load import load_inventory
from mrakit.inventory.model import ExpresswayCluster
from mrakit.pki.ca import BOTH_EKUS, CertificateAuthority
from mrakit.pki.certview import CLIENT_AUTH, SERVER_AUTH
from mrakit.pki.keys import write_private_key
from mrakit.pki.load import load_certificate_file, load_private_key_file

# What an authority named in the inventory may be in the lab (the `lab.authorities` mapping).
AUTHORITY_ROLES = ("private_root", "private_issuing", "private_chain", "public_root", "public_issuing",
                   "public_chain")
_CA_NAMES = {
    "private_root": ("MRA Lab Private Root CA", "MRA Lab"),
    "private_issuing": ("MRA Lab Issuing CA", "MRA Lab"),
    "public_root": ("MRA Lab Public Root CA", "MRA Lab Public Trust"),
    "public_issuing": ("MRA Lab Public TLS CA", "MRA Lab Public Trust"),
    "management": ("MRA Lab Management CA", "MRA Lab"),
}


@dataclass(frozen=True)
class LabAuthorities:
    private_root: CertificateAuthority
    private_issuing: CertificateAuthority
    public_root: CertificateAuthority
    public_issuing: CertificateAuthority
    management: CertificateAuthority

    def chain_pem(self, role: str) -> str:
        pems = {
            "private_root": [self.private_root],
            "private_issuing": [self.private_issuing],
            "private_chain": [self.private_issuing, self.private_root],
            "public_root": [self.public_root],
            "public_issuing": [self.public_issuing],
            "public_chain": [self.public_issuing, self.public_root],
        }[role]
        return "".join(ca.cert.pem for ca in pems)


def _load_or_create(directory: Path, role: str, parent: CertificateAuthority | None) -> CertificateAuthority:
    cert_path, key_path = directory / f"{role}.pem", directory / f"{role}.key"
    if cert_path.exists() and key_path.exists():
        return CertificateAuthority(load_certificate_file(cert_path), load_private_key_file(key_path))
    common_name, organization = _CA_NAMES[role]
    if parent is None:
        ca = CertificateAuthority.create_root(common_name, organization=organization, days=3650)
    else:
        ca = parent.issue_intermediate(common_name, organization=organization, days=1825)
    directory.mkdir(parents=True, exist_ok=True)
    cert_path.write_text(ca.cert.pem)
    write_private_key(key_path, ca.key)
    return ca


def lab_authorities(state_dir: Path) -> LabAuthorities:
    """The lab's CAs, created on first use and kept in `state_dir/ca` (keys 0600)."""
    directory = state_dir / "ca"
    private_root = _load_or_create(directory, "private_root", None)
    public_root = _load_or_create(directory, "public_root", None)
    return LabAuthorities(
        private_root=private_root,
        private_issuing=_load_or_create(directory, "private_issuing", private_root),
        public_root=public_root,
        public_issuing=_load_or_create(directory, "public_issuing", public_root),
        management=_load_or_create(directory, "management", None),
    )


def _write_issued(path: Path, cert_pem: str, chain_pem: str, key: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(cert_pem + chain_pem)
    write_private_key(path.with_suffix(".key"), key)  # type: ignore[arg-type]


def _issuer_for(cluster: ExpresswayCluster, cas: LabAuthorities) -> CertificateAuthority:
    return cas.public_issuing if cluster.role == "edge" else cas.private_issuing


def _raw_section(inventory_path: Path) -> dict[str, object]:
    data = yaml.safe_load(inventory_path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def create_missing_files(inventory_path: Path, *, at: dt.datetime | None = None) -> list[Path]:
    """Issue every authority file and certificate the inventory names that does not exist yet.
    Returns the files written. Existing files are never touched."""
    inventory = load_inventory(inventory_path, require_files=False)
    cas = lab_authorities(inventory.lab_state_dir)
    written: list[Path] = []
    raw = _raw_section(inventory_path)
    for name, value in dict(raw.get("authorities") or {}).items():  # type: ignore[call-overload]
        path = inventory.base_dir / value["file"]
        if path.exists():
            continue
        role = inventory.lab.authorities.get(name)
        if role not in AUTHORITY_ROLES:
            raise InventoryError(
                f"{value['file']} does not exist and lab.authorities does not say what it is; map "
                f"{name!r} to one of {', '.join(AUTHORITY_ROLES)}", file=str(inventory_path),
                path=f"authorities.{name}.file")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(cas.chain_pem(role))
        written.append(path)
    bundle = inventory.defaults.api_tls.ca_bundle
    if bundle is not None and not bundle.exists():
        bundle.parent.mkdir(parents=True, exist_ok=True)
        bundle.write_text(cas.management.cert.pem)
        written.append(bundle)
    # Node certificates need the required SANs, which the desired state computes.
    inventory = load_inventory(inventory_path, require_files=False)
    desired = desired_state(inventory, at=at)
    for cluster_name, cluster_raw in dict(raw.get("expressway") or {}).items():  # type: ignore[call-overload]
        cluster = inventory.expressway[cluster_name]
        issuer = _issuer_for(cluster, cas)
        chain_pem = issuer.cert.pem
        for peer_raw, peer in zip(cluster_raw["peers"], cluster.peers, strict=True):
            node = desired.node(peer.fqdn)
            sans = [s.name for s in node.required_sans]
            for field, ekus, ca in (
                ("certificate", server_certificate_ekus(cluster), issuer),
                ("client_certificate", BOTH_EKUS, cas.private_issuing),
            ):
                if not peer_raw.get(field):
                    continue
                path = inventory.base_dir / peer_raw[field]
                if path.exists():
                    continue
                issued = ca.issue_leaf(node.common_name, sans, ekus=ekus, days=180)
                _write_issued(path, issued.cert.pem, ca.cert.pem if ca is not issuer else chain_pem, issued.key)
                written.append(path)
    for cucm_name, cucm_raw in dict(raw.get("cucm") or {}).items():  # type: ignore[call-overload]
        cucm = inventory.cucm[cucm_name]
        # The cluster's block holds multi-server certificates (every server a SAN); a server's own, its name.
        blocks = [(cucm.publisher.fqdn, [n.fqdn for n in cucm.nodes], cucm_raw.get("certificates"))]
        for server, node_raw in zip(cucm.nodes, [cucm_raw["publisher"], *cucm_raw.get("subscribers", [])],
                                  strict=True):
            blocks.append((server.fqdn, [server.fqdn], node_raw.get("certificates")))
        for common_name, names, block in blocks:
            for kind, rel in dict(block or {}).items():
                path = inventory.base_dir / rel
                if path.exists():
                    continue
                key_type = "p256" if kind.endswith("ecdsa") else "rsa2048"
                issued = cas.private_issuing.issue_leaf(
                    common_name, names, ekus=(SERVER_AUTH, CLIENT_AUTH), key_type=key_type, days=730)
                _write_issued(path, issued.cert.pem, cas.private_issuing.cert.pem, issued.key)
                written.append(path)
    return written
