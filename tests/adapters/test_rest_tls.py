"""The REST client's TLS: one context per CA bundle for every node, a bundle rewritten on disk read
anew, verification still on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mrakit.adapters import rest
from mrakit.adapters.rest import RestClient
from mrakit.errors import AdapterError
from mrakit.pki.ca import CertificateAuthority


def test_every_node_shares_one_context_per_ca_bundle(make_deployment: Callable[..., Any],
                                                     lab_connections: Callable[..., Any],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rest, "_TLS_CONTEXTS", rest._TlsContexts())
    deployment = make_deployment()
    connections = lab_connections(deployment.path)
    for adapter in connections.expressway.values():  # one new connection per node
        assert adapter.version()
    assert len(connections.expressway) == 4
    assert rest._TLS_CONTEXTS.loads == 1  # the bundle was loaded once, not once per connection


def test_a_bundle_rewritten_in_place_is_loaded_again(make_deployment: Callable[..., Any],
                                                      lab_connections: Callable[..., Any],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rest, "_TLS_CONTEXTS", rest._TlsContexts())
    deployment = make_deployment()
    connections = lab_connections(deployment.path)
    node, adapter = next(iter(connections.expressway.items()))
    assert adapter.version()
    bundle = adapter.client.settings.verify
    assert isinstance(bundle, str)
    original = Path(bundle).read_text()
    stranger = CertificateAuthority.create_root("Stranger Management CA").cert.pem
    Path(bundle).write_text(stranger + "\n" * 3)  # trusting another CA only: the node's certificate must fail
    with pytest.raises(AdapterError, match=r"TLS verification of .* management API failed"):
        RestClient(node, adapter.client.settings).read("/api/provisioning/sysinfo")
    Path(bundle).write_text(original)
    fresh = RestClient(node, adapter.client.settings)
    assert fresh.read("/api/provisioning/sysinfo").status_code == 200
    fresh.close()
    assert rest._TLS_CONTEXTS.loads == 3
