"""Whether a plan is safe to apply: a separate step after the plan is built whole, so an unsafe
plan can be shown, then refused."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from mrakit.errors import UnsafePlanError
from mrakit.findings import Severity
from mrakit.planner.kinds import ActionKind
from mrakit.planner.model import Action, Hazard, Plan
from mrakit.planner.products import ProductPlanning
from mrakit.rules.registry import Judgement

_INSTALL_BLOCKERS = {
    "MRA001",
    "MRA004",
    "MRA006",
    "MRA007",
    "MRA009",
    "MRA010",
    "MRA011",
    "MRA012",
    "MRA013",
    "MRA014",
    "MRA015",
    "MRA017",
}


def install_hazards(judged: Judgement, actions: Sequence[Action],
                    products: Mapping[str, ProductPlanning]) -> list[Hazard]:
    """A certificate that lacks a required SAN, has the wrong EKUs for the node's version, has
    expired or is a wildcard is never installed, --force or not."""
    problems: list[tuple[str, str]] = []
    for action in actions:
        if action.kind != ActionKind.CERT_INSTALL or not products[action.product].guarded_installs:
            continue
        for finding in judged.of_node(action.node):
            if (
                finding.severity is Severity.ERROR
                and finding.code in _INSTALL_BLOCKERS
                and finding.evidence.get("fingerprint_sha256") == action.fingerprint
            ):
                problems.append((action.node, f"{action.node}: {finding.message} ({finding.code})"))
    if not problems:
        return []
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return [Hazard(problems[0][0], f"refusing to install a certificate, nothing was changed: {problems[0][1]}{more}")]


def blocking_hazards(plan: Plan, *, force: bool = False) -> list[Hazard]:
    return [h for h in plan.hazards if not (force and h.overridable)]


def raise_if_unsafe(plan: Plan, *, force: bool = False) -> Plan:
    """UnsafePlanError for the first hazard `force` does not accept (nothing has been changed then);
    else the plan without the hazards `force` accepted, which `apply` then takes."""
    blocking = blocking_hazards(plan, force=force)
    if blocking:
        raise UnsafePlanError(blocking[0].message)
    return replace(plan, hazards=()) if plan.hazards else plan
