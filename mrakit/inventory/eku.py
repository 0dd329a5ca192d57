"""Version-aware EKU requirements (the version table in docs/apis: X15.4 and X15.5 changed them)."""

from __future__ import annotations

from mrakit.inventory.model import ExpresswayCluster
from mrakit.inventory.versions import ExpresswayVersion
from mrakit.pki.certview import CLIENT_AUTH, SERVER_AUTH


def server_certificate_ekus(cluster: ExpresswayCluster, has_client_certificate: bool | None = None) -> tuple[str, ...]:
    """EKUs an Expressway's server certificate must carry.

    Before X15.4 both, on both roles (MRA001). X15.4 lets the edge take serverAuth-only when
    EnableServerEkuUpload is on. From X15.5 the server store needs serverAuth only; a control
    peer without a separate client certificate still presents its server certificate as client.
    `has_client_certificate` says whether the peer in question has one (None: every peer of the
    cluster names one in the inventory).
    """
    if has_client_certificate is None:
        has_client_certificate = all(p.client_certificate for p in cluster.peers)
    return needed_server_ekus(cluster.version, cluster.role, server_eku_upload=cluster.server_eku_upload,
                              has_client_certificate=has_client_certificate)


def needed_server_ekus(version: ExpresswayVersion, role: str, *, server_eku_upload: bool = False,
                       has_client_certificate: bool = False) -> tuple[str, ...]:
    """The version table itself, for a cluster or for a lone file (`mrakit cert show --version`)."""
    if version.at_least("X15.5"):
        if role == "control" and not has_client_certificate:
            return (SERVER_AUTH, CLIENT_AUTH)
        return (SERVER_AUTH,)
    if version.at_least("X15.4") and role == "edge" and server_eku_upload:
        return (SERVER_AUTH,)
    return (SERVER_AUTH, CLIENT_AUTH)


def client_certificate_ekus(cluster: ExpresswayCluster) -> tuple[str, ...]:
    """EKUs the X15.5+ client certificate must carry (the client store refuses it without clientAuth)."""
    return (CLIENT_AUTH,)


def eku_rule_text(cluster: ExpresswayCluster) -> str:
    version = cluster.version
    if version.at_least("X15.5"):
        return f"{version} splits server and client certificates"
    if version.at_least("X15.4") and cluster.role == "edge" and cluster.server_eku_upload:
        return f"{version} edge with EnableServerEkuUpload takes a serverAuth-only certificate"
    return f"{version} needs serverAuth and clientAuth on the server certificate"
