"""Plain helpers shared by the lab tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

from mrakit_testkit import PASSWORDS as _SHARED_PASSWORDS

from mrakit.pki.ca import CertificateAuthority
from mrakit.session import Session

REPO = Path(__file__).resolve().parents[2]
MRAKIT = REPO / ".venv" / "bin" / "mrakit"




PASSWORDS: dict[str, str] = dict(_SHARED_PASSWORDS)  # the lab passwords tests/conftest.py sets


def record_responses(connections: Session) -> list[str]:
    """Every answer body any adapter of `connections` receives from now on."""
    bodies: list[str] = []
    for adapter in [*connections.expressway.values(), *connections.cucm.values()]:
        adapter.client.session.hooks["response"].append(lambda response, *a, **k: bodies.append(response.text))
    return bodies


def new_root(name: str) -> CertificateAuthority:
    return CertificateAuthority.create_root(name, organization="Lab Test")
