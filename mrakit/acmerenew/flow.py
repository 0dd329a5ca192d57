"""`mrakit renew`: pick what is due, CSR on the box, ACME order (dns-01), then plan/apply the chain
the way `--certificates` does (trust first on every validator, rolling install, verify).

Every step is recorded per node (mrakit.acmerenew.state) before the next one starts: a failure
leaves the node's old certificate in place, and the next run resumes from the record.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from mrakit.acmerenew.dns import DnsUpdater
from mrakit.acmerenew.errors import RenewalError
from mrakit.acmerenew.order import AcmeAccount, Order
from mrakit.acmerenew.state import NodeState, load_state, save_state, state_dir
from mrakit.adapters.base import CUCM_SERVICE_OF_KIND
from mrakit.applier import ApplyResult, apply
from mrakit.desired import desired_state
from mrakit.errors import MrakitError
from mrakit.inventory.model import AcmeSettings, Inventory
from mrakit.observe import ObservedState, observe
from mrakit.pki.certview import CertView
from mrakit.pki.chain import complete_chain
from mrakit.pki.keys import csr_dns_names, csr_pem, public_key_sha256
from mrakit.pki.load import load_certificates, load_certificates_file
from mrakit.planner import Plan, plan
from mrakit.renew import MANIFEST, CsrRequest
from mrakit.session import Session, session_for


@dataclass(frozen=True)
class Target:
    """One certificate due for renewal."""

    cluster: str
    node: str
    product: str  # expressway | cucm
    kind: str  # server | tomcat | callmanager | …
    common_name: str
    sans: tuple[str, ...]
    settings: AcmeSettings
    why: str
    multi_server: bool = False  # CUCM: one certificate for the whole cluster, requested on the publisher

    @property
    def label(self) -> str:
        return self.node if self.kind == "server" else f"{self.node} ({self.kind})"

    def to_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "node": self.node, "product": self.product, "kind": self.kind,
                "common_name": self.common_name, "sans": list(self.sans), "why": self.why}


@dataclass(frozen=True)
class Outcome:
    target: Target
    status: str  # installed | failed | would-renew
    stage: str
    message: str
    order_url: str = ""
    fingerprint: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**self.target.to_dict(), "status": self.status, "stage": self.stage, "message": self.message,
                "order_url": self.order_url, "fingerprint_sha256": self.fingerprint}


@dataclass
class RenewReport:
    due: list[Target] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    plan: Plan | None = None
    apply: ApplyResult | None = None
    dry_run: bool = False

    @property
    def failed(self) -> bool:
        """A node stopped, or the apply that installed the new certificates failed or did not verify."""
        return any(o.status == "failed" for o in self.outcomes) or (self.apply is not None and self.apply.failed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "failed": self.failed,
            "due": [t.to_dict() for t in self.due],
            "outcomes": [o.to_dict() for o in self.outcomes],
            "apply": self.apply.to_dict() if self.apply is not None else None,
        }


# 1. what is due ---------------------------------------------------------------------------------

def _why_due(chain: tuple[CertView, ...] | None, names: Sequence[str], window: dt.timedelta,
             at: dt.datetime) -> str | None:
    if not chain:
        return "no certificate could be read"
    leaf = chain[0]
    renewal = leaf.not_after - window  # the outlook's renewal date (mrakit.rules.outlook)
    if renewal <= at:
        return f"expires {leaf.not_after:%Y-%m-%d}, within {window.days} days"
    missing = sorted(set(names) - {n.lower() for n in leaf.dns_sans})
    if missing:
        return f"lacks required SAN(s) {', '.join(missing)}"
    return None


def select_due(inventory: Inventory, observed: ObservedState, *, due_within: int | None = None,
               clusters: Sequence[str] | None = None, peers: Sequence[str] | None = None,
               at: dt.datetime | None = None, unreadable: list[Target] | None = None) -> list[Target]:
    """The certificates of ACME-configured clusters that are due: expiring within `due_within` days
    (default: defaults.renewal_window_days), lacking a required SAN, or with an unfinished renewal.
    Nodes that could not be read are never renewed blind: they go to `unreadable`."""
    now = at or dt.datetime.now(dt.UTC)
    window = dt.timedelta(days=inventory.defaults.renewal_window_days if due_within is None else due_within)
    desired = desired_state(inventory)
    folder = state_dir(inventory)
    wanted_clusters = set(clusters) if clusters else None
    wanted_peers = {p.lower() for p in peers} if peers else None
    candidates: list[tuple[str, str, str, str, str, tuple[str, ...], bool]] = []
    for cluster in inventory.expressway.values():
        for peer in cluster.peers:
            node = desired.node(peer.fqdn)
            candidates.append((cluster.name, peer.fqdn, "expressway", "server", node.common_name or peer.fqdn,
                               tuple(s.name for s in node.required_sans), False))
    for cucm in inventory.cucm.values():
        cucm_settings = inventory.acme.get(cucm.name)
        for kind in cucm_settings.cucm_certificates if cucm_settings else ():
            if kind in cucm.certificates:  # the inventory keeps a multi-server certificate: one, on the publisher
                candidates.append((cucm.name, cucm.publisher.fqdn, "cucm", kind, cucm.publisher.fqdn,
                                   tuple(n.fqdn for n in cucm.nodes), True))
                continue
            for server in cucm.nodes:  # one per server, each on its own server (the platform API is per server)
                candidates.append((cucm.name, server.fqdn, "cucm", kind, server.fqdn, (server.fqdn,), False))
    due = []
    for cluster_name, fqdn, product, kind, common_name, sans, multi in candidates:
        settings = inventory.acme.get(cluster_name)
        if settings is None or not settings.renews:
            continue
        if (wanted_clusters is not None and cluster_name not in wanted_clusters) or (
                wanted_peers is not None and fqdn not in wanted_peers):
            continue
        obs = observed.nodes.get(fqdn)
        if obs is None or not obs.ok:
            if unreadable is not None:
                error = obs.error if obs is not None else "not observed"
                unreadable.append(Target(cluster_name, fqdn, product, kind, common_name, sans, settings,
                                         f"could not be read ({error})", multi))
            continue
        state = load_state(folder, fqdn, kind)
        if state is not None and not state.finished:
            why: str | None = f"resuming the renewal that stopped after {state.stage}"
        else:
            why = _why_due(obs.certificates.get(kind), sans, window, now)
        if why is not None:
            due.append(Target(cluster_name, fqdn, product, kind, common_name, sans, settings, why, multi))
    return due


# 2–3. CSR on the box and the ACME order ------------------------------------------------------------

class _Renewer:
    def __init__(self, inventory: Inventory, connections: Session, environ: Mapping[str, str]) -> None:
        self.inventory = inventory
        self.connections = connections
        self.environ = environ
        self.folder = state_dir(inventory)
        self.accounts: dict[tuple[str, str], AcmeAccount] = {}

    def account(self, settings: AcmeSettings) -> AcmeAccount:
        key = (settings.directory, str(settings.account_key))
        if key not in self.accounts:
            self.accounts[key] = AcmeAccount(settings)
        return self.accounts[key]

    def box_csr(self, target: Target, state: NodeState | None) -> x509.CertificateSigningRequest:
        """The CSR to order with: the one already pending on the box for these names (a re-run must
        not replace it: an Expressway answers a second request with Conflict), else a new one."""
        wanted = set(target.sans)
        try:
            if target.product == "expressway":
                api = self.connections.expressway[target.node]
                pending = api.pending_csr()
                if pending is not None and set(csr_dns_names(pending)) == wanted:
                    return pending
                csr = api.generate_csr(target.common_name, target.sans)
            else:
                if state is not None and state.csr_pem:
                    return x509.load_pem_x509_csr(state.csr_pem.encode("ascii"))
                csr = self.connections.cucm[target.node].generate_csr(
                    CUCM_SERVICE_OF_KIND[target.kind], target.common_name, target.sans,
                    distribution="multi-server" if target.multi_server else "this-server")
        except MrakitError as exc:
            raise RenewalError("csr", str(exc)) from None
        names = set(csr_dns_names(csr))
        if names != wanted:
            raise RenewalError("csr", f"the box's CSR names {', '.join(sorted(names)) or 'nothing'}, not the required "
                                      f"{', '.join(sorted(wanted))}")
        return csr

    def obtain(self, target: Target) -> tuple[Path, NodeState]:
        """Steps 2–3 for one node: the signed chain, written under the state folder. Resumes the
        recorded order (and its authorizations) when the CA still has it."""
        state = load_state(self.folder, target.node, target.kind)
        if state is not None and state.finished:
            state = None
        csr = self.box_csr(target, state)
        key_sha = public_key_sha256(csr.public_key())
        if state is not None and state.csr_pem:
            recorded = x509.load_pem_x509_csr(state.csr_pem.encode("ascii"))
            if public_key_sha256(recorded.public_key()) != key_sha:
                state = None  # the box has another key now: the recorded order cannot complete it
        pem = csr_pem(csr)
        if state is not None and state.stage == "issued" and Path(state.certificate_file).exists():
            leaf = load_certificates_file(state.certificate_file)[0]
            if leaf.public_key_fingerprint_sha256 == key_sha:
                return Path(state.certificate_file), state
        names = tuple(sorted({*target.sans, *_common_names(csr)}))
        state = state or NodeState(target.cluster, target.node, target.kind, "csr")
        state = state.advance(state.stage if state.order_url else "csr", names=names, csr_pem=pem)
        save_state(self.folder, state)

        account = self.account(target.settings)
        order: Order | None = account.resume_order(state.order_url, pem.encode("ascii")) if state.order_url else None
        if order is None:
            order = account.new_order(pem.encode("ascii"))
            state = state.advance("order", order_url=order.url)
            save_state(self.folder, state)
        if set(order.names) != set(names):
            raise RenewalError("order", f"the CA's order is for {', '.join(order.names)}, not {', '.join(names)}")
        if target.settings.challenge != "dns-01":
            raise RenewalError("order", f"challenge {target.settings.challenge!r} is not supported; use dns-01")
        if target.settings.dns_update is None:
            raise RenewalError("dns", f"{target.settings.where}: no dns_update settings")
        dns = DnsUpdater(target.settings.dns_update, self.environ)
        account.authorize(order, dns, propagation_seconds=target.settings.propagation_seconds)
        chain_pem = account.certificate(order)
        path = self.write_chain(target, chain_pem, key_sha)
        state = state.advance("issued", certificate_file=str(path))
        save_state(self.folder, state)
        return path, state

    def write_chain(self, target: Target, chain_pem: str, key_sha: str) -> Path:
        try:
            chain = load_certificates(chain_pem.encode("ascii"))
        except MrakitError as exc:
            raise RenewalError("finalize", f"the CA's certificate does not parse ({exc})") from None
        leaf = chain[0]
        if leaf.public_key_fingerprint_sha256 != key_sha:
            raise RenewalError("finalize", "the CA's certificate is not for the box's key")
        missing = sorted(set(target.sans) - {n.lower() for n in leaf.dns_sans})
        if missing:
            raise RenewalError("finalize", f"the CA's certificate lacks {', '.join(missing)}")
        issuers = _issuer_certificates(target.settings)
        cas, _ = complete_chain(leaf, [*chain[1:], *issuers], dt.datetime.now(dt.UTC))
        complete = [leaf, *cas] if cas else chain
        path = self.folder / "certs" / (f"{target.node}.pem" if target.kind == "server"
                                        else f"{target.node}-{target.kind}.pem")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(c.pem for c in complete))
        return path


def _common_names(csr: x509.CertificateSigningRequest) -> list[str]:
    return [str(a.value).lower() for a in csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]


def _issuer_certificates(settings: AcmeSettings) -> list[CertView]:
    return list(settings.issuer_certificates)


# 4. plan/apply -------------------------------------------------------------------------------------

def _install_folder(folder: Path, issued: Sequence[tuple[Target, Path, NodeState]]) -> Path:
    """A folder holding exactly this run's chains and the manifest that matches each to its node."""
    install = folder / "install"
    shutil.rmtree(install, ignore_errors=True)
    install.mkdir(parents=True)
    requests = []
    for target, path, state in issued:
        copy = install / path.name
        shutil.copyfile(path, copy)
        leaf = load_certificates_file(copy)[0]
        requests.append(CsrRequest(target.cluster, target.node, target.product, target.kind, target.common_name,
                                   target.sans, "on-box", "", leaf.public_key_fingerprint_sha256,
                                   requested_at=state.updated_at, multi_server=target.multi_server).to_dict())
    (install / MANIFEST).write_text(json.dumps({"format_version": 1, "requests": requests}, indent=2) + "\n")
    return install


def renew(inventory: Inventory, *, clusters: Sequence[str] | None = None, peers: Sequence[str] | None = None,
          due_within: int | None = None, dry_run: bool = False, environ: Mapping[str, str] | None = None,
          connections: Session | None = None, workers: int | None = None) -> RenewReport:
    """Renew every due certificate of the ACME-configured clusters; see the module docstring."""
    if not any(settings.renews for settings in inventory.acme.values()):
        raise MrakitError(f"{inventory.path}: no `acme` section with a `directory` (in defaults or on a cluster): "
                          "nothing to renew through ACME")
    unknown = [c for c in clusters or () if c not in inventory.expressway and c not in inventory.cucm]
    if unknown:
        raise MrakitError(f"no cluster named {', '.join(unknown)} in {inventory.path}")
    known_nodes = {p.fqdn for c in inventory.expressway.values() for p in c.peers} | {
        n.fqdn for c in inventory.cucm.values() for n in c.nodes}
    strangers = [p for p in peers or () if p.lower() not in known_nodes]
    if strangers:
        raise MrakitError(f"no node named {', '.join(strangers)} in {inventory.path}")
    env = os.environ if environ is None else environ
    report = RenewReport(dry_run=dry_run)
    with session_for(inventory, connections, environ=env) as conns:
        observed = observe(inventory, conns.expressway, conns.cucm, workers=workers)
        unreadable: list[Target] = []
        report.due = select_due(inventory, observed, due_within=due_within, clusters=clusters, peers=peers,
                                unreadable=unreadable)
        report.outcomes = [Outcome(t, "failed", "select", f"{t.label}: stopped at select: {t.why}")
                           for t in unreadable]
        if dry_run:
            report.outcomes += [Outcome(t, "would-renew", "select", t.why) for t in report.due]
            return report
        renewer = _Renewer(inventory, conns, env)
        issued: list[tuple[Target, Path, NodeState]] = []
        for target in report.due:
            try:
                path, state = renewer.obtain(target)
            except RenewalError as exc:
                message = str(exc) if exc.node else f"{target.label}: {exc}"
                report.outcomes.append(Outcome(target, "failed", exc.stage, message))
                continue
            issued.append((target, path, state))
        if issued:
            _install(inventory, conns, issued, renewer.folder, report, workers)
    return report


def _install(inventory: Inventory, conns: Session, issued: Sequence[tuple[Target, Path, NodeState]], folder: Path,
             report: RenewReport, workers: int | None) -> None:
    install = _install_folder(folder, issued)
    try:
        report.plan = plan(inventory, workers=workers, connections=conns, certificates_dir=str(install))
        report.apply = apply(report.plan, inventory, workers=workers, connections=conns, check_stale=False)
    except MrakitError as exc:
        for target, _path, state in issued:
            report.outcomes.append(Outcome(target, "failed", "install", f"{target.label}: stopped at install: {exc}",
                                           state.order_url))
        return
    after = observe(inventory, conns.expressway, conns.cucm, workers=workers,
                    only=sorted({t.node for t, _, _ in issued}))
    failures = {r.node: r.error or r.summary for r in report.apply.results if r.status in ("failed", "skipped")}
    for target, path, state in issued:
        leaf = load_certificates_file(path)[0]
        presented = after.nodes[target.node].certificates.get(target.kind, ()) if target.node in after.nodes else ()
        if presented and presented[0] == leaf:
            save_state(folder, state.advance("installed"))
            report.outcomes.append(Outcome(target, "installed", "install", f"{target.label}: renewed, "
                                           f"valid until {leaf.not_after:%Y-%m-%d}, issued by {leaf.issuer}",
                                           state.order_url, leaf.fingerprint_sha256))
        else:
            why = failures.get(target.node) or "the install was held back or did not verify (see the plan)"
            report.outcomes.append(Outcome(target, "failed", "install", f"{target.label}: stopped at install: {why}",
                                           state.order_url))
