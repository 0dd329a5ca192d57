"""The report's model: the doctor's Report (findings, proofs, relation verdicts) and the desired and
observed state, turned into what a picture needs — clusters, nodes, one edge per trust relation,
trust lists with a status per entry, certificates with days left, and an optional plan overlay.

Built once, rendered as HTML, JSON or OpenMetrics. Nothing is judged again here: every verdict is
the doctor's."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from mrakit.desired import KIND_TEXT, DesiredState, TrustRelation
from mrakit.desired import short_name as short
from mrakit.diagnosis import Proof, Report
from mrakit.inventory.model import Inventory
from mrakit.observe import ObservedState
from mrakit.pki.certview import CertView
from mrakit.pki.chain import ChainReason, ChainResult
from mrakit.planner import Plan
from mrakit.rules.outlook import ALL_PUBLIC_NO_CLIENT_AUTH, LETS_ENCRYPT_NO_CLIENT_AUTH, LIFETIMES

COLUMNS = ("edge", "control", "cucm")  # traffic flows left to right: Expressway-E | Expressway-C | CUCM
LISTENER_OF_STORE = {"tomcat-trust": "tomcat", "CallManager-trust": "sip-tls"}


def _cn(name: str) -> str:
    match = re.search(r"CN=((?:\\,|[^,])+)", name)
    return match.group(1).replace("\\,", ",") if match else name


def _date(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d")


@dataclass(frozen=True)
class CertificateInfo:
    node: str
    kind: str
    subject: str
    issuer: str
    sans: tuple[str, ...]
    ekus: tuple[str, ...]
    not_before: str
    not_after: str
    not_after_epoch: int
    days_left: int
    fingerprint: str
    self_signed: bool
    temporary: bool


@dataclass(frozen=True)
class TrustEntryInfo:
    store: str
    position: int  # 1-based place in the node's list; 0 for an entry that is missing
    subject: str
    fingerprint: str
    status: str  # needed | stray | duplicate | shadowed | missing
    reasons: tuple[str, ...] = ()
    shadowed_by: str = ""


@dataclass(frozen=True)
class NodeInfo:
    fqdn: str
    cluster: str
    product: str
    role: str  # edge | control | publisher | subscriber
    version: str
    reachable: bool | None  # None offline: not contacted
    error: str
    certificates: tuple[CertificateInfo, ...]
    trust: tuple[TrustEntryInfo, ...]
    next_due: str  # the date the first of its certificates enters the renewal window ("" if none)
    pending: tuple[str, ...] = ()  # the plan's actions on this node, one line each

    @property
    def short(self) -> str:
        return short(self.fqdn)


@dataclass(frozen=True)
class ClusterInfo:
    name: str
    column: str  # one of COLUMNS
    version: str
    nodes: tuple[str, ...]  # publisher first, then its subscribers


@dataclass(frozen=True)
class ProofInfo:
    connection: str
    client: str
    server: str
    chain_valid: bool
    handshake_ok: bool
    handshake_detail: str
    agrees: bool


@dataclass(frozen=True)
class EdgeInfo:
    id: str
    validator: str
    validator_cluster: str
    subject: str
    subject_cluster: str
    kind: str
    store: str
    feature: str
    verdict: str  # ok | broken | unknown
    reason: str
    failing_link: str  # the one line a broken edge is labelled with
    detail: str
    validator_view: tuple[str, ...]  # the path the validator built from its trust list, leaf first
    subject_view: tuple[str, ...]  # the chain the subject presents, leaf first
    proofs: tuple[ProofInfo, ...]
    planned: tuple[str, ...] = ()  # pending plan actions that change this relation

    @property
    def disagreement(self) -> bool:
        return any(not p.agrees for p in self.proofs)

    @property
    def label(self) -> str:
        return f"{short(self.validator)} validates {short(self.subject)}'s {KIND_TEXT.get(self.kind, self.kind)}"


@dataclass(frozen=True)
class Milestone:
    date: str
    label: str


@dataclass(frozen=True)
class ReportModel:
    at: str
    mode: str
    inventory: str
    clusters: tuple[ClusterInfo, ...]
    nodes: tuple[NodeInfo, ...]
    edges: tuple[EdgeInfo, ...]
    findings: tuple[dict[str, Any], ...]
    milestones: tuple[Milestone, ...]
    summary: dict[str, Any]
    plan: tuple[dict[str, Any], ...] | None = None

    def node(self, fqdn: str) -> NodeInfo:
        return next(n for n in self.nodes if n.fqdn == fqdn)

    @property
    def broken_edges(self) -> tuple[EdgeInfo, ...]:
        return tuple(e for e in self.edges if e.verdict == "broken")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for edge, raw in zip(self.edges, data["edges"], strict=True):
            raw["disagreement"] = edge.disagreement
        return data


# --- building -----------------------------------------------------------------------------------------------

def failing_link(rel: TrustRelation, result: ChainResult) -> str:
    """The one link that breaks the chain, as an engineer would say it on the phone."""
    who = short(rel.validator)
    if result.reason is ChainReason.MISSING_ISSUER:
        return f"{who} lacks '{_cn(result.missing_issuer or '')}'"
    if result.reason is ChainReason.UNTRUSTED_ROOT:
        root = result.culprit.display_name if result.culprit else "the root"
        return f"{who} does not trust the root '{root}'"
    if result.reason is ChainReason.SHADOWED_BY_SAME_SUBJECT:
        hidden = result.shadowed_entry.display_name if result.shadowed_entry else "the right CA"
        by = result.shadowing_entry.fingerprint_sha256[:12] if result.shadowing_entry else "another entry"
        return f"{who}: '{hidden}' shadowed by entry {by}…"
    if result.reason in (ChainReason.EXPIRED, ChainReason.NOT_YET_VALID):
        cert = result.culprit.display_name if result.culprit else "a certificate"
        return f"'{cert}' {'expired' if result.reason is ChainReason.EXPIRED else 'not yet valid'}"
    if result.reason is ChainReason.EKU_MISSING:
        return f"{short(rel.subject)}'s {KIND_TEXT.get(rel.kind, rel.kind)} lacks {', '.join(result.missing_ekus)}"
    return f"{who}: {result.reason.value if result.reason else 'invalid'}"


def _listener(rel: TrustRelation) -> str:
    if rel.store in LISTENER_OF_STORE:
        return LISTENER_OF_STORE[rel.store]
    if rel.kind.startswith("tomcat"):
        return "tomcat"
    if rel.kind.startswith("callmanager"):
        return "sip-tls"
    return "traversal"


def _proofs_of(rel: TrustRelation, proofs: Sequence[Proof]) -> tuple[ProofInfo, ...]:
    """The handshakes that exercise this relation: same two nodes, the listener of its feature."""
    pair = {rel.validator, rel.subject}
    return tuple(ProofInfo(p.connection, p.client, p.server, p.chain_valid, p.handshake.ok, p.handshake.detail,
                           p.agrees)
                 for p in proofs if {p.client, p.server} == pair and p.listener == _listener(rel))


def _certificate(node: str, kind: str, cert: CertView, at: dt.datetime) -> CertificateInfo:
    return CertificateInfo(
        node, kind, cert.subject, cert.issuer, (*cert.dns_sans, *cert.ip_sans), cert.ekus, _date(cert.not_before),
        _date(cert.not_after), int(cert.not_after.timestamp()), int(cert.days_left(at) // 1), cert.fingerprint_sha256,
        cert.self_signed, "temporary" in cert.issuer.lower() or "temporary" in cert.subject.lower())


def _trust_entries(fqdn: str, desired: DesiredState | None, observed: ObservedState | None,
                   owner: str) -> tuple[TrustEntryInfo, ...]:
    """Each observed entry with its reasons (or stray / duplicate / shadowed), then the desired
    entries the node lacks. Offline, the desired list itself. CUCM subscribers hold their publisher's
    desired trust (it replicates)."""
    wanted: dict[tuple[str, str], tuple[str, ...]] = {}
    if desired is not None:
        try:
            for entry in desired.node(owner).trust:
                wanted[(entry.store, entry.fingerprint)] = tuple(f"{r.code}: {r.text}" for r in entry.reasons)
        except KeyError:
            pass
    obs = observed.nodes.get(fqdn) if observed is not None else None
    if observed is None:
        return _desired_only(desired, owner)
    if obs is None or not obs.ok or not obs.trust_readable:
        return ()  # nothing was read: the map shows the node as unreachable (or unreadable)
    entries: list[TrustEntryInfo] = []
    for store, certs in sorted(obs.trust.items()):
        seen: dict[str, int] = {}
        first_of_subject: dict[str, tuple[int, CertView]] = {}
        for index, cert in enumerate(certs, start=1):
            fp = cert.fingerprint_sha256
            reasons = wanted.get((store, fp), ())
            if fp in seen:
                entries.append(TrustEntryInfo(store, index, cert.subject, fp, "duplicate", reasons,
                                              f"entry {seen[fp]}"))
                continue
            seen[fp] = index
            if cert.subject in first_of_subject and obs.product == "expressway":
                place, winner = first_of_subject[cert.subject]
                entries.append(TrustEntryInfo(store, index, cert.subject, fp, "shadowed", reasons,
                                              f"entry {place} ({winner.fingerprint_sha256[:12]}…)"))
                continue
            first_of_subject.setdefault(cert.subject, (index, cert))
            entries.append(TrustEntryInfo(store, index, cert.subject, fp, "needed" if reasons else "stray", reasons))
        present = set(seen)
        for (wanted_store, fp), reasons in wanted.items():
            if wanted_store == store and fp not in present:
                subject = _desired_subject(desired, owner, fp)
                entries.append(TrustEntryInfo(store, 0, subject, fp, "missing", reasons))
    return tuple(entries)


def _desired_subject(desired: DesiredState | None, owner: str, fingerprint: str) -> str:
    if desired is None:
        return ""
    return next((t.subject for t in desired.node(owner).trust if t.fingerprint == fingerprint), "")


def _desired_only(desired: DesiredState | None, owner: str) -> tuple[TrustEntryInfo, ...]:
    if desired is None:
        return ()
    try:
        node = desired.node(owner)
    except KeyError:
        return ()
    return tuple(TrustEntryInfo(t.store, 0, t.subject, t.fingerprint, "needed",
                                tuple(f"{r.code}: {r.text}" for r in t.reasons)) for t in node.trust)


def _milestones() -> tuple[Milestone, ...]:
    marks = [Milestone(_date(LETS_ENCRYPT_NO_CLIENT_AUTH), "Let's Encrypt drops clientAuth"),
             Milestone(_date(ALL_PUBLIC_NO_CLIENT_AUTH), "public CAs drop clientAuth")]
    marks += [Milestone(_date(start), f"public lifetime ≤ {days} days") for start, days in LIFETIMES]
    return tuple(sorted(marks, key=lambda m: (m.date, m.label)))


def _plan_lines(plan: Plan) -> tuple[dict[str, Any], ...]:
    return tuple({"id": a.id, "phase": a.phase, "kind": a.kind, "cluster": a.cluster, "node": a.node,
                  "store": a.store, "subject": a.subject, "summary": a.summary} for a in plan.actions)


def build_model(report: Report, inventory: Inventory, plan: Plan | None = None) -> ReportModel:
    """The report's model from the doctor's Report (which carries the desired and observed state)."""
    at = report.at or dt.datetime.now(dt.UTC)
    desired, observed = report.desired, report.observed
    window = dt.timedelta(days=inventory.defaults.renewal_window_days)
    actions = _plan_lines(plan) if plan is not None else None
    publisher_of: dict[str, str] = {}
    clusters: list[ClusterInfo] = []
    placements: list[tuple[str, str, str, str, str]] = []  # fqdn, cluster, product, role, version
    for ecluster in inventory.expressway.values():
        column = "edge" if ecluster.is_edge else "control"
        peers = tuple(p.fqdn for p in ecluster.peers)
        clusters.append(ClusterInfo(ecluster.name, column, str(ecluster.version), peers))
        placements += [(p.fqdn, ecluster.name, "expressway", column, str(ecluster.version)) for p in ecluster.peers]
    for ccluster in inventory.cucm.values():
        members = tuple(n.fqdn for n in ccluster.nodes)
        clusters.append(ClusterInfo(ccluster.name, "cucm", str(ccluster.version), members))
        for cnode in ccluster.nodes:
            role = "publisher" if cnode is ccluster.publisher else "subscriber"
            placements.append((cnode.fqdn, ccluster.name, "cucm", role, str(ccluster.version)))
            publisher_of[cnode.fqdn] = ccluster.publisher.fqdn
    nodes = []
    for fqdn, cluster, product, role, version in placements:
        obs = observed.nodes.get(fqdn) if observed is not None else None
        if obs is not None and obs.ok:
            chains: dict[str, tuple[CertView, ...]] = dict(obs.certificates)
        else:
            chains = dict(desired.known_certificates.get(fqdn, {})) if desired is not None else {}
        certs = tuple(_certificate(fqdn, kind, chain[0], at) for kind, chain in sorted(chains.items()) if chain)
        due = min((chain[0].not_after - window for chain in chains.values() if chain), default=None)
        pending = tuple(a["summary"] for a in actions or () if a["node"] == fqdn)
        nodes.append(NodeInfo(
            fqdn, cluster, product, role, (obs.version or version) if obs is not None and obs.ok else version,
            None if observed is None else bool(obs is not None and obs.ok),
            obs.error or "" if obs is not None else "", certs,
            _trust_entries(fqdn, desired, observed, publisher_of.get(fqdn, fqdn)),
            _date(max(due, at)) if due is not None else "", pending))
    edges = []
    for index, (rel, result) in enumerate(report.relations, start=1):
        subject_obs = observed.nodes.get(rel.subject) if observed is not None else None
        presented = subject_obs.certificates.get(rel.kind, ()) if subject_obs is not None and subject_obs.ok else ()
        if not presented and desired is not None:
            presented = desired.known_certificates.get(rel.subject, {}).get(rel.kind, ())
        verdict = "unknown" if result is None else ("ok" if result.valid else "broken")
        owners = {rel.validator, publisher_of.get(rel.validator, rel.validator)}
        planned = tuple(a["summary"] for a in actions or ()
                        if (a["node"] in owners and a["store"] == rel.store and a["kind"] == "trust.add")
                        or (a["node"] == rel.subject and a["kind"] == "cert.install"))
        edges.append(EdgeInfo(
            f"rel{index}", rel.validator, rel.validator_cluster, rel.subject, rel.subject_cluster, rel.kind,
            rel.store, rel.feature, verdict, result.reason.value if result and result.reason else "",
            failing_link(rel, result) if result is not None and not result.valid else "",
            result.detail if result is not None else "not judged: " + ("offline" if observed is None else
                                                                        "the validator's trust could not be read"),
            tuple(c.subject for c in result.path) if result is not None else (),
            tuple(c.subject for c in presented), _proofs_of(rel, report.proofs), planned))
    return ReportModel(
        at.isoformat(timespec="seconds"), report.mode, inventory.path.name, tuple(clusters), tuple(nodes),
        tuple(edges), tuple(f.to_dict() for f in report.findings), _milestones(), report.summary(), actions)
