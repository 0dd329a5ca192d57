"""Adapters: one Protocol per product and its REST implementation. The in-memory ones, for tests,
live with the lab (mrakit.lab.memory)."""

from mrakit.adapters.base import (
    CUCM_TRUST_UNITS,
    Capabilities,
    CucmApi,
    ExpresswayApi,
    PhoneSecurityProfile,
)

__all__ = [
    "CUCM_TRUST_UNITS",
    "Capabilities",
    "CucmApi",
    "ExpresswayApi",
    "PhoneSecurityProfile",
]
