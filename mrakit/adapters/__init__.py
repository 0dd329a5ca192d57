"""Adapters: one Protocol per product, REST implementations, and an in-memory one for tests."""

from mrakit.adapters.base import (
    CUCM_TRUST_UNITS,
    Capabilities,
    CucmApi,
    ExpresswayApi,
    PhoneSecurityProfile,
)
from mrakit.adapters.memory import MemoryCucm, MemoryExpressway

__all__ = [
    "CUCM_TRUST_UNITS",
    "Capabilities",
    "CucmApi",
    "ExpresswayApi",
    "MemoryCucm",
    "MemoryExpressway",
    "PhoneSecurityProfile",
]
