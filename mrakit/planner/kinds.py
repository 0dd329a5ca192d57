"""The named types of a plan: its phases, the kinds of action, the products. Shared by the plan
value and the check of a saved plan document."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Phase(IntEnum):
    """Make-before-break order. Phase 3, verification, is apply's, not an action's."""

    TRUST = 1
    CERTS = 2
    PRUNE = 4


PHASE_TRUST, PHASE_CERTS, PHASE_PRUNE = Phase.TRUST, Phase.CERTS, Phase.PRUNE


class ActionKind(StrEnum):
    TRUST_ADD = "trust.add"
    TRUST_REMOVE = "trust.remove"
    CERT_INSTALL = "cert.install"
    MANUAL = "manual"


class Product(StrEnum):
    EXPRESSWAY = "expressway"
    CUCM = "cucm"


PHASE_OF_KIND = {ActionKind.TRUST_ADD: Phase.TRUST, ActionKind.CERT_INSTALL: Phase.CERTS,
                 ActionKind.TRUST_REMOVE: Phase.PRUNE}  # a manual step sits in the phase it belongs to
