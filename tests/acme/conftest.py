"""Fixtures for the ACME renewal tests: BIND and Pebble on loopback, and a lab deployment whose
inventory renews through them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from _acmekit import TSIG_NAME, Bind, Pebble, run_cli
from mrakit_testkit import EXAMPLE

TSIG_ENV = "MRAKIT_TEST_TSIG_SECRET"
EXAMPLE_DATA = yaml.safe_load(EXAMPLE.read_text())
ZONES = ("acme.com", "acme.local")


@dataclass
class AcmeServers:
    bind: Bind
    pebble: Pebble
    directory: Path

    @property
    def issuers(self) -> Path:
        return self.directory / "issuers.pem"

    def publish_issuers(self, *, keep: bool = False) -> None:
        """Write the CA's current intermediate and root to the issuers file (the published set);
        `keep` adds them to what it holds (a CA that issues from old and new intermediates)."""
        old = self.issuers.read_text() if keep and self.issuers.exists() else ""
        self.issuers.write_text(old + self.pebble.intermediate_pem() + self.pebble.root_pem())


@pytest.fixture
def acme_servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AcmeServers]:
    bind = Bind(tmp_path / "bind", ZONES)
    bind.start()
    pebble = Pebble(tmp_path / "pebble", bind.address)
    try:
        pebble.start()
        monkeypatch.setenv(TSIG_ENV, bind.secret)
        yield AcmeServers(bind, pebble, tmp_path)
    finally:
        pebble.stop()
        bind.stop()


def acme_section(servers: AcmeServers, **overrides: Any) -> dict[str, Any]:
    dns_update = {"server": servers.bind.address, "tsig_key_name": TSIG_NAME, "tsig_algorithm": "hmac-sha256",
                  "tsig_secret_env": TSIG_ENV, **overrides.pop("dns_update", {})}
    return {"directory": servers.pebble.directory_url, "ca_bundle": str(servers.pebble.ca_bundle),
            "account_key": "acme/account.key", "contact": ["mailto:pki@example.com"], "challenge": "dns-01",
            "dns_update": dns_update, "propagation_seconds": 0, "issuers": str(servers.issuers), **overrides}


@pytest.fixture
def acme_deployment(make_deployment: Callable[..., Any], acme_servers: AcmeServers) -> Callable[..., Any]:
    """acme_deployment(converged=True, **acme_overrides) -> a lab deployment with `defaults.acme`
    pointing at the loopback Pebble and BIND, its issuers file holding Pebble's current intermediate
    and root; `converged`: applied once, so every trust relation works before any renewal."""

    def make(*, converged: bool = True, **overrides: Any) -> Any:
        if not acme_servers.issuers.exists():
            acme_servers.publish_issuers()
        # The X15.5 client certificates are named: no API reads them, and once C's server certificate
        # comes from another CA than its client certificate, the trust E needs follows the client one.
        control_peers = [{**peer, "client_certificate": f"pki/{peer['fqdn'].split('.')[0]}-client.pem"}
                         for peer in EXAMPLE_DATA["expressway"]["exp-c"]["peers"]]
        deployment = make_deployment("fresh", {"defaults": {"acme": acme_section(acme_servers, **overrides)},
                                               "expressway": {"exp-c": {"peers": control_peers}}})
        if converged:  # every trust relation in place: the old certificates work before the renewal
            result = run_cli("apply", "-i", deployment.path, "--yes")
            assert result.code == 0, result.out + result.err
        return deployment

    return make
