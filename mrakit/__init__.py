"""mrakit: certificate and trust configuration as code for Cisco Mobile and Remote Access.

The public library API::

    import mrakit

    inventory = mrakit.load_inventory("inventory.yaml")   # InventoryError: file:line:col: field
    state = mrakit.desired_state(inventory)               # pure: no network
    the_plan = mrakit.plan(inventory)                     # observes every node in parallel
    result = mrakit.apply(the_plan, inventory)            # failures are data: result.failed
    report = mrakit.doctor(inventory)                     # every rule, with handshake proofs

The value types are here too (``mrakit.Plan``, ``mrakit.ApplyResult``, ``mrakit.Report``,
``mrakit.Session``). The functions live in modules named for the step of the data flow
(``mrakit.planner``, ``mrakit.applier``, ``mrakit.diagnosis``), so no name on this face hides a module.
"""

from mrakit.applier import ApplyResult, apply
from mrakit.desired import DesiredState, desired_state
from mrakit.diagnosis import Report, doctor
from mrakit.errors import (
    AdapterError,
    AuthError,
    InventoryError,
    MrakitError,
    NodeUnreachable,
    PkiError,
    StalePlanError,
    UnsafePlanError,
    UnsupportedOperation,
)
from mrakit.inventory.load import load_inventory
from mrakit.inventory.model import Inventory
from mrakit.planner import Plan, plan
from mrakit.session import Session

__version__ = "0.1.0"

__all__ = [
    "AdapterError",
    "ApplyResult",
    "AuthError",
    "DesiredState",
    "Inventory",
    "InventoryError",
    "MrakitError",
    "NodeUnreachable",
    "PkiError",
    "Plan",
    "Report",
    "Session",
    "StalePlanError",
    "UnsafePlanError",
    "UnsupportedOperation",
    "__version__",
    "apply",
    "desired_state",
    "doctor",
    "load_inventory",
    "plan",
]
