"""`mrakit lab init`: build every node of an inventory, in one of the named scenarios."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from pathlib import Path

from mrakit.desired import desired_state
from mrakit.errors import MrakitError
from mrakit.inventory.load import load_inventory
from mrakit.inventory.model import CertificateFile, ExpresswayCluster, Inventory
from mrakit.lab.model import CucmNode, ExpresswayNode
from mrakit.lab.pki import LabAuthorities, create_missing_files, lab_authorities
from mrakit.lab.state import LabState
from mrakit.pki.ca import BOTH_EKUS, CertificateAuthority, Issued
from mrakit.pki.certview import SERVER_AUTH, CertView
from mrakit.pki.keys import private_key_pem
from mrakit.pki.load import load_private_key_file
from mrakit.rules.eku import server_certificate_ekus

SCENARIOS = {
    "fresh": "certificates in place, Expressway trust lists empty, CUCM trust holding only its own certificates",
    "temporary-certs": "Expressways still on their factory temporary certificates (MRA003)",
    "missing-intermediate": "trust in place except the edge's intermediate on the control peers (MRA020)",
    "peer-drift": "one peer of each Expressway cluster missing entries its siblings have (MRA023)",
    "self-signed-cucm": "CUCM on self-signed tomcat and CallManager, both in the control peers' trust (MRA022)",
    "x15-clientauth-loss": "the edge's certificate replaced by a serverAuth-only one (2026 public CA change; "
    "it breaks only edges before X15.4, or X15.4 without EnableServerEkuUpload)",
}


def _key_pem(issued: Issued) -> str:
    return private_key_pem(issued.key).decode("ascii")


def _from_file(cert_file: CertificateFile | None) -> tuple[list[str], str] | None:
    if cert_file is None or cert_file.key_path is None:
        return None
    key = load_private_key_file(cert_file.key_path)
    return [c.pem for c in cert_file.certificates], private_key_pem(key).decode("ascii")


def _issue(ca: CertificateAuthority, cn: str | None, sans: list[str], ekus: tuple[str, ...]) -> tuple[list[str], str]:
    issued = ca.issue_leaf(cn, sans, ekus=ekus, days=180)
    return [issued.cert.pem, ca.cert.pem], _key_pem(issued)


def _expressway_nodes(inventory: Inventory, cas: LabAuthorities, scenario: str) -> dict[str, ExpresswayNode]:
    desired = desired_state(inventory)
    nodes: dict[str, ExpresswayNode] = {}
    for cluster in inventory.expressway.values():
        issuer = cas.public_issuing if cluster.role == "edge" else cas.private_issuing
        publishers = [inventory.cucm[name].publisher.fqdn for name in cluster.cucm]
        for peer in cluster.peers:
            target = desired.node(peer.fqdn)
            sans = [s.name for s in target.required_sans]
            server = _from_file(peer.certificate) or _issue(
                issuer, target.common_name, sans, server_certificate_ekus(cluster))
            client: tuple[list[str], str] = ([], "")
            if cluster.role == "control" and cluster.split_client_certificate:
                client = _from_file(peer.client_certificate) or _issue(
                    cas.private_issuing, target.common_name, sans, BOTH_EKUS)
            nodes[peer.fqdn] = ExpresswayNode(
                fqdn=peer.fqdn, role=cluster.role, version=str(cluster.version), server_chain=server[0],
                server_key=server[1], client_chain=client[0], client_key=client[1],
                server_eku_upload=cluster.server_eku_upload, cluster_peers=[p.fqdn for p in cluster.peers],
                domains=list(cluster.domains), cucm_publishers=publishers,
            )
    return nodes


def _cucm_nodes(inventory: Inventory, cas: LabAuthorities, scenario: str) -> dict[str, CucmNode]:
    nodes: dict[str, CucmNode] = {}
    for cucm in inventory.cucm.values():
        names = [n.fqdn for n in cucm.nodes]
        profiles = [{"name": p, "phoneType": "Cisco 8865", "securityMode": "Encrypted"}
                    for p in cucm.phone_security_profiles or ()]
        profiles.append({"name": "Universal Device Template - Model-independent Security Profile",
                         "phoneType": "Universal Device Template", "securityMode": "Non Secure"})
        for node in cucm.nodes:
            identities: dict[str, list[str]] = {}
            keys: dict[str, str] = {}
            pending: dict[str, str] = {}
            for service, kind in (("tomcat", "tomcat"), ("CallManager", "callmanager")):
                from_file = _from_file(cucm.certificates.get(kind)) if node is cucm.publisher else None
                if scenario == "self-signed-cucm":
                    if from_file:  # a CSR for the CA-signed certificate the inventory names is pending
                        pending[service] = from_file[1]
                    root = CertificateAuthority.create_root(node.fqdn, organization="Acme CUCM", key_type="rsa2048")
                    chain, key = [root.cert.pem], private_key_pem(root.key).decode("ascii")
                elif from_file:
                    chain, key = from_file
                else:
                    chain, key = _issue(cas.private_issuing, node.fqdn, names, BOTH_EKUS)
                identities[service], keys[service] = chain, key
            nodes[node.fqdn] = CucmNode(
                fqdn=node.fqdn, version=str(cucm.version), publisher=cucm.publisher.fqdn,
                trust={"tomcat-trust": [identities["tomcat"][0]], "CallManager-trust": [identities["CallManager"][0]]},
                identities=identities, identity_keys=keys, pending_keys=pending, profiles=profiles,
                process_nodes=names,
            )
    return nodes


def _observed(expressway: dict[str, ExpresswayNode], cucm: dict[str, CucmNode]) -> dict[str, dict[str, list[CertView]]]:
    from mrakit.pki.load import load_certificates

    def parse(chain: list[str]) -> list[CertView]:
        return [c for pem in chain for c in load_certificates(pem.encode())]

    observed: dict[str, dict[str, list[CertView]]] = {}
    for fqdn, node in expressway.items():
        observed[fqdn] = {"server": parse(node.server_chain)}
        if node.client_chain:
            observed[fqdn]["client"] = parse(node.client_chain)
    for fqdn, cnode in cucm.items():
        observed[fqdn] = {"tomcat": parse(cnode.identities["tomcat"]),
                          "callmanager": parse(cnode.identities["CallManager"])}
    return observed


def _trust_in_place(inventory: Inventory, expressway: dict[str, ExpresswayNode], cucm: dict[str, CucmNode],
                    cas: LabAuthorities) -> None:
    """Give every node the trust mrakit would derive for the lab's certificates."""
    state = desired_state(inventory, _observed(expressway, cucm),
                          extra_authorities=[cas.private_issuing.cert, cas.private_root.cert], prefer_observed=True)
    for node in state.nodes:
        if node.product == "expressway":
            expressway[node.node].trust = [t.cert.pem for t in node.trust]
        else:
            # Trust on the publisher has replicated to every node of its cluster.
            for cnode in (c for c in cucm.values() if c.publisher == node.node):
                for entry in node.trust:
                    units = cnode.trust.setdefault(entry.store, [])
                    if entry.cert.pem not in units:
                        units.append(entry.cert.pem)


def _apply_scenario(scenario: str, inventory: Inventory, expressway: dict[str, ExpresswayNode],
                    cucm: dict[str, CucmNode], cas: LabAuthorities) -> None:
    if scenario == "temporary-certs":
        for node in expressway.values():
            _pending_from_current(node)
            temporary = CertificateAuthority.create_root(f"Temporary CA {uuid.uuid4()}", organization="Temporary")
            issued = temporary.issue_leaf(node.fqdn, [node.fqdn], ekus=BOTH_EKUS, days=730)
            node.server_chain, node.server_key = [issued.cert.pem], _key_pem(issued)
            node.trust = [temporary.cert.pem]
        return
    if scenario == "x15-clientauth-loss":
        for cluster in inventory.edge_clusters():
            for peer in cluster.peers:
                node = expressway[peer.fqdn]
                _pending_from_current(node)
                leaf = CertificateAuthority(cas.public_issuing.cert, cas.public_issuing.key)
                current = _parse_leaf(node.server_chain)
                node.server_chain, node.server_key = _issue(
                    leaf, current.common_name, list(current.dns_sans), (SERVER_AUTH,))
    if scenario == "fresh":
        return
    _trust_in_place(inventory, expressway, cucm, cas)
    if scenario == "missing-intermediate":
        for control in inventory.control_clusters():
            edge = inventory.expressway[control.traversal or ""]
            intermediates = {c.fingerprint_sha256 for p in edge.peers
                             for c in _chain_cas(expressway[p.fqdn].server_chain) if not c.self_signed}
            for peer in control.peers:
                node = expressway[peer.fqdn]
                node.trust = [pem for pem in node.trust if _fingerprint(pem) not in intermediates]
    elif scenario == "peer-drift":
        for cluster in inventory.expressway.values():
            _drift(cluster, expressway)


def _pending_from_current(node: ExpresswayNode) -> None:
    """The admin already generated a CSR on the box for the certificate the inventory names (the
    one the node had until the scenario replaced it): apply can complete it."""
    from mrakit.pki.keys import build_csr, csr_pem
    from mrakit.pki.load import load_private_key

    current = _parse_leaf(node.server_chain)
    key = load_private_key(node.server_key.encode("ascii"))
    node.pending_key = node.server_key
    node.pending_csr = csr_pem(build_csr(key, current.common_name or node.fqdn, list(current.dns_sans)))


def _drift(cluster: ExpresswayCluster, expressway: dict[str, ExpresswayNode]) -> None:
    if len(cluster.peers) < 2:
        return
    node = expressway[cluster.peers[-1].fqdn]
    node.trust = node.trust[1:]


def _parse_leaf(chain: list[str]) -> CertView:
    from mrakit.pki.load import load_certificates

    return load_certificates(chain[0].encode())[0]


def _chain_cas(chain: list[str]) -> list[CertView]:
    from mrakit.pki.load import load_certificates

    return [c for pem in chain[1:] for c in load_certificates(pem.encode())]


def _fingerprint(pem: str) -> str:
    return _parse_leaf([pem]).fingerprint_sha256


def init_lab(inventory_path: Path, scenario: str = "fresh", *, at: dt.datetime | None = None) -> LabState:
    """Create the lab's CAs, the missing certificate files, and every node, in `scenario`.
    An existing lab state for this inventory is replaced."""
    if scenario not in SCENARIOS:
        raise MrakitError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    if load_inventory(inventory_path, require_files=False).defaults.connection != "lab":
        raise MrakitError(f"{inventory_path}: defaults.connection is not 'lab'; the lab only runs inventories "
                          "with connection: lab (nothing was written)")
    create_missing_files(inventory_path, at=at)
    inventory = load_inventory(inventory_path)
    if inventory.defaults.connection != "lab":
        raise MrakitError(f"{inventory_path}: defaults.connection is {inventory.defaults.connection!r}; "
                          "the lab only runs inventories with connection: lab")
    cas = lab_authorities(inventory.lab_state_dir)
    expressway = _expressway_nodes(inventory, cas, scenario)
    cucm = _cucm_nodes(inventory, cas, scenario)
    _apply_scenario(scenario, inventory, expressway, cucm, cas)
    state = LabState(inventory.lab_state_dir, expressway, cucm, scenario)
    (inventory.lab_state_dir / "requests.jsonl").unlink(missing_ok=True)
    shutil.rmtree(inventory.lab_state_dir / "nodes", ignore_errors=True)  # no node of an older inventory
    state.save()
    return state


def reset_lab(inventory: Inventory) -> None:
    """Remove the lab's node state and request log (its CAs are kept, so certificate files stay valid)."""
    for name in ("state.json", "requests.jsonl"):
        (inventory.lab_state_dir / name).unlink(missing_ok=True)
    shutil.rmtree(inventory.lab_state_dir / "nodes", ignore_errors=True)
    shutil.rmtree(inventory.lab_state_dir / "tls", ignore_errors=True)
