"""ACME001: a control cluster trusts every intermediate its edge's ACME CA currently issues from.

An ACME CA (Let's Encrypt) moves between its published intermediates from one renewal to the next;
a C that trusts only the one E's certificate chains to today loses the traversal zone the day E
renews from another."""

from __future__ import annotations

from mrakit.findings import Finding, Severity
from mrakit.observe import EXPRESSWAY_STORE
from mrakit.rules.context import CheckContext


def check_acme_intermediates(ctx: CheckContext) -> list[Finding]:
    findings = []
    for control in ctx.inventory.control_clusters():
        settings = ctx.inventory.acme.get(control.traversal or "")
        published = settings.issuing_intermediates if settings is not None else ()
        if len(published) < 2:
            continue
        for peer in control.peers:
            obs = ctx.observation(peer.fqdn)
            if obs is None:
                continue
            trusted = {c.fingerprint_sha256 for c in obs.trust.get(EXPRESSWAY_STORE, ())}
            missing = [c for c in published if c.fingerprint_sha256 not in trusted]
            if not missing or len(missing) == len(published):
                continue  # all trusted; or none, which MRA020 reports when it matters
            findings.append(Finding(
                "ACME001", Severity.WARNING,
                f"{peer.fqdn} trusts {len(published) - len(missing)} of the {len(published)} intermediates the "
                f"ACME CA of {control.traversal} issues from; when the edge renews from "
                f"{', '.join(repr(c.display_name) for c in missing)} the traversal zone breaks",
                fix="run `mrakit apply`: the plan adds every intermediate of acme.issuers to the control cluster",
                cluster=control.name, node=peer.fqdn,
                evidence={"missing": [c.fingerprint_sha256 for c in missing]}))
    return findings
