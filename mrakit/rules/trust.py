"""Trust checks: on observed trust lists, chains per relation (MRA020/021/022 with the relation's
codes), peer drift and duplicates (MRA023), same-subject shadowing (MRA022), same CN (MRA025); on
the desired lists, the same shadowing and same CN before anything is uploaded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from mrakit.desired import KIND_TEXT, DesiredTrust, TrustRelation
from mrakit.findings import Finding, Severity
from mrakit.pki.certview import CertView
from mrakit.pki.chain import ChainReason, ChainResult, verify_chain
from mrakit.rules.context import CheckContext


def relation_verdict(ctx: CheckContext, rel: TrustRelation) -> ChainResult | None:
    """The verdict for one relation on what the validator trusts now: Expressway semantics on an
    Expressway (first same-subject entry wins), standard path building on CUCM."""
    validator = ctx.observation(rel.validator)
    chain = ctx.presented(rel.subject, rel.kind)
    if validator is None or not chain or not validator.trust_readable:
        return None
    trust = validator.trust.get(rel.store, ())
    semantics = "expressway" if validator.product == "expressway" else "openssl"
    # Nodes normally send only their own leaf (MRA020): the verdict uses no presented intermediates.
    return verify_chain(chain[0], trust, (), purpose=rel.purpose, semantics=semantics, at=ctx.at)


def _code(result: ChainResult, rel: TrustRelation) -> str:
    """The rule that names the failure: MRA022/MRA007/MRA001 by cause; otherwise the relation's own
    rule (MRA032 when CUCM validates the C, MRA033 when the C validates CUCM, else MRA020/MRA021)."""
    if result.rule in ("MRA022", "MRA007", "MRA001"):
        return result.rule
    if "CUCM001" in rel.codes:
        return "CUCM001"
    if rel.store in ("tomcat-trust", "CallManager-trust"):
        return "MRA032"
    if "MRA033" in rel.codes:
        return "MRA033"
    return result.rule or rel.codes[0]


def _fix(result: ChainResult, rel: TrustRelation) -> str:
    where = f"the {rel.store} list of {rel.validator}" if rel.store != "trusted_ca" else \
        f"the trusted CA list of {rel.validator} (and every peer of {rel.validator_cluster})"
    if result.reason is ChainReason.MISSING_ISSUER:
        return f"upload the CA {result.missing_issuer!r} to {where}; `mrakit apply` does it"
    if result.reason is ChainReason.UNTRUSTED_ROOT:
        return f"upload the root {result.culprit.subject if result.culprit else ''!r} to {where}"
    if result.reason is ChainReason.SHADOWED_BY_SAME_SUBJECT and result.shadowing_entry is not None:
        return (f"delete the entry {result.shadowing_entry.fingerprint_sha256[:16]}… from {where} (it hides the "
                "right CA of the same subject); for CUCM self-signed pairs, CA-sign tomcat and CallManager")
    if result.reason in (ChainReason.EXPIRED, ChainReason.NOT_YET_VALID):
        return "renew the certificate named above (mrakit csr → sign → apply)"
    if result.reason is ChainReason.EKU_MISSING:
        return "re-issue the certificate with the missing EKU, or run a version that accepts it"
    return "re-issue the certificate from a CA the validator trusts"


def relations_with_subscribers(ctx: CheckContext) -> list[TrustRelation]:
    """The relations, plus each CUCM publisher's copied to its subscribers: trust written on the
    publisher replicates, and every node must hold it (MRA032: verify on each)."""
    relations = list(ctx.desired.relations)
    for cucm in ctx.inventory.cucm.values():
        for rel in [r for r in ctx.desired.relations if r.validator == cucm.publisher.fqdn]:
            relations += [replace(rel, validator=sub.fqdn) for sub in cucm.subscribers]
    return relations


def check_relations(ctx: CheckContext) -> list[Finding]:
    findings: list[Finding] = []
    for obs in ctx.observed.nodes.values() if ctx.observed else ():
        if obs.ok and not obs.trust_readable:
            findings.append(Finding(
                "MRA032", Severity.INFO,
                f"{obs.node} runs CUCM {obs.version}, whose trust lists no API can read: mrakit cannot check them",
                fix="check tomcat-trust and CallManager-trust by hand (OS Administration > Certificate Management): "
                "they must hold the Expressway-C's chain", cluster=obs.cluster, node=obs.node))
    for rel in relations_with_subscribers(ctx):
        result = relation_verdict(ctx, rel)
        if result is None or result.valid:
            continue
        code = _code(result, rel)
        findings.append(Finding(
            code, Severity.ERROR,
            f"{rel.validator} cannot validate {rel.subject_cluster}/{rel.subject}'s {KIND_TEXT[rel.kind]} "
            f"({rel.feature}, {rel.store}): {result.reason.value if result.reason else ''}: {result.detail}",
            fix=_fix(result, rel), cluster=rel.validator_cluster, node=rel.validator,
            evidence={"relation": f"{rel.validator} -> {rel.subject} {rel.kind}", "store": rel.store,
                      "reason": result.reason.value if result.reason else None,
                      "path": [c.subject for c in result.path], "codes": list(rel.codes)}))
    return findings


def check_peer_drift(ctx: CheckContext) -> list[Finding]:
    findings: list[Finding] = []
    for cluster in ctx.inventory.expressway.values():
        lists = {p.fqdn: ctx.observation(p.fqdn) for p in cluster.peers}
        known = {fqdn: obs.trust.get("trusted_ca", ()) for fqdn, obs in lists.items() if obs is not None}
        if len(known) < 2:
            continue
        # Each peer's factory temporary CA is its own: not drift (MRA003 reports it).
        union = {c.fingerprint_sha256: c for certs in known.values() for c in certs
                 if "temporary" not in c.subject.lower()}
        for fqdn, certs in known.items():
            have = {c.fingerprint_sha256 for c in certs}
            missing = [c for fp, c in union.items() if fp not in have]
            if missing:
                names = ", ".join(f'"{c.display_name}"' for c in missing)
                findings.append(Finding(
                    "MRA023", Severity.WARNING,
                    f"{fqdn} lacks {len(missing)} trusted CA(s) its cluster siblings have: {names}",
                    fix="upload them to this peer too: Expressway trust lists do not replicate (`mrakit apply` "
                    "adds the ones mrakit derives; add the others to the cluster's `trust:`)",
                    cluster=cluster.name, node=fqdn,
                    evidence={"missing": [c.fingerprint_sha256 for c in missing]}))
    return findings


def _features_needing(ctx: CheckContext, node: str, fingerprint: str) -> list[str]:
    features = []
    for rel in ctx.relations_of(node):
        chain = ctx.presented(rel.subject, rel.kind)
        if not chain:
            continue
        involved = [chain[0], *ctx.chain_of(chain[0], chain[1:])]
        if any(c.fingerprint_sha256 == fingerprint for c in involved):
            features.append(f"{rel.feature} for {rel.subject}")
    return sorted(set(features))


def check_list_hygiene(ctx: CheckContext) -> list[Finding]:
    """Duplicates, same-subject shadowing (in list order) and same-CN entries, per observed list."""
    findings: list[Finding] = []
    if ctx.observed is None:
        return findings
    for obs in ctx.observed.nodes.values():
        if not obs.ok or obs.product != "expressway":
            continue  # the first-match rule and the same-CN advice are the Expressway's (MRA022, MRA025)
        for store, certs in obs.trust.items():
            seen: dict[str, int] = {}
            first_by_subject: dict[str, int] = {}
            by_cn: dict[str, set[str]] = {}
            for index, cert in enumerate(certs):
                fp = cert.fingerprint_sha256
                if fp in seen:
                    findings.append(Finding(
                        "MRA023", Severity.WARNING,
                        f'entries {seen[fp] + 1} and {index + 1} of the {store} list are the same certificate '
                        f'"{cert.display_name}"', fix="delete the second copy (or set prune: true)",
                        cluster=obs.cluster, node=obs.node, evidence={"fingerprint_sha256": fp}))
                    continue
                seen[fp] = index
                if cert.subject in first_by_subject:
                    winner = certs[first_by_subject[cert.subject]]
                    hurt = _features_needing(ctx, obs.node, fp)
                    findings.append(Finding(
                        "MRA022", Severity.ERROR if hurt else Severity.WARNING,
                        f"entry {first_by_subject[cert.subject] + 1} ({winner.fingerprint_sha256[:16]}…) and entry "
                        f"{index + 1} ({fp[:16]}…) of the {store} list share the subject {cert.subject!r}; the "
                        f"Expressway always uses entry {first_by_subject[cert.subject] + 1}"
                        + (f", so these fail: {'; '.join(hurt)}" if hurt else ""),
                        fix="keep one certificate per subject: CA-sign the clashing certificates (CUCM tomcat and "
                        "CallManager) and trust only that CA, or delete the entry that is not needed",
                        cluster=obs.cluster, node=obs.node,
                        evidence={"winner": winner.fingerprint_sha256, "hidden": fp, "failing": hurt}))
                else:
                    first_by_subject[cert.subject] = index
                if cert.common_name:
                    by_cn.setdefault(cert.common_name, set()).add(cert.subject)
            for cn, subjects in by_cn.items():
                if len(subjects) > 1:
                    findings.append(Finding(
                        "MRA025", Severity.WARNING,
                        f"{len(subjects)} CA certificates with common name {cn!r} but different subjects in the "
                        f"{store} list", fix="avoid CA certificates that share a common name (IdP login can fail)",
                        cluster=obs.cluster, node=obs.node, evidence={"subjects": sorted(subjects)}))
    return findings


def check_desired_shadowing(ctx: CheckContext) -> list[Finding]:
    """On each Expressway's desired list: two needed CAs of one subject (the Expressway uses only the
    first, MRA022), and CAs that share a common name (MRA025)."""
    findings: list[Finding] = []
    for cluster in ctx.inventory.expressway.values():
        for peer in cluster.peers:
            node = ctx.desired_node(peer.fqdn)
            if node is not None:
                findings += _shadowing(peer.fqdn, cluster.name, node.trust)
    return findings


def _shadowing(node: str, cluster: str, trust: tuple[DesiredTrust, ...]) -> list[Finding]:
    findings: list[Finding] = []
    by_subject: dict[tuple[str, str], list[DesiredTrust]] = {}
    by_cn: dict[tuple[str, str], list[DesiredTrust]] = {}
    for entry in trust:
        by_subject.setdefault((entry.store, entry.subject), []).append(entry)
        if entry.cert.common_name:
            by_cn.setdefault((entry.store, entry.cert.common_name), []).append(entry)
    for (store, subject), entries in by_subject.items():
        if len(entries) > 1:
            winner, *hidden = entries
            features = sorted({feature for e in hidden for feature in e.features})
            findings.append(Finding(
                "MRA022", Severity.ERROR,
                f"{len(entries)} certificates with subject {subject!r} are needed in {store}; the Expressway "
                f"uses only the first ({winner.fingerprint[:16]}…), so {', '.join(features) or 'the other'} "
                "will fail",
                fix="CA-sign the CUCM tomcat and CallManager certificates (or the clashing CAs) and trust only "
                "that CA",
                cluster=cluster, node=node,
                evidence={"store": store, "fingerprints": [e.fingerprint for e in entries]}))
    for (store, cn), entries in by_cn.items():
        subjects = {e.subject for e in entries}
        if len(subjects) > 1:
            findings.append(Finding(
                "MRA025", Severity.WARNING,
                f"{len(subjects)} CA certificates with common name {cn!r} (different subjects) in {store}",
                fix="avoid uploading CAs that share a common name",
                cluster=cluster, node=node, evidence={"subjects": sorted(subjects)}))
    return findings


# Findings the planner makes while it diffs (it knows the facts; the rule's words live here) ----------

def duplicate_entry(cluster: str, node: str, store: str, cert: CertView) -> Finding:
    """MRA023 as plan reports it: an entry listed twice on the node."""
    return Finding(
        "MRA023", Severity.WARNING,
        f'"{cert.display_name}" ({cert.fingerprint_sha256[:16]}…) is in the {store} list twice',
        fix="remove the extra copy (set prune: true to have mrakit plan it)",
        cluster=cluster, node=node, evidence={"fingerprint_sha256": cert.fingerprint_sha256})


def install_would_be_shadowed(cluster: str, node: str, install: str, why: str, fix: str) -> Finding:
    """MRA022 for a planned install: an older same-subject entry still wins on a validator after phase 1."""
    return Finding("MRA022", Severity.ERROR, f"installing {install} would fail: {why}", fix=fix, cluster=cluster,
                   node=node)


def no_pruning_while_unreadable(cluster: str, node: str, unreadable: Sequence[str]) -> Finding:
    """Pruning waits while a node whose chain this one may need cannot be read."""
    return Finding("prune", Severity.INFO, f"no pruning on {node} while {', '.join(unreadable)} cannot be read",
                   fix="plan again when every node answers", cluster=cluster, node=node)
