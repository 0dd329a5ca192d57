"""Plan → ApplyResult: phased, bounded concurrency, partial failure as data, then verify.

Phase 1 adds trust on every node (nodes in parallel, each node's additions in order), then waits
for CUCM to replicate it to the subscribers. Phase 2 installs certificates one peer at a time per
cluster, each only when every trust addition it depends on succeeded. Phase 4 prunes. Last, phase
3: every node is read again and every trust relation re-checked, as the doctor does (Expressway
semantics on an Expressway, path building on CUCM). A failed node never stops the others.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from mrakit.adapters.base import CUCM_SERVICE_OF_KIND
from mrakit.desired import desired_for
from mrakit.errors import MrakitError, NodeUnreachable, StalePlanError
from mrakit.inventory.model import Inventory
from mrakit.observe import ObservedState, ProgressCallback, observe
from mrakit.pki.roots import load_public_roots
from mrakit.planner import PHASE_CERTS, PHASE_PRUNE, PHASE_TRUST, Action, Plan
from mrakit.planner.document import check_plan_against
from mrakit.planner.safety import raise_if_unsafe
from mrakit.rules.context import CheckContext
from mrakit.rules.trust import relation_verdict, relations_with_subscribers
from mrakit.session import Session, session_for

Status = Literal["ok", "changed", "failed", "skipped", "manual"]


@dataclass(frozen=True)
class ActionResult:
    action_id: str
    node: str
    kind: str
    summary: str
    status: Status
    error: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action_id, "node": self.node, "kind": self.kind, "summary": self.summary,
                "status": self.status, "error": self.error, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class RelationCheck:
    validator: str
    store: str
    subject: str
    kind: str
    valid: bool
    reason: str | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ApplyResult:
    results: tuple[ActionResult, ...]
    verification: tuple[RelationCheck, ...] = ()
    unreachable: Mapping[str, str] = field(default_factory=dict)
    # Trust relations the verification could not judge (a node unreachable, or its trust unreadable)
    # and those it left alone because their validator is outside the plan's --limit.
    not_judged: int = 0
    not_judged_why: str = "nodes unreachable"
    out_of_scope: int = 0

    @property
    def failed(self) -> bool:
        return (any(r.status in ("failed", "skipped") for r in self.results)
                or any(not c.valid for c in self.verification) or bool(self.unreachable))

    @property
    def changed(self) -> bool:
        return any(r.status == "changed" for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        nodes: dict[str, list[dict[str, Any]]] = {}
        for result in self.results:
            nodes.setdefault(result.node, []).append(result.to_dict())
        return {
            "failed": self.failed,
            "changed": self.changed,
            "summary": self.summary(),
            "nodes": nodes,
            "unreachable": dict(self.unreachable),
            "relations": {
                "expected": len(self.verification) + self.not_judged,
                "verified": sum(1 for c in self.verification if c.valid),
                "not_verified": sum(1 for c in self.verification if not c.valid),
                "not_judged": self.not_judged,
                "out_of_scope": self.out_of_scope,
            },
            "verification": [c.to_dict() for c in self.verification],
        }

    def verdict(self) -> str:
        """How many trust relations verified out of how many were expected, naming those not judged."""
        expected = len(self.verification) + self.not_judged
        good = sum(1 for c in self.verification if c.valid)
        text = f"{good}/{expected} trust relations verified"
        if self.not_judged:
            text += f", {self.not_judged} not judged ({self.not_judged_why})"
        if self.out_of_scope:
            text += f", {self.out_of_scope} outside --limit not checked"
        return text

    def summary(self) -> str:
        """One line that names what did not happen as plainly as what did."""
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.status] = counts.get(result.status, 0) + 1
        broken = [c for c in self.verification if not c.valid]
        down = ""
        if self.unreachable:
            n = len(self.unreachable)
            down = f"; {n} node{'s' if n != 1 else ''} unreachable ({', '.join(sorted(self.unreachable))})"
        if not self.results and not broken and not self.unreachable and not self.not_judged:
            checked = f" ({self.verdict()})" if self.verification else ""
            return f"Apply: nothing to do, every node already matches the inventory{checked}"
        if not self.results:
            head = "nothing applied" if self.unreachable else "nothing to change"
            return f"Apply: {head}; {self.verdict()}{down}"
        parts = [f"{n} {status}" for status, n in sorted(counts.items())]
        return f"Apply: {', '.join(parts)}; {self.verdict()}{down}"


@dataclass(frozen=True)
class Verification:
    """What phase 3 found: the relations it judged, and how many it could not or was not asked to."""

    checks: tuple[RelationCheck, ...]
    not_judged: int = 0
    not_judged_why: str = "nodes unreachable"
    out_of_scope: int = 0


def check_relations(inventory: Inventory, observed: ObservedState) -> list[RelationCheck]:
    """Every trust relation re-checked on what the nodes hold now (see `verify_relations`)."""
    return list(verify_relations(inventory, observed).checks)


def verify_relations(inventory: Inventory, observed: ObservedState,
                     limit: Collection[str] | None = None) -> Verification:
    """Every trust relation re-checked on what the nodes hold now — the same verdict the doctor gives
    (Expressway semantics on an Expressway, path building on CUCM, every CUCM subscriber included).
    Relations whose validator is outside `limit` (clusters) are counted as out of scope; those
    whose nodes cannot be read are counted as not judged, never silently dropped."""
    now = dt.datetime.now(dt.UTC)
    desired = desired_for(inventory, observed, as_deployed=True, at=now)
    context = CheckContext(inventory, desired, observed, load_public_roots(), now)
    checks: list[RelationCheck] = []
    out_of_scope = unreachable = unreadable = 0
    for rel in relations_with_subscribers(context):
        if limit and rel.validator_cluster not in limit:
            out_of_scope += 1
            continue
        ends = [observed.nodes.get(rel.subject), observed.nodes.get(rel.validator)]
        if any(o is None or not o.ok for o in ends):
            unreachable += 1
            continue
        result = relation_verdict(context, rel)
        if result is None:
            unreadable += 1
            continue
        checks.append(RelationCheck(rel.validator, rel.store, rel.subject, rel.kind, result.valid,
                                    result.reason.value if result.reason else None, result.detail))
    why = " or ".join(w for w, n in (("nodes unreachable", unreachable), ("trust lists unreadable", unreadable)) if n)
    return Verification(tuple(checks), unreachable + unreadable, why or "nodes unreachable", out_of_scope)


class _Applier:
    def __init__(self, plan: Plan, connections: Session, workers: int, progress: ProgressCallback | None) -> None:
        self.plan = plan
        self.connections = connections
        self.workers = max(1, workers)
        self.progress = progress
        self.results: dict[str, ActionResult] = {}

    def note(self, phase: str, node: str, message: str) -> None:
        if self.progress:
            try:
                self.progress(phase, node, message)
            except Exception:
                self.progress = None

    def execute(self, action: Action) -> ActionResult:
        started = time.monotonic()
        # A prerequisite that failed, was skipped, or is a step someone must still do by hand blocks.
        blocking = ("failed", "skipped") if action.kind == "manual" else ("failed", "skipped", "manual")
        blocked = [d for d in action.depends_on if self.results.get(d) and self.results[d].status in blocking]
        if blocked:
            what = "prerequisites" if action.kind == "manual" else "trust prerequisites"
            return ActionResult(action.id, action.node, action.kind, action.summary, "skipped",
                                error=f"{what} failed: " + ", ".join(
                                    f"{self.results[d].summary} ({self.results[d].status})" for d in blocked))
        if action.kind == "manual":
            return ActionResult(action.id, action.node, action.kind, action.summary, "manual")
        try:
            wrote = self.perform(action)
        except MrakitError as exc:
            self.note(f"phase {action.phase}", action.node, f"failed: {action.summary}: {exc}")
            return ActionResult(action.id, action.node, action.kind, action.summary, "failed", str(exc),
                                time.monotonic() - started)
        if not wrote:
            self.note(f"phase {action.phase}", action.node, f"already there (added meanwhile): {action.summary}")
            return ActionResult(action.id, action.node, action.kind, action.summary, "ok",
                                seconds=time.monotonic() - started)
        self.note(f"phase {action.phase}", action.node, f"done: {action.summary}")
        return ActionResult(action.id, action.node, action.kind, action.summary, "changed",
                            seconds=time.monotonic() - started)

    def perform(self, action: Action) -> bool:
        """Carry out one action; False when the node already had it (nothing was written)."""
        certs = action.certificates()
        if action.product == "expressway":
            adapter = self.connections.expressway[action.node]
            if action.kind == "trust.add":
                # Read right before appending: an Expressway appends a CA it already holds as a second
                # entry and has no compare-and-set, and a writer elsewhere (another mrakit, the web UI)
                # may have added it since the plan was made. This narrows that window; it cannot close it.
                if certs[0] in adapter.trusted_cas():
                    return False
                adapter.add_trusted_ca(certs[0])
            elif action.kind == "trust.remove":
                adapter.remove_trusted_ca(certs[0])
            elif action.kind == "cert.install" and action.certificate_kind == "client":
                adapter.install_client_certificate(certs)
            elif action.kind == "cert.install":
                adapter.install_server_certificate(certs)
            return True
        cucm = self.connections.cucm[action.node]
        if action.kind == "trust.add":
            cucm.add_trusted_certificate(action.store or "", certs[0])
        elif action.kind == "trust.remove":
            cucm.remove_trusted_certificate(action.store or "", certs[0])
        elif action.kind == "cert.install":
            cucm.install_identity_certificate(CUCM_SERVICE_OF_KIND[action.certificate_kind or "tomcat"], certs)
        return True

    def await_replication(self, inventory: Inventory, timeout: float) -> None:
        """Trust added on a CUCM publisher must reach every subscriber before a certificate that needs
        it is installed (MRA032: verify on each). Wait for it, bounded; where it does not arrive in
        time, the addition counts as failed, so the installs that depend on it are skipped."""
        added = [a for a in self.plan.in_phase(PHASE_TRUST)
                 if a.product == "cucm" and a.kind == "trust.add" and self.results.get(a.id)
                 and self.results[a.id].status == "changed"]
        waiting: dict[str, list[tuple[Action, str]]] = {}
        # A subscriber already known to be unreachable is not waited for (it would cost the whole
        # timeout for nothing); the addition says so, and the verification lists the node unreachable.
        unreachable: dict[str, list[Action]] = {}
        for action in added:
            cucm = next((c for c in inventory.cucm.values() if c.publisher.fqdn == action.node), None)
            for subscriber in cucm.subscribers if cucm else ():
                if subscriber.fqdn in self.plan.unreachable:
                    unreachable.setdefault(subscriber.fqdn, []).append(action)
                else:
                    waiting.setdefault(subscriber.fqdn, []).append((action, action.store or ""))
        deadline = time.monotonic() + timeout
        delay = 0.1
        def present_on(fqdn: str) -> set[tuple[str, str | None]] | None:
            adapter = self.connections.cucm.get(fqdn)
            try:
                return {(store, c.fingerprint_sha256) for store in {s for _, s in waiting[fqdn]}
                        for c in adapter.trusted_certificates(store)} if adapter else set()
            except NodeUnreachable:
                return None
            except MrakitError:
                return set()

        while waiting:
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                seen = dict(zip(list(waiting), pool.map(present_on, list(waiting)), strict=True))
            for fqdn, present in seen.items():
                if present is None:  # it went away meanwhile: as unreachable as one known before
                    unreachable.setdefault(fqdn, []).extend(a for a, _ in waiting.pop(fqdn))
                    continue
                waiting[fqdn] = [(a, s) for a, s in waiting[fqdn] if (s, a.fingerprint) not in present]
                if not waiting[fqdn]:
                    del waiting[fqdn]
                    self.note("replication", fqdn, "trust from the publisher arrived")
            if not waiting or time.monotonic() >= deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        for fqdn, skipped in sorted(unreachable.items()):
            self.note("replication", fqdn, "unreachable: not waiting for the publisher's trust to arrive")
            for action in skipped:
                done = self.results[action.id]
                said = f"{done.error}; " if done.error else ""
                self.results[action.id] = replace(
                    done, error=f"{said}replication to {fqdn} not waited for: the node is unreachable")
        for fqdn, pending in waiting.items():
            for action, _ in pending:
                self.results[action.id] = ActionResult(
                    action.id, action.node, action.kind, action.summary, "failed",
                    error=f"added on the publisher, but not replicated to {fqdn} within {timeout:g} s")

    def run_sequences(self, sequences: list[list[Action]]) -> None:
        """Each sequence in order; sequences in parallel, at most `workers` at once."""

        def run(sequence: list[Action]) -> None:
            for action in sequence:
                self.results[action.id] = self.execute(action)

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            list(pool.map(run, sequences))

    def phase(self, phase: int) -> None:
        actions = self.plan.in_phase(phase)
        if phase == PHASE_CERTS:
            # Rolling: one peer at a time within a cluster; clusters side by side.
            groups: dict[str, list[Action]] = {}
            for action in actions:
                groups.setdefault(action.cluster, []).append(action)
        else:
            groups = {}
            for action in actions:
                groups.setdefault(action.node, []).append(action)
        self.run_sequences(list(groups.values()))


def _stale_nodes(plan: Plan, observed: ObservedState) -> list[str]:
    changed = []
    for fqdn, fingerprint in plan.node_fingerprints.items():
        now = observed.nodes.get(fqdn)
        if now is None or now.fingerprint != fingerprint:
            changed.append(fqdn)
    return changed


def refuse_other_inventory(plan: Plan, inventory: Inventory) -> None:
    """A plan belongs to the inventory it was made from, as it was then (StalePlanError otherwise)."""
    if plan.inventory_sha256 == inventory.sha256:
        return
    made_from, given = Path(plan.inventory_path).resolve(), Path(inventory.path).resolve()
    if made_from != given:
        raise StalePlanError(f"the plan was made from another inventory ({made_from}), not {given}: "
                             f"plan again with -i {inventory.path}")
    raise StalePlanError(f"the plan is stale: {inventory.path} changed since it was made (plan again)")


def refuse_stale(plan: Plan, inventory: Inventory, connections: Session, *,
                 workers: int | None = None) -> ObservedState:
    """Refuse (StalePlanError) a saved plan whose inventory or any node's observed state changed;
    return what was observed."""
    refuse_other_inventory(plan, inventory)
    now = observe(inventory, connections.expressway, connections.cucm, workers=workers)
    changed = _stale_nodes(plan, now)
    if changed:
        raise StalePlanError(
            f"the plan is stale: {len(changed)} node(s) changed since it was made: {', '.join(changed)} "
            "(plan again)", changed_nodes=tuple(changed))
    return now


def apply(
    plan: Plan,
    inventory: Inventory,
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    environ: Mapping[str, str] | None = None,
    connections: Session | None = None,
    check_stale: bool = True,
    verify: bool = True,
    replication_timeout: float = 120.0,
) -> ApplyResult:
    """Carry out `plan`. An unsafe plan (hazards `raise_if_unsafe` did not accept) is refused
    (UnsafePlanError), and a saved plan (StalePlanError) when the inventory or any node's observed
    state changed since it was made; nothing is changed then. Failures are reported in the result,
    not raised."""
    raise_if_unsafe(plan)
    refuse_other_inventory(plan, inventory)
    check_plan_against(plan, inventory)  # a tampered plan is refused whole, before the first write
    workers = workers or inventory.defaults.workers
    with session_for(inventory, connections, environ=environ) as conns:
        if check_stale:
            refuse_stale(plan, inventory, conns, workers=workers)
        applier = _Applier(plan, conns, workers, progress)
        applier.phase(PHASE_TRUST)
        applier.await_replication(inventory, replication_timeout)
        applier.phase(PHASE_CERTS)
        applier.phase(PHASE_PRUNE)
        verification = Verification(())
        unreachable: dict[str, str] = dict(plan.unreachable)
        if verify:
            after = observe(inventory, conns.expressway, conns.cucm, workers=workers, progress=progress,
                            verification=True)
            unreachable = {o.node: o.error or "" for o in after.failed()}
            verification = verify_relations(inventory, after, plan.limit or None)
        ordered = tuple(applier.results[a.id] for a in plan.actions if a.id in applier.results)
        return ApplyResult(ordered, verification.checks, unreachable, verification.not_judged,
                           verification.not_judged_why, verification.out_of_scope)
