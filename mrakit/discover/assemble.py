"""What was read, as an inventory: clusters, their nodes and relations, the certificate files and
the authorities, each value with where it was read and each gap with why."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mrakit.discover.reach import Reach
from mrakit.discover.tree import V
from mrakit.discover.walk import TRAVERSAL_UNREADABLE, CucmFound, Discovery, ExpresswayFound, Problem
from mrakit.pki.certview import CertView
from mrakit.pki.roots import load_public_roots

_LABEL = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Login:
    username: str
    password_env: str


@dataclass
class Assembled:
    body: dict[str, V]
    files: dict[str, tuple[CertView, ...]]  # path relative to DIR → certificates (PEM, in order)
    problems: list[Problem]
    clusters: dict[str, str] = field(default_factory=dict)  # cluster name → product


def _label(text: str, taken: set[str]) -> str:
    base = _LABEL.sub("-", text).strip("-._")[:60] or "cluster"
    if not base[0].isalnum():
        base = "c" + base
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def _expressway_groups(found: dict[str, ExpresswayFound]) -> list[list[str]]:
    """Nodes joined by their configured cluster peers, in the order the first node lists them."""
    parent = {name: name for name in found}

    def root(name: str) -> str:
        while parent[name] != name:
            name = parent[name]
        return name

    for node in found.values():
        for peer in node.peers:
            if peer in found:
                parent[root(peer)] = root(node.name)
    groups: dict[str, list[str]] = {}
    for name in found:
        groups.setdefault(root(name), []).append(name)
    ordered = []
    for members in groups.values():
        listed = [p for p in found[members[0]].peers if p in members]
        ordered.append([*listed, *(m for m in members if m not in listed)])
    ordered.sort(key=lambda g: (found[g[0]].role != "edge", g[0]))
    return ordered


def _authorities(chains: list[tuple[CertView, ...]], trusted: list[CertView], given: list[CertView],
                 taken: set[str]) -> tuple[dict[str, V], dict[str, tuple[CertView, ...]], list[Problem]]:
    """Every CA seen (in presented chains and trust lists), grouped by the root its chain ends at. An
    issuer no box shows is taken from the CAs given with --authority, then from the public roots."""
    pool = list(dict.fromkeys([*(c for chain in chains for c in chain[1:]),
                               *(c for c in trusted if c.is_ca or c.self_signed)]))
    elsewhere = [*given, *load_public_roots()]
    origin: dict[CertView, str] = {}

    def issuer_of(cert: CertView) -> CertView | None:
        for candidates, where in ((pool, ""), (given, "--authority"), (elsewhere, "the public root store")):
            for candidate in candidates:
                if candidate.subject_name == cert.issuer_name and cert.is_signed_by(candidate):
                    if where and candidate not in pool:
                        pool.append(candidate)
                        origin[candidate] = where
                    return candidate
        return None

    def top(cert: CertView) -> CertView:
        current = cert
        for _ in range(10):
            if current.self_signed:
                return current
            issuer = issuer_of(current)
            if issuer is None:
                return current
            current = issuer
        return current

    for chain in chains:  # every presented leaf's chain, completed where it can be
        top(chain[0])
    groups: dict[CertView, list[CertView]] = {}
    for cert in list(pool):
        groups.setdefault(top(cert), []).append(cert)
    entries: dict[str, V] = {}
    files: dict[str, tuple[CertView, ...]] = {}
    problems: list[Problem] = []
    for anchor, members in groups.items():
        name = _label((anchor.common_name or "ca").lower().replace(" ", "-"), taken)
        path = f"pki/authorities/{name}.pem"
        ordered = (*(m for m in members if m != anchor), anchor)
        files[path] = ordered
        what = "root" if anchor.self_signed else "top CA seen (its root was not seen)"
        sources = sorted({origin[m] for m in ordered if m in origin})
        entries[name] = V({"file": path}, f"{len(ordered)} CA(s) under the {what} {anchor.display_name!r}"
                          + (f"; from {', '.join(sources)}" if sources else ""), flow=True)
        if not anchor.self_signed:
            problems.append(Problem(name, f"the chain ends at {anchor.display_name!r}, whose issuer "
                                          f"{anchor.issuer!r} no box showed: pass it with --authority FILE"))
    return entries, files, problems


def _peer_entry(node: ExpresswayFound, reach: Reach, files: dict[str, tuple[CertView, ...]], referred: str) -> V:
    endpoint = reach.endpoint(node.name, 443)
    entry: dict[str, V] = {"fqdn": V(node.name, referred)}
    if endpoint.via:
        entry["address"] = V(endpoint.host, f"from {endpoint.via}")
    if endpoint.port != 443:
        entry["api_port"] = V(endpoint.port, f"from {endpoint.via or '--expressway'}")
    if node.server_chain:
        path = f"pki/{node.name}.pem"
        files[path] = node.server_chain
        entry["certificate"] = V(path, f"the server certificate {node.name} presents ({len(node.server_chain)} "
                                       "certificate(s) as installed)")
    else:
        entry["certificate"] = V(None, f"not read: {node.name} returned no server certificate")
    return V(entry)


def assemble(found: Discovery, reach: Reach, expressway_login: Login | None, cucm_login: Login | None,
             given_authorities: tuple[CertView, ...] = ()) -> Assembled:
    problems = list(found.problems)
    failed = {p.node: p.message for p in found.problems}
    files: dict[str, tuple[CertView, ...]] = {}
    taken: set[str] = set()
    body: dict[str, V] = {}

    credentials: dict[str, V] = {}
    if expressway_login:
        credentials["expressway"] = V({"username": expressway_login.username,
                                       "password_env": expressway_login.password_env},
                                      "as given to discover: a reference, never the password", flow=True)
    if cucm_login:
        credentials["cucm"] = V({"username": cucm_login.username, "password_env": cucm_login.password_env},
                                "as given to discover (the platform account; also used for AXL)", flow=True)
    body["version"] = V(1)
    body["defaults"] = V({
        "connection": V("rest", "discovered boxes are reached over REST"),
        "credentials": V(credentials),
        "api_tls": V({"verify": True, "ca_bundle": "pki/mgmt-ca.pem"},
                     "the management CA bundle discovery verified against", flow=True),
    })

    groups = _expressway_groups(found.expressway)
    cluster_of: dict[str, str] = {}
    names: dict[int, str] = {}
    for index, members in enumerate(groups):
        first = found.expressway[members[0]]
        leaf = first.server_chain[0] if first.server_chain else None
        label_from = (leaf.common_name if leaf is not None and len(members) > 1 and leaf.common_name
                      else members[0]).split(".")[0]
        names[index] = _label(label_from.lower(), taken)
        for member in members:
            cluster_of[member] = names[index]
    cucm_names: dict[str, str] = {}
    publishers = sorted({c.publisher for c in found.cucm.values()})
    for publisher in publishers:
        short = publisher.split(".")[0]
        cucm_names[publisher] = _label(short if short.startswith("cucm") else "cucm-" + short, taken)

    expressway: dict[str, V] = {}
    for index, members in enumerate(groups):
        nodes = [found.expressway[m] for m in members]
        first = nodes[0]
        leaf = first.server_chain[0] if first.server_chain else None
        cluster: dict[str, V] = {
            "role": V(first.role, f"from {first.name}: {first.role_from}"),
            "version": V(first.version, f"from {first.name} sysinfo"),
        }
        if len(members) > 1 and leaf is not None and leaf.common_name:
            cluster["cluster_fqdn"] = V(leaf.common_name.lower(),
                                        f"the CN of {first.name}'s server certificate (assumed: the cluster FQDN)")
        else:
            cluster["cluster_fqdn"] = V(first.name, "a single peer: its own FQDN")
        if first.role == "control":
            cluster["domains"] = V(list(first.domains), f"from {first.name} common/domain", flow=True)
            traversal, why = _traversal(first, nodes, found, cluster_of, groups, names)
            if traversal is None:
                cluster["traversal"] = V(None, f"not read: {why}")
                problems.append(Problem(first.name, why))
            else:
                cluster["traversal"] = V(traversal, why)
            fronted = [cucm_names[s["Publisher"].lower()] for s in first.cucm_servers
                       if s["Publisher"].lower() in cucm_names]
            unread = [s["Publisher"] for s in first.cucm_servers if s["Publisher"].lower() not in cucm_names]
            cluster["cucm"] = V(fronted, f"from {first.name} controller/server/cucm"
                                + (f"; not read: {', '.join(unread)}" if unread else ""), flow=True)
        peers: list[V] = [_peer_entry(node, reach, files, found.referred.get(node.name, "")) for node in nodes]
        for peer in first.peers:
            if peer in failed and peer not in members:
                peers.append(V(None, f"fqdn: {peer}  not read: {failed[peer]}"))
        cluster["peers"] = V(peers, "from " + first.name + " common/cluster/peers")
        expressway[names[index]] = V(cluster)
    if expressway:
        body["expressway"] = V(expressway)

    cucm: dict[str, V] = {}
    for publisher in publishers:
        cucm[cucm_names[publisher]] = _cucm_cluster(publisher, found, reach, files, failed)
    if cucm:
        body["cucm"] = V(cucm)
    body["endpoints"] = V({"phones": True, "jabber": True, "tc_endpoints": False},
                          "not readable from any box: say which endpoints use MRA (MRA005, MRA013)", flow=True)

    chains = [*files.values()]
    trusted = [c for e in found.expressway.values() for c in e.trusted]
    trusted += [c for node in found.cucm.values() for certs in node.trust.values() for c in certs]
    authorities, authority_files, incomplete = _authorities(chains, trusted, list(given_authorities), set())
    files.update(authority_files)
    problems.extend(incomplete)
    body = {"version": body.pop("version"), "defaults": body.pop("defaults"),
            "authorities": V(authorities, "every CA seen in a presented chain or a trust list"), **body}
    clusters = {**{n: "expressway" for n in names.values()}, **{n: "cucm" for n in cucm_names.values()}}
    return Assembled(body, files, problems, clusters)


def _traversal(first: ExpresswayFound, nodes: list[ExpresswayFound], found: Discovery, cluster_of: dict[str, str],
               groups: list[list[str]], names: dict[int, str]) -> tuple[str | None, str]:
    zone = next((n.traversal_peers for n in nodes if n.traversal_peers is not None), None)
    edges = [names[i] for i, g in enumerate(groups) if found.expressway[g[0]].role == "edge"]
    if zone is None:
        if len(edges) == 1:
            return edges[0], ("not read (traversal zone unreadable); the only edge cluster named or found")
        return None, TRAVERSAL_UNREADABLE
    if not zone:
        return None, f"{first.name} has no traversal client zone with a peer address"
    targets = [cluster_of[p] for p in zone if p in cluster_of]
    if not targets:
        return None, f"the traversal zone peers of {first.name} ({', '.join(zone)}) could not be read"
    target = targets[0]
    own = cluster_of[first.name]
    if target == own:
        return None, f"the traversal zone of {first.name} points back to its own cluster ({zone[0]}): a loop"
    peer = next(p for p in zone if p in cluster_of)
    if found.expressway[peer].role != "edge":
        return None, (f"the traversal zone of {first.name} points to {peer}, a control, not an edge "
                      "(a loop in traversal zones?)")
    return target, f"from {first.name} controller/zone/traversalclient (assumed API): {', '.join(zone)}"


def _cucm_cluster(publisher: str, found: Discovery, reach: Reach, files: dict[str, tuple[CertView, ...]],
                  failed: dict[str, str]) -> V:
    pub = found.cucm.get(publisher)
    members = [n for n in found.cucm.values() if n.publisher == publisher]
    order = list(pub.process_nodes) if pub else []
    members.sort(key=lambda n: (n.name != publisher, order.index(n.name) if n.name in order else len(order)))
    cluster: dict[str, V] = {}
    head = members[0]
    cluster["version"] = V(head.version, f"from {publisher} AXL getCCMVersion")
    endpoint = reach.endpoint(publisher, 443)
    if endpoint.axl_port != 8443:
        cluster["axl_port"] = V(endpoint.axl_port, f"from {endpoint.via}")

    kinds = sorted({k for n in members for k in n.identities})
    shared = {k for k in kinds
              if len({n.identities[k][0] if k in n.identities else None for n in members}) == 1}
    multi = {"tomcat", "callmanager"} <= shared

    def node_entry(node: CucmFound) -> V:
        ep = reach.endpoint(node.name, 443)
        entry: dict[str, V] = {"fqdn": V(node.name, found.referred.get(node.name, ""))}
        if ep.via:
            entry["address"] = V(ep.host, f"from {ep.via}")
        if ep.port != 443:
            entry["api_port"] = V(ep.port, f"from {ep.via or '--cucm'}")
        own = {k: v for k, v in node.identities.items() if not (multi and k in shared)}
        if own:
            certs: dict[str, V] = {}
            for kind, chain in own.items():
                path = f"pki/{node.name}-{kind.replace('_', '-')}.pem"
                files[path] = chain
                certs[kind] = V(path)
            entry["certificates"] = V(certs, f"the identities {node.name} presents", flow=True)
        return V(entry)

    cluster["publisher"] = V(node_entry(head).value)
    subscribers = [node_entry(n) for n in members[1:]]
    subscribers += [V(None, f"fqdn: {name}  not read: {failed[name]}") for name in order
                    if name in failed and name != publisher]
    if subscribers:
        cluster["subscribers"] = V(subscribers, f"call-processing servers from {publisher} AXL listProcessNode")
    cluster["tls_verify"] = V(None, "not readable through any known API: the default (true) applies; set false "
                                    "if TLS Verify is off for this cluster on the C")
    if pub is not None:
        secure = [p.name.lower() for p in pub.profiles if p.secure and p.fqdn_form]
        cluster["secure_registration"] = V(bool(secure), "inferred: the cluster has secure phone security "
                                           "profiles in FQDN form" if secure else
                                           "inferred: no secure phone security profile in FQDN form")
        if secure:
            cluster["phone_security_profiles"] = V(secure, f"from {publisher} AXL listPhoneSecurityProfile",
                                                   flow=True)
    if multi:
        certs: dict[str, V] = {}
        for kind in sorted(shared):
            path = f"pki/{_label_file(publisher)}-cluster-{kind.replace('_', '-')}.pem"
            files[path] = head.identities[kind]
            certs[kind] = V(path)
        cluster["certificates"] = V(certs, "every server presents the same certificate (multi-server)", flow=True)
    return V(cluster)


def _label_file(fqdn: str) -> str:
    return fqdn.split(".")[0]
