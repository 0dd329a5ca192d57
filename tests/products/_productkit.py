"""Plain helpers for the product-fidelity tests (fixtures live in tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import requests
from mrakit_testkit import PASSWORDS

from mrakit.session import Session

EXPE1, EXPE2, EXPC1, EXPC2 = "expe1.acme.com", "expe2.acme.com", "expc1.acme.local", "expc2.acme.local"
PUB, SUB = "cucm-pub.acme.local", "cucm-sub1.acme.local"
EXPRESSWAY_LOGIN = ("admin", PASSWORDS["MRAKIT_EXPRESSWAY_PASSWORD"])
CUCM_LOGIN = ("ccmadmin", PASSWORDS["MRAKIT_CUCM_PASSWORD"])


def raw_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback: never through a proxy
    return session


def lab_post(connections: Session, url: str, **kwargs: Any) -> requests.Response:
    assert connections.lab is not None
    return raw_session().post(url, verify=str(connections.lab.ca_bundle), timeout=10, **kwargs)


def lab_get(connections: Session, url: str, **kwargs: Any) -> requests.Response:
    assert connections.lab is not None
    return raw_session().get(url, verify=str(connections.lab.ca_bundle), timeout=10, **kwargs)
