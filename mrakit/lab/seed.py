"""`mrakit lab init`: build every node of an inventory, in one of the named scenarios."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from pathlib import Path

from mrakit.desired import desired_state
from mrakit.errors import MrakitError
from mrakit.inventory.eku import server_certificate_ekus
from mrakit.inventory.load import load_inventory
from mrakit.inventory.model import CertificateFile, CucmCluster, ExpresswayCluster, Inventory
from mrakit.lab.model import CucmNode, ExpresswayNode
from mrakit.lab.pki import LabAuthorities, create_missing_files, lab_authorities
from mrakit.lab.state import LabState
from mrakit.pki.ca import BOTH_EKUS, CertificateAuthority, Issued
from mrakit.pki.certview import SERVER_AUTH, CertView
from mrakit.pki.keys import build_csr, certificate_matches_key, csr_pem, private_key_pem
from mrakit.pki.load import load_certificates, load_private_key, load_private_key_file

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
                # The upgrade to X15.5 copies the server certificate and key into the client store.
                client = _from_file(peer.client_certificate) or (list(server[0]), server[1])
            nodes[peer.fqdn] = ExpresswayNode(
                fqdn=peer.fqdn, role=cluster.role, version=str(cluster.version), server_chain=server[0],
                server_key=server[1], client_chain=client[0], client_key=client[1],
                server_eku_upload=cluster.server_eku_upload, cluster_peers=[p.fqdn for p in cluster.peers],
                domains=list(cluster.domains), cucm_publishers=publishers, cluster_fqdn=cluster.cluster_fqdn,
            )
    return nodes


def _named_issuer(inventory: Inventory, cucm: CucmCluster, cas: LabAuthorities) -> tuple[CertificateAuthority,
                                                                                        list[str]] | None:
    """The CA that issued the certificates the inventory names for this cluster, when the lab can sign
    with it: an authority mapped to one of the lab's own CAs, or one whose key sits beside its file."""
    named = [f for node in cucm.nodes for f in cucm.certificates_of(node).values()]
    for cert_file in named:
        leaf = cert_file.leaf
        for name, authority in inventory.authorities.items():
            for ca in authority.certificates:
                if ca.subject_name != leaf.issuer_name or not leaf.is_signed_by(ca):
                    continue
                signer = _lab_ca(cas, inventory.lab.authorities.get(name), ca) or _key_beside(authority.file, ca)
                if signer is not None:
                    chain = [c for a in inventory.authorities.values() for c in a.certificates
                             if c.is_ca and c != ca]
                    return signer, [ca.pem, *(c.pem for c in _issuers_above(ca, chain))]
    return None


def _lab_ca(cas: LabAuthorities, role: str | None, cert: CertView) -> CertificateAuthority | None:
    for candidate in (cas.private_issuing, cas.private_root, cas.public_issuing, cas.public_root):
        if role and candidate.cert == cert:
            return candidate
    return None


def _key_beside(file: Path, cert: CertView) -> CertificateAuthority | None:
    key_path = file.with_suffix(".key")
    if not key_path.exists():
        return None
    try:
        key = load_private_key_file(key_path)
    except MrakitError:
        return None
    return CertificateAuthority(cert, key) if certificate_matches_key(cert, key) else None


def _issuers_above(ca: CertView, pool: list[CertView]) -> list[CertView]:
    chain: list[CertView] = []
    current = ca
    while not current.self_signed and len(chain) < 10:
        parent = next((c for c in pool if c.subject_name == current.issuer_name and current.is_signed_by(c)), None)
        if parent is None:
            break
        chain.append(parent)
        current = parent
    return chain


def _own_trust(chain: list[str], pool: list[CertView]) -> list[str]:
    """What a CUCM node keeps of its own certificate in the matching trust unit: a self-signed leaf
    itself, else every CA of its chain up to the root (an install is refused without them)."""
    certs = [c for pem in chain for c in load_certificates(pem.encode())]
    if certs[0].self_signed:
        return [certs[0].pem]
    return [c.pem for c in _issuers_above(certs[0], [*certs[1:], *pool])]


def _cucm_nodes(inventory: Inventory, cas: LabAuthorities, scenario: str) -> dict[str, CucmNode]:
    """Each CUCM server from what the inventory says about it: its own certificates, else the
    cluster's multi-server ones, else issued by the CA of the cluster's named certificates when the lab
    can sign with it, else by the lab's own CA. Every node's issuing chain is in the cluster's trust
    units (they replicate), as the product requires before a CA-signed install."""
    nodes: dict[str, CucmNode] = {}
    for cucm in inventory.cucm.values():
        profiles = [{"name": p, "phoneType": "Cisco 8865", "deviceSecurityMode": "Encrypted"}
                    for p in cucm.phone_security_profiles or ()]
        profiles += [{"name": "Cisco 8865 - Standard SIP Secure Profile", "phoneType": "Cisco 8865",
                      "deviceSecurityMode": "Encrypted"},
                     {"name": "Universal Device Template - Model-independent Security Profile",
                      "phoneType": "Universal Device Template", "deviceSecurityMode": "Non Secure"}]
        domain = cucm.publisher.fqdn.split(".", 1)[-1]
        process_nodes = [{"name": n.fqdn, "processNodeRole": "CUCM Voice/Video"} for n in cucm.nodes]
        process_nodes.append({"name": f"imp-{cucm.name}.{domain}", "processNodeRole": "CUCM IM and Presence"})
        named_issuer = _named_issuer(inventory, cucm, cas)
        pool = [*(c for a in inventory.authorities.values() for c in a.certificates),
                *(ca.cert for ca in (cas.private_issuing, cas.private_root, cas.public_issuing, cas.public_root))]
        trust: dict[str, list[str]] = {"tomcat-trust": [], "CallManager-trust": []}
        members: list[CucmNode] = []
        for node in cucm.nodes:
            identities: dict[str, list[str]] = {}
            keys: dict[str, str] = {}
            pending: dict[str, str] = {}
            files = cucm.certificates_of(node)
            for service, kind in (("tomcat", "tomcat"), ("CallManager", "callmanager")):
                from_file = _from_file(files.get(kind))
                if scenario == "self-signed-cucm":
                    if from_file:  # a CSR for the CA-signed certificate the inventory names is pending
                        pending[service] = from_file[1]
                    root = CertificateAuthority.create_root(node.fqdn, organization="Acme CUCM", key_type="rsa2048")
                    chain, key = [root.cert.pem], private_key_pem(root.key).decode("ascii")
                elif from_file:
                    chain, key = from_file
                elif named_issuer is not None:
                    issued = named_issuer[0].issue_leaf(node.fqdn, [node.fqdn], ekus=BOTH_EKUS, days=180)
                    chain, key = [issued.cert.pem, *named_issuer[1]], _key_pem(issued)
                else:
                    chain, key = _issue(cas.private_issuing, node.fqdn, [node.fqdn], BOTH_EKUS)
                    chain.append(cas.private_root.cert.pem)
                identities[service], keys[service] = chain, key
                unit = trust["tomcat-trust" if service == "tomcat" else "CallManager-trust"]
                unit.extend(pem for pem in _own_trust(chain, pool) if pem not in unit)
            members.append(CucmNode(
                fqdn=node.fqdn, version=str(cucm.version), publisher=cucm.publisher.fqdn,
                identities=identities, identity_keys=keys, pending_keys=pending, profiles=profiles,
                process_nodes=process_nodes,
            ))
        for member in members:  # trust lives in the cluster's database: every node holds the same
            member.trust = {unit: list(pems) for unit, pems in trust.items()}
            nodes[member.fqdn] = member
    return nodes


def _observed(expressway: dict[str, ExpresswayNode], cucm: dict[str, CucmNode]) -> dict[str, dict[str, list[CertView]]]:
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
    return load_certificates(chain[0].encode())[0]


def _chain_cas(chain: list[str]) -> list[CertView]:
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
