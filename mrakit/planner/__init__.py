"""Desired vs observed → a Plan: the actions, in phases, each with its reasons.

Phases, make-before-break: (1) add trust everywhere it is needed; (2) install certificates,
rolling one peer at a time, each after every node that validates it trusts its chain; (3) verify
(done by apply, not an action); (4) prune, only when the inventory says `prune: true`.

`compute_plan` builds the whole plan (pure); `raise_if_unsafe` refuses an unsafe one; `plan`
observes every node and does both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mrakit.inventory.model import Inventory
from mrakit.observe import ObservedState, ProgressCallback, observe
from mrakit.planner.build import compute_plan
from mrakit.planner.draft import describe_certificate
from mrakit.planner.kinds import PHASE_CERTS, PHASE_PRUNE, PHASE_TRUST, ActionKind, Phase, Product
from mrakit.planner.model import FORMAT_VERSION, Action, Hazard, Plan
from mrakit.planner.safety import raise_if_unsafe
from mrakit.renew import inventory_with_certificates
from mrakit.session import Session, session_for


def observe_for_plan(inventory: Inventory, session: Session, *, workers: int | None = None,
                     progress: ProgressCallback | None = None,
                     certificates_dir: str | None = None) -> tuple[Inventory, ObservedState]:
    """Read every node; with `certificates_dir`, the signed certificates there become the desired
    ones of the nodes whose pending CSRs (or local keys) they complete."""
    observed = observe(inventory, session.expressway, session.cucm, workers=workers, progress=progress)
    if certificates_dir is not None:
        inventory = inventory_with_certificates(inventory, certificates_dir, observed)
    return inventory, observed


def plan(
    inventory: Inventory,
    *,
    workers: int | None = None,
    limit: Sequence[str] | None = None,
    force: bool = False,
    environ: Mapping[str, str] | None = None,
    progress: ProgressCallback | None = None,
    connections: Session | None = None,
    certificates_dir: str | None = None,
) -> Plan:
    """Observe every node (in parallel), plan, and refuse an unsafe plan (UnsafePlanError; `force`
    accepts large removals). Opens and closes its own session (and an in-process lab for
    `connection: lab`) unless `connections` is given. `certificates_dir` holds signed certificates
    to install, matched to their nodes by public key (see mrakit.renew)."""
    with session_for(inventory, connections, environ=environ) as session:
        inventory, observed = observe_for_plan(inventory, session, workers=workers, progress=progress,
                                               certificates_dir=certificates_dir)
    return raise_if_unsafe(compute_plan(inventory, observed, limit=limit), force=force)


__all__ = [
    "FORMAT_VERSION",
    "PHASE_CERTS",
    "PHASE_PRUNE",
    "PHASE_TRUST",
    "Action",
    "ActionKind",
    "Hazard",
    "Phase",
    "Plan",
    "Product",
    "compute_plan",
    "describe_certificate",
    "observe_for_plan",
    "plan",
    "raise_if_unsafe",
]
