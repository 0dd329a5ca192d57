"""mrakit: certificate and trust configuration as code for Cisco Mobile and Remote Access.

The public library API::

    import mrakit

    inventory = mrakit.load_inventory("inventory.yaml")   # InventoryError: file:line:col: field
    state = mrakit.desired_state(inventory)               # pure: no network
    the_plan = mrakit.plan(inventory)                     # observes every node in parallel
    result = mrakit.apply(the_plan, inventory)            # failures are data: result.failed
    report = mrakit.doctor(inventory)                     # every rule, with handshake proofs

The modules of the same names (``mrakit.plan``, ``mrakit.apply``, …) hold the value types
(``Plan``, ``ApplyResult``, ``Report``); import those from the modules.
"""

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

__version__ = "0.1.0"


# These functions shadow their modules' names on the package, on purpose: they are the API.
from mrakit.apply import apply
from mrakit.desired import desired_state
from mrakit.doctor import doctor
from mrakit.inventory.load import load_inventory
from mrakit.inventory.model import Inventory
from mrakit.planner import plan

__all__ = [
    "AdapterError",
    "AuthError",
    "Inventory",
    "InventoryError",
    "MrakitError",
    "NodeUnreachable",
    "PkiError",
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
