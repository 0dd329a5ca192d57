"""A saved plan is input like any other: checked whole before the first write.

`check_plan_document` checks the JSON's shape (every field present with its type, every kind and
phase known) so `Plan.from_dict` never fails half-way; `check_plan_against` checks it against the
inventory (every node a node of it, of the product and cluster the action says, every certificate
an action writes present, parsable and the one the action names; a dependency outside the plan is
fine: `--limit` leaves such actions out on purpose). Either raises PlanError naming the first
problem; apply calls both before it writes anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mrakit.adapters.base import CUCM_SERVICE_OF_KIND, CUCM_TRUST_UNITS
from mrakit.errors import PkiError, PlanError
from mrakit.planner.kinds import PHASE_OF_KIND, ActionKind, Product

if TYPE_CHECKING:
    from mrakit.inventory.model import Inventory
    from mrakit.planner.model import Plan

ACTION_KINDS = tuple(kind.value for kind in ActionKind)
PRODUCTS = tuple(product.value for product in Product)
EXPRESSWAY_CERTIFICATE_KINDS = ("server", "client")
SEVERITIES = ("error", "warning", "info")
_TEXT, _OPTIONAL_TEXT = "a string", "a string or null"


def _text(value: object, where: str, *, optional: bool = False) -> None:
    if isinstance(value, str) or (optional and value is None):
        return
    raise PlanError(f"{where}: expected {_OPTIONAL_TEXT if optional else _TEXT}, got {_shown(value)}")


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise PlanError(f"{where}: expected an object, got {_shown(value)}")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise PlanError(f"{where}: expected a list, got {_shown(value)}")
    return value


def _shown(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'…' if len(text) > 40 else ''}"


def _check_action(raw: object, where: str) -> None:
    action = _mapping(raw, where)
    for key in ("id", "kind", "cluster", "node", "product", "summary"):
        if key not in action:
            raise PlanError(f"{where}: missing {key!r}")
        _text(action[key], f"{where}.{key}")
    for key in ("store", "certificate_kind", "subject", "fingerprint_sha256", "pem"):
        _text(action.get(key), f"{where}.{key}", optional=True)
    _text(action.get("instructions", ""), f"{where}.instructions")
    kind = action["kind"]
    if kind not in ACTION_KINDS:
        raise PlanError(f"{where}.kind: unknown action kind {kind!r} (known: {', '.join(ACTION_KINDS)})")
    if action["product"] not in PRODUCTS:
        raise PlanError(f"{where}.product: unknown product {action['product']!r}")
    phase = action.get("phase")
    if isinstance(phase, bool) or not isinstance(phase, int) or phase != PHASE_OF_KIND.get(kind, phase):
        raise PlanError(f"{where}.phase: {_shown(phase)} is not the phase of a {kind} action")
    if phase not in (1, 2, 4):
        raise PlanError(f"{where}.phase: unknown phase {phase}")
    for index, reason in enumerate(_list(action.get("reasons", []), f"{where}.reasons")):
        reason = _mapping(reason, f"{where}.reasons[{index}]")
        _text(reason.get("code"), f"{where}.reasons[{index}].code")
        _text(reason.get("text"), f"{where}.reasons[{index}].text")
    for index, dependency in enumerate(_list(action.get("depends_on", []), f"{where}.depends_on")):
        _text(dependency, f"{where}.depends_on[{index}]")


def _check_finding(raw: object, where: str) -> None:
    finding = _mapping(raw, where)
    for key in ("code", "message"):
        _text(finding.get(key), f"{where}.{key}")
    if finding.get("severity") not in SEVERITIES:
        raise PlanError(f"{where}.severity: expected one of {', '.join(SEVERITIES)}")
    _text(finding.get("fix", ""), f"{where}.fix")
    _text(finding.get("cluster"), f"{where}.cluster", optional=True)
    _text(finding.get("node"), f"{where}.node", optional=True)
    _mapping(finding.get("evidence", {}), f"{where}.evidence")


def check_plan_document(data: object) -> None:
    """The shape of a saved plan, whole. Raises PlanError with the dotted path of the first problem."""
    plan = _mapping(data, "the plan")
    inventory = _mapping(plan.get("inventory"), "inventory")
    _text(inventory.get("path"), "inventory.path")
    _text(inventory.get("sha256"), "inventory.sha256")
    _text(plan.get("created_at"), "created_at")
    for fqdn, node in _mapping(plan.get("nodes"), "nodes").items():
        _text(_mapping(node, f"nodes.{fqdn}").get("observed_fingerprint"), f"nodes.{fqdn}.observed_fingerprint")
    for fqdn, reason in _mapping(plan.get("unreachable", {}), "unreachable").items():
        _text(reason, f"unreachable.{fqdn}")
    for index, action in enumerate(_list(plan.get("actions"), "actions")):
        _check_action(action, f"actions[{index}]")
    for index, finding in enumerate(_list(plan.get("findings", []), "findings")):
        _check_finding(finding, f"findings[{index}]")
    for index, cluster in enumerate(_list(plan.get("limit", []), "limit")):
        _text(cluster, f"limit[{index}]")


def check_plan_against(plan: Plan, inventory: Inventory) -> None:
    """Every action of `plan` makes sense for `inventory`. Raises PlanError naming the action."""
    clusters: dict[tuple[str, str], str] = {}  # (product, fqdn) -> cluster
    for cluster in inventory.expressway.values():
        clusters.update({("expressway", peer.fqdn): cluster.name for peer in cluster.peers})
    for cucm in inventory.cucm.values():
        clusters.update({("cucm", node.fqdn): cucm.name for node in cucm.nodes})
    known_nodes = {fqdn for _, fqdn in clusters}
    for fqdn in plan.node_fingerprints:
        if fqdn not in known_nodes:
            raise PlanError(f"the plan names node {fqdn!r}, which is not a node of {inventory.path}")
    for limited in plan.limit:
        if limited not in inventory.expressway and limited not in inventory.cucm:
            raise PlanError(f"the plan's --limit names {limited!r}, which is no cluster of {inventory.path}")
    ids = [a.id for a in plan.actions]
    if len(set(ids)) != len(ids):
        raise PlanError("the plan holds two actions with the same id")
    for action in plan.actions:
        where = f"action {action.id!r}"
        home = clusters.get((action.product, action.node))
        if home is None:
            raise PlanError(f"{where}: {action.node!r} is not one of the {action.product} nodes of {inventory.path}")
        if home != action.cluster:
            raise PlanError(f"{where}: {action.node} is in cluster {home!r}, not {action.cluster!r}")
        if action.kind == "manual":
            continue
        if action.kind in ("trust.add", "trust.remove") and action.product == "cucm" \
                and action.store not in CUCM_TRUST_UNITS:
            raise PlanError(f"{where}: unknown CUCM trust store {action.store!r}")
        if action.kind == "cert.install":
            kinds = EXPRESSWAY_CERTIFICATE_KINDS if action.product == "expressway" else tuple(CUCM_SERVICE_OF_KIND)
            if action.certificate_kind not in kinds:
                raise PlanError(f"{where}: unknown {action.product} certificate kind {action.certificate_kind!r}")
        if not action.pem:
            raise PlanError(f"{where}: a {action.kind} action without its certificate (pem)")
        try:
            certificates = action.certificates()
        except (PkiError, UnicodeEncodeError) as exc:
            raise PlanError(f"{where}: its certificate cannot be read ({exc})") from None
        if action.fingerprint and certificates[0].fingerprint_sha256 != action.fingerprint:
            raise PlanError(f"{where}: its certificate does not have the fingerprint the action names")
