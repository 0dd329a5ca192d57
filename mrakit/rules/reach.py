"""Nodes that could not be read: `doctor` reports them as NET001, `plan` as UNREACHABLE (a plan
that leaves a node out must say so beside its actions)."""

from __future__ import annotations

from mrakit.findings import Finding, Severity
from mrakit.rules.context import CheckContext


def check_reachable(ctx: CheckContext) -> list[Finding]:
    return [Finding("NET001", Severity.ERROR, f"could not read {failed.node}: {failed.error}",
                    fix="check address, credentials and API access", cluster=failed.cluster, node=failed.node)
            for failed in (ctx.observed.failed() if ctx.observed else ())]


def check_unreachable_for_plan(ctx: CheckContext) -> list[Finding]:
    return [Finding("UNREACHABLE", Severity.ERROR, f"could not read {failed.node}: {failed.error}",
                    fix="check the node's address, credentials and API access, then plan again",
                    cluster=failed.cluster, node=failed.node)
            for failed in (ctx.observed.failed() if ctx.observed else ())]
