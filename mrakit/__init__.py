"""mrakit: certificate and trust configuration as code for Cisco Mobile and Remote Access.

The public library API is re-exported here; everything else is an implementation detail.
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
)

__version__ = "0.1.0"

__all__ = [
    "AdapterError",
    "AuthError",
    "InventoryError",
    "MrakitError",
    "NodeUnreachable",
    "PkiError",
    "StalePlanError",
    "UnsafePlanError",
    "__version__",
]
