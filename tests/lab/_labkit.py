"""Plain helpers shared by the lab tests (fixtures live in conftest.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from mrakit.adapters.connect import Connections
from mrakit.pki.ca import CertificateAuthority

REPO = Path(__file__).resolve().parents[2]
MRAKIT = REPO / ".venv" / "bin" / "mrakit"


def _root_conftest() -> Any:
    spec = importlib.util.spec_from_file_location("_mrakit_tests_root_conftest", REPO / "tests" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


PASSWORDS: dict[str, str] = dict(_root_conftest().PASSWORDS)  # the lab passwords tests/conftest.py sets


def record_responses(connections: Connections) -> list[str]:
    """Every answer body any adapter of `connections` receives from now on."""
    bodies: list[str] = []
    for adapter in [*connections.expressway.values(), *connections.cucm.values()]:
        adapter.client.session.hooks["response"].append(lambda response, *a, **k: bodies.append(response.text))
    return bodies


def new_root(name: str) -> CertificateAuthority:
    return CertificateAuthority.create_root(name, organization="Lab Test")
