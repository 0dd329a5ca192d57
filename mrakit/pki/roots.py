"""Public roots: the phones' fixed trust list approximated by Mozilla's bundle (certifi)."""

from __future__ import annotations

import os
from functools import lru_cache

import certifi

from mrakit.pki.certview import CertView
from mrakit.pki.load import load_certificates_file


@lru_cache(maxsize=1)
def _certifi_roots() -> tuple[CertView, ...]:
    return tuple(load_certificates_file(certifi.where()))


def load_public_roots(bundle: str | os.PathLike[str] | None = None) -> tuple[CertView, ...]:
    """The roots 7800/8800 phones are assumed to trust: `bundle` when given, else certifi's."""
    if bundle is not None:
        return tuple(load_certificates_file(bundle))
    return _certifi_roots()
