"""A generated lab fleet, for the benchmarks and the large tests: `pairs` edge clusters and as many
control clusters (2 peers each, control i traversing edge i), and CUCM clusters (publisher + one
subscriber) that the control clusters front round-robin. No certificate files: the lab issues
every node's certificate. Names are documentation domains (example.com, example.net)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


def edge_peer(i: int, p: int) -> str:
    """Peer `p` (1 or 2) of edge cluster `i`."""
    return f"e{i}-{p}.example.com"


def control_peer(i: int, p: int) -> str:
    """Peer `p` (1 or 2) of control cluster `i`."""
    return f"c{i}-{p}.example.net"


def fleet(pairs: int, cucm_clusters: int, lab: Mapping[str, Any], *, workers: int = 8) -> dict[str, Any]:
    """The inventory, as YAML data. `lab`: the inventory's `lab` section (faults, latency, seed); its
    `authorities` are set here. A CUCM cluster no control cluster would front is left out."""
    expressway: dict[str, Any] = {}
    for i in range(pairs):
        expressway[f"edge-{i}"] = {
            "role": "edge", "version": "X15.5.1", "cluster_fqdn": f"mra{i}.example.com",
            "peers": [{"fqdn": edge_peer(i, p)} for p in (1, 2)]}
    for i in range(pairs):
        expressway[f"ctl-{i}"] = {
            "role": "control", "version": "X15.5.1", "cluster_fqdn": f"c{i}.example.net",
            "domains": [f"site{i}.example.com"], "traversal": f"edge-{i}", "cucm": [f"cucm-{i % cucm_clusters}"],
            "peers": [{"fqdn": control_peer(i, p)} for p in (1, 2)]}
    cucm = {f"cucm-{k}": {"version": "15.0.1", "publisher": {"fqdn": f"pub{k}.example.net"},
                          "subscribers": [{"fqdn": f"sub{k}.example.net"}], "tls_verify": True,
                          "secure_registration": True} for k in range(min(cucm_clusters, pairs))}
    return {
        "version": 1,
        "defaults": {
            "connection": "lab", "workers": workers,
            "credentials": {"expressway": {"username": "admin", "password_env": "MRAKIT_EXPRESSWAY_PASSWORD"},
                            "cucm": {"username": "ccmadmin", "password_env": "MRAKIT_CUCM_PASSWORD"}},
            "api_tls": {"verify": True, "ca_bundle": "pki/mgmt-ca.pem"},
        },
        "authorities": {"private-chain": {"file": "pki/private-chain.pem"},
                        "public-chain": {"file": "pki/public-chain.pem"}},
        "expressway": expressway,
        "cucm": cucm,
        "endpoints": {"phones": True, "jabber": True, "tc_endpoints": False},
        "lab": {**lab, "authorities": {"private-chain": "private_chain", "public-chain": "public_chain"}},
    }


def write_fleet(directory: Path, pairs: int, cucm_clusters: int, lab: Mapping[str, Any], *, workers: int = 8,
                name: str = "inventory.yaml") -> Path:
    """Write the fleet's inventory into `directory` (created if missing); returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(yaml.safe_dump(fleet(pairs, cucm_clusters, lab, workers=workers), sort_keys=False))
    return path


__all__ = ["control_peer", "edge_peer", "fleet", "write_fleet"]
