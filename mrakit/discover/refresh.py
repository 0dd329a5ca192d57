"""`mrakit discover --refresh INV`: after a renewal, re-read what every node presents and rewrite
the certificate files INV names where they no longer hold it. The inventory file itself is not
touched: its paths stay, so its comments and layout do too."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrakit.adapters.base import CUCM_SERVICE_OF_KIND
from mrakit.errors import MrakitError
from mrakit.inventory.load import load_inventory
from mrakit.inventory.model import CertificateFile
from mrakit.pki.certview import CertView
from mrakit.pki.keys import certificate_matches_key
from mrakit.pki.load import certificates_to_pem, load_private_key_file
from mrakit.session import connect


@dataclass
class RefreshResult:
    inventory_path: Path
    updated: list[tuple[Path, str]] = field(default_factory=list)
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"inventory": str(self.inventory_path), "unchanged": self.unchanged,
                "updated": [{"file": str(p), "why": w} for p, w in self.updated], "problems": self.problems}


def refresh(inventory_path: Path, environ: Mapping[str, str] | None = None) -> RefreshResult:
    inventory = load_inventory(inventory_path)
    result = RefreshResult(Path(inventory.path))
    # file path → (file as named, what each node presents for it)
    presented: dict[Path, tuple[CertificateFile, list[tuple[str, tuple[CertView, ...]]]]] = {}
    with connect(inventory, environ=environ, attempts=2, max_retry_seconds=10.0) as connections:
        for cluster in inventory.expressway.values():
            for peer in cluster.peers:
                if peer.certificate is None:
                    continue
                try:
                    chain = connections.expressway[peer.fqdn].server_certificate()
                except MrakitError as exc:
                    result.problems.append(f"{peer.fqdn}: server certificate not read: {exc}")
                    continue
                presented.setdefault(peer.certificate.path, (peer.certificate, []))[1].append((peer.fqdn, chain))
        for cucm in inventory.cucm.values():
            for node in cucm.nodes:
                for kind, cert_file in cucm.certificates_of(node).items():
                    try:
                        chain = connections.cucm[node.fqdn].identity_certificate(CUCM_SERVICE_OF_KIND[kind])
                    except MrakitError as exc:
                        result.problems.append(f"{node.fqdn}: {kind} certificate not read: {exc}")
                        continue
                    presented.setdefault(cert_file.path, (cert_file, []))[1].append((node.fqdn, chain))
    for path, (cert_file, seen) in presented.items():
        leaves = {chain[0] for _, chain in seen if chain}
        if len(leaves) != 1:
            names = ", ".join(node for node, _ in seen)
            result.problems.append(f"{path}: its nodes ({names}) present {len(leaves)} different certificates")
            continue
        presenter, chain = next((n, c) for n, c in seen if c)
        if chain[0] == cert_file.leaf:
            result.unchanged += 1
            continue
        path.write_text(certificates_to_pem(chain), encoding="utf-8")
        result.updated.append((path, f"{presenter} presents {chain[0].display_name!r} (until "
                                     f"{chain[0].not_after:%Y-%m-%d}), the file held one until "
                                     f"{cert_file.leaf.not_after:%Y-%m-%d}"))
        if cert_file.key_path is not None and not certificate_matches_key(
                chain[0], load_private_key_file(cert_file.key_path)):
            result.problems.append(f"{cert_file.key_path}: the key beside {path.name} is not the key of the "
                                   "certificate now presented (the box generated its own): remove it")
    return result
