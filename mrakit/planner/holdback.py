"""An install goes ahead only when every node that validates the certificate can be read and
gets, in this plan, the trust it needs; otherwise it is held back as a manual step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from mrakit.pki.chain import ChainReason, verify_chain
from mrakit.planner.draft import Draft
from mrakit.planner.kinds import ActionKind
from mrakit.planner.model import Action
from mrakit.planner.products import ProductPlanning
from mrakit.rules.trust import install_would_be_shadowed


def hold_back_installs(draft: Draft, products: Mapping[str, ProductPlanning]) -> None:
    """A validator that cannot be read, or trust outside --limit, would break on the new
    certificate. Then the trust actions outside --limit are dropped."""
    out_of_scope = {a.id for a in draft.actions if not draft.in_scope(a.cluster)}
    held: dict[str, Action] = {}
    for action in draft.actions:
        if action.kind != ActionKind.CERT_INSTALL:
            continue
        validators = sorted({r.validator for r in draft.desired.relations
                             if r.subject == action.node and r.kind == action.certificate_kind})
        unreadable = [v for v in validators if draft.readable(v) is None]
        outside = sorted({a.node for a in draft.actions if a.id in out_of_scope and a.id in action.depends_on})
        shadowed = [] if unreadable or outside else shadowed_after_trust(draft, products, action, validators)
        if not unreadable and not outside and not shadowed:
            continue
        if unreadable:
            why, then = f"{', '.join(unreadable)} could not be read", "Plan again when they can be read."
        elif outside:
            why = f"the trust it needs on {', '.join(outside)} is outside --limit"
            then = "Plan again without --limit, or include them."
        else:
            why = "; ".join(shadowed)
            then = ("Delete the older same-subject entry on those nodes first (the Expressway uses the first "
                    "entry with a matching subject, MRA022), then plan again.")
            draft.findings.append(install_would_be_shadowed(action.cluster, action.node,
                                                            action.summary.removeprefix("install "), why, then))
        held[action.id] = replace(
            action, kind=ActionKind.MANUAL, pem=None, id=action.id.replace("cert.install", "manual"),
            summary=f"held back: {action.summary} ({why})",
            instructions="Installing it now would break the nodes that validate it. " + then)
    kept = []
    for action in draft.actions:
        if action.id in out_of_scope:
            continue
        if action.id in held:
            kept.append(held[action.id])
        elif not any(dep in held for dep in action.depends_on) or action.kind != ActionKind.MANUAL:
            kept.append(action)
    draft.actions = kept


def shadowed_after_trust(draft: Draft, products: Mapping[str, ProductPlanning], install: Action,
                         validators: list[str]) -> list[str]:
    """Validators on which the new certificate would still fail after phase 1, because an entry of
    the same subject already sits higher in their list (a CA renewed under its old name)."""
    leaf = install.certificates()[0]
    problems = []
    for rel in draft.desired.relations:
        if rel.subject != install.node or rel.kind != install.certificate_kind or rel.validator not in validators:
            continue
        obs = draft.observed.nodes[rel.validator]
        added = [a.certificates()[0] for a in draft.actions
                 if a.kind == ActionKind.TRUST_ADD and a.node == rel.validator and a.store == rel.store]
        prospective = [*obs.trust.get(rel.store, ()), *added]
        result = verify_chain(leaf, prospective, (), purpose=rel.purpose,
                              semantics=products[obs.product].chain_semantics)
        if result.reason is ChainReason.SHADOWED_BY_SAME_SUBJECT and result.shadowing_entry is not None:
            entry = result.shadowing_entry
            problems.append(f"on {rel.validator}, entry {prospective.index(entry) + 1} "
                            f"({entry.fingerprint_sha256[:16]}…) shadows the new {entry.display_name!r}")
    return sorted(set(problems))
