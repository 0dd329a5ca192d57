"""The rule book: every rule, whether mrakit checks it and how (`mrakit doctor --rules`); and the
check lists every command judges with.

- offline (`OFFLINE_DEPLOYMENT_CHECKS`, `OFFLINE_NODE_CHECKS`): the inventory and its desired state
  alone, no network. `validate`, `desired`, `plan` (and its install guard) and `doctor` run them
  through `judge_offline`.
- `doctor` adds `PRESENTED_CHECKS` (on what nodes present, and the phones' roots: offline too) and,
  online, `ONLINE_CHECKS`; `plan` adds `PLAN_CHECKS` on what it observed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from mrakit.desired import DesiredState
from mrakit.findings import Finding
from mrakit.inventory.model import Inventory
from mrakit.rules.acme import check_acme_intermediates
from mrakit.rules.chains import check_borrowed_authorities, check_unresolved_chains
from mrakit.rules.context import CheckContext
from mrakit.rules.cucm import check_cucm_certificates, check_cucm_same_name
from mrakit.rules.expressway import check_expressway_certificates
from mrakit.rules.keys import check_keys, check_shared_keys
from mrakit.rules.nodes import (
    check_cucm_by_fqdn,
    check_public_edge,
    check_temporary,
    check_version_pairing,
    check_versions,
)
from mrakit.rules.outlook import check_outlook
from mrakit.rules.reach import check_reachable, check_unreachable_for_plan
from mrakit.rules.topology import check_topology_drift
from mrakit.rules.trust import check_desired_shadowing, check_list_hygiene, check_peer_drift, check_relations

Check = Callable[[CheckContext], list[Finding]]

# About the deployment, a cluster, or a chain: listed apart from the nodes (`mrakit desired`).
OFFLINE_DEPLOYMENT_CHECKS: tuple[Check, ...] = (
    check_unresolved_chains, check_borrowed_authorities, check_version_pairing, check_shared_keys)
# About one node: a finding on a node of the desired state is listed under it.
OFFLINE_NODE_CHECKS: tuple[Check, ...] = (
    check_expressway_certificates, check_keys, check_desired_shadowing, check_cucm_certificates,
    check_cucm_same_name)
PRESENTED_CHECKS: tuple[Check, ...] = (check_temporary, check_public_edge, check_outlook)
ONLINE_CHECKS: tuple[Check, ...] = (
    check_reachable, check_relations, check_peer_drift, check_list_hygiene, check_cucm_by_fqdn, check_versions,
    check_topology_drift, check_acme_intermediates)
PLAN_CHECKS: tuple[Check, ...] = (check_topology_drift, check_unreachable_for_plan)


def run_checks(checks: Iterable[Check], ctx: CheckContext) -> list[Finding]:
    return [finding for check in checks for finding in check(ctx)]


@dataclass(frozen=True)
class Judgement:
    """The offline findings: those about one node of the desired state, by node (in the state's node
    order), and the others (`general`)."""

    general: tuple[Finding, ...]
    by_node: Mapping[str, tuple[Finding, ...]]

    def of_node(self, fqdn: str) -> tuple[Finding, ...]:
        return self.by_node.get(fqdn, ())

    def all(self) -> list[Finding]:
        return [*self.general, *(f for findings in self.by_node.values() for f in findings)]


def judge_offline(ctx: CheckContext) -> Judgement:
    """The offline checks on `ctx` (its observation, if any, is not looked at)."""
    general = run_checks(OFFLINE_DEPLOYMENT_CHECKS, ctx)
    by_node: dict[str, list[Finding]] = {node.node: [] for node in ctx.desired.nodes}
    for finding in run_checks(OFFLINE_NODE_CHECKS, ctx):
        if finding.node in by_node:
            by_node[finding.node].append(finding)
        else:
            general.append(finding)  # a CUCM subscriber's: the desired state holds its publisher
    return Judgement(tuple(general), {node: tuple(findings) for node, findings in by_node.items()})


def judge_desired(inventory: Inventory, desired: DesiredState) -> Judgement:
    """The offline findings on `desired`, the state derived from `inventory`."""
    return judge_offline(CheckContext.offline(inventory, desired))


def doctor_findings(ctx: CheckContext) -> list[Finding]:
    """Every check `doctor` runs: the offline ones, those on what nodes present, and online the rest."""
    online = run_checks(ONLINE_CHECKS, ctx) if ctx.online else []
    return [*judge_offline(ctx).all(), *run_checks(PRESENTED_CHECKS, ctx), *online]


@dataclass(frozen=True)
class Rule:
    code: str
    title: str
    checked: bool
    how: str  # how it is checked, or why it cannot be

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "title": self.title, "checked": self.checked, "how": self.how}


RULES: tuple[Rule, ...] = (
    Rule("MRA001", "Expressway certificates carry the EKUs their version needs", True,
         "server certificate EKUs against the version table (both before X15.4; serverAuth-only for an X15.4 edge "
         "with EnableServerEkuUpload; X15.5 split server/client stores); client certificate needs clientAuth"),
    Rule("MRA002", "CUCM CallManager certificate carries both EKUs", True,
         "CallManager identity EKUs when secure registration is used (warning)"),
    Rule("MRA003", "no factory temporary certificate on an Expressway", True,
         "server certificate issued by a CA named 'Temporary…' or by a self-signed CA in the node's own list"),
    Rule("MRA004", "no wildcard names on an Expressway", True, "CN and DNS SANs of the server certificate"),
    Rule("MRA005", "Expressway-E chains to a root the phones trust", True,
         "the edge chain's root against the phone bundle (certifi, the lab's public root for lab inventories, "
         "or --phone-roots); error when phones or TC endpoints are in scope"),
    Rule("MRA006", "SAN field within 999 characters", True, "the certificate's SAN field and the required SAN list"),
    Rule("MRA007", "certificates valid and not about to expire", True,
         "every certificate presented or named, against the renewal window"),
    Rule("MRA008", "certificate matches its private key", True,
         "certificates named in the inventory against the key file beside them (offline)"),
    Rule("MRA009", "Expressway server certificate has a CN", True, "subject CN present"),
    Rule("MRA010", "C SANs: every domain in its domain list", True, "required SANs vs the server certificate"),
    Rule("MRA011", "C SANs: persistent-chat node aliases", True, "required SANs vs the server certificate"),
    Rule("MRA012", "C SANs: secure phone security profile names", True,
         "profiles from the inventory (or AXL) vs the server certificate"),
    Rule("MRA013", "E SANs: every domain of the C", True, "required SANs vs the server certificate"),
    Rule("MRA014", "E SANs: chat aliases and federation domains", True, "required SANs vs the server certificate"),
    Rule("MRA015", "clustered: CN = cluster FQDN, SANs = cluster and peer FQDN", True, "CN and SANs"),
    Rule("MRA016", "peers do not share one private key", True, "public keys of the peers' server certificates"),
    Rule("MRA017", "non-clustered: CN = node FQDN", True, "CN and SANs"),
    Rule("MRA020", "each side trusts the other side's whole chain", True,
         "every trust relation checked with the Expressway semantics on the observed trust list; nodes send "
         "only their leaf"),
    Rule("MRA021", "the chain ends at a trusted self-signed root", True, "same check: untrusted root / root absent"),
    Rule("MRA022", "no same-subject entry shadows the right one", True,
         "observed trust lists in order: which entry wins, which certificates and features fail"),
    Rule("MRA023", "every peer of a cluster holds the same trust list", True,
         "each peer's list against the union of its siblings'; duplicate entries"),
    Rule("MRA024", "same CA for C and E is simpler", False,
         "guidance, not a failure: either layout is valid and the derivation handles both"),
    Rule("MRA025", "no two CA certificates with the same CN", True, "observed trust lists (warning)"),
    Rule("MRA030", "make MRA work non-secure first", False, "deployment guidance; nothing to observe"),
    Rule("MRA031", "TLS Verify uses tomcat, secure registration CallManager", True,
         "the C→CUCM relations are checked per certificate and named by feature"),
    Rule("MRA032", "CUCM trusts C's chain in tomcat-trust and CallManager-trust", True,
         "the CUCM publisher's trust units (and each subscriber's, replicated) against C's chain"),
    Rule("MRA033", "C trusts the CAs of CUCM's tomcat and CallManager certificates", True,
         "the C→CUCM relations with the Expressway semantics"),
    Rule("MRA034", "CUCM configured on C by FQDN, not IP", True,
         "inventory (refused at load) and, online, the C's configured CUCM publishers"),
    Rule("VER001", "C and E run the same version (required from X15.5)", True, "inventory and observed versions"),
    Rule("VER002", "the inventory's version matches the node's", True, "online: version reported by each node"),
    Rule("OUT001", "the next renewal keeps the traversal zone working", True,
         "public certificates renewed after the clientAuth cut-offs (Let's Encrypt 2026-02-11, all public CAs "
         "2027-03-15) come serverAuth-only: does the node's version take that?"),
    Rule("OUT002", "renewal cadence", True, "maximum public lifetime at the next renewal (200/100/47 days)"),
    Rule("HS001", "the handshake proof agrees with the chain verdict", True,
         "a real mutual-TLS handshake (Python ssl/OpenSSL) beside each relation's Expressway-semantics verdict; "
         "they differ when OpenSSL finds a path the Expressway does not (MRA022)"),
    Rule("NET001", "every node answers its management API", True, "online observation"),
    Rule("INV002", "the inventory matches the deployment", True,
         "online: the peers (cluster/peers), domains (common/domain) and CUCM publishers (controller/server/cucm) "
         "each Expressway reports, and the call-processing servers AXL lists on each CUCM publisher"),
    Rule("INV003", "every CA mrakit uploads is named in the inventory", True,
         "a CA that completes a node's chain but is found only in that node's own trust store is planned with a "
         "warning naming where it was found (off with authorities_from_nodes: false); a chain whose root cannot "
         "be found is not uploaded at all"),
    Rule("CUCM001", "each CUCM server trusts the chain of its own identities", True,
         "tomcat-trust holds the CA chain of tomcat (and tomcat-ECDSA), CallManager-trust that of CallManager; "
         "CUCM refuses a CA-signed install without it, so installs wait for it"),
    Rule("CUCM002", "a CA renewed under its old name replaces the old one on CUCM", True,
         "CUCM keeps one trust certificate per subject: a same-name upload replaces the entry when it starts "
         "later and is not stored otherwise; such uploads are planned last in phase 1 (or as a manual delete "
         "first), said in the plan, and every upload is confirmed by reading it back"),
    Rule("ACME001", "C trusts every intermediate E's ACME CA issues from", True,
         "online: each control peer's trusted CA list against acme.issuers of its edge (warning when it holds "
         "some but not all)"),
)


def rule(code: str) -> Rule:
    for item in RULES:
        if item.code == code:
            return item
    raise KeyError(code)
