"""The adapter contract: one suite, run against every implementation of ExpresswayApi / CucmApi.

"rest-lab": ExpresswayRest / CucmRest talking real HTTPS to the in-process lab.
"memory":   MemoryExpressway / MemoryCucm over the same node models, without HTTP.

Both must behave like the products as docs/apis describes them; where they differ on purpose
(capabilities, replication delay) the difference is spelled out in the Backend below.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from mrakit.adapters.base import CUCM_TRUST_UNITS, CucmApi, ExpresswayApi
from mrakit.errors import AdapterError, UnsupportedOperation
from mrakit.inventory.load import load_inventory
from mrakit.inventory.model import Inventory
from mrakit.lab.memory import MemoryCucm, MemoryExpressway
from mrakit.lab.seed import init_lab
from mrakit.lab.state import LabState
from mrakit.pki.ca import BOTH_EKUS, CertificateAuthority
from mrakit.pki.certview import CLIENT_AUTH, CertView
from mrakit.pki.chain import verify_chain
from mrakit.pki.keys import csr_dns_names
from mrakit.session import connect

EDGE = ("expe1.acme.com", "expe2.acme.com")
CONTROL = ("expc1.acme.local", "expc2.acme.local")
EXPRESSWAYS = (*EDGE, *CONTROL)
PUB, SUB = "cucm-pub.acme.local", "cucm-sub1.acme.local"
EXAMPLE = Path(__file__).resolve().parents[2] / "inventory.example.yaml"
REPLICATION_BOUND_S = 5.0  # the lab replicates after replication_delay_ms (300 ms by default)


@dataclass
class Backend:
    kind: str
    inventory: Inventory
    expressway: dict[str, Any]
    cucm: dict[str, Any]
    memory_state: LabState | None = None
    responses: list[str] = field(default_factory=list)  # every REST answer body, for leak checks

    @property
    def rest(self) -> bool:
        return self.kind == "rest-lab"

    def restart_pending(self, fqdn: str) -> list[str]:
        """What the node itself says: the node model (memory) or the lab's saved state (REST)."""
        if self.memory_state is not None:
            return list(self.memory_state.cucm[fqdn].restart_pending)
        return list(LabState.load(self.inventory.lab_state_dir).cucm[fqdn].restart_pending)

    def replicated(self, check: Callable[[], bool]) -> bool:
        """Memory replicates at once; the lab within a bounded delay."""
        if not self.rest:
            return check()
        deadline = time.monotonic() + REPLICATION_BOUND_S
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.05)
        return check()


@pytest.fixture(scope="module")
def fresh_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example deployment, initialised once (fresh scenario); each test works on a copy of it."""
    directory = tmp_path_factory.mktemp("contract-template")
    shutil.copy(EXAMPLE, directory / "inventory.yaml")
    init_lab(directory / "inventory.yaml", "fresh")
    return directory


@pytest.fixture(params=["rest-lab", "memory"])
def backend(request: pytest.FixtureRequest, fresh_template: Path, tmp_path: Path,
            lab_env: dict[str, str]) -> Iterator[Backend]:
    directory = shutil.copytree(fresh_template, tmp_path / "deployment")
    inventory = load_inventory(directory / "inventory.yaml")
    if request.param == "memory":
        state = LabState.load(inventory.lab_state_dir)
        expressway = {fqdn: MemoryExpressway(node) for fqdn, node in state.expressway.items()}
        cucm = {
            PUB: MemoryCucm(state.cucm[PUB], subscribers=[state.cucm[SUB]]),
            SUB: MemoryCucm(state.cucm[SUB]),
        }
        yield Backend("memory", inventory, expressway, cucm, memory_state=state)
        return
    with connect(inventory, attempts=3, max_retry_seconds=10) as connections:
        backend = Backend("rest-lab", inventory, dict(connections.expressway), dict(connections.cucm))
        for adapter in [*connections.expressway.values(), *connections.cucm.values()]:
            adapter.client.session.hooks["response"].append(
                lambda response, *args, **kwargs: backend.responses.append(response.text))
        yield backend


def new_root(name: str) -> CertificateAuthority:
    return CertificateAuthority.create_root(name, organization="Contract Test")


def inventory_leaf(inventory: Inventory, fqdn: str) -> CertView:
    for cluster in inventory.expressway.values():
        for peer in cluster.peers:
            if peer.fqdn == fqdn:
                assert peer.certificate is not None
                return peer.certificate.leaf
    raise KeyError(fqdn)


def csr_common_name(csr: x509.CertificateSigningRequest) -> str:
    return str(csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


# --- shape and versions --------------------------------------------------------------------------

def test_adapters_satisfy_the_protocols(backend: Backend) -> None:
    assert set(backend.expressway) == set(EXPRESSWAYS)
    assert set(backend.cucm) == {PUB, SUB}
    for fqdn, adapter in backend.expressway.items():
        assert isinstance(adapter, ExpresswayApi)
        assert adapter.node == fqdn
    for fqdn, cucm in backend.cucm.items():
        assert isinstance(cucm, CucmApi)
        assert cucm.node == fqdn


def test_version(backend: Backend) -> None:
    assert {fqdn: a.version() for fqdn, a in backend.expressway.items()} == dict.fromkeys(EXPRESSWAYS, "X15.5.1")
    assert {fqdn: c.version() for fqdn, c in backend.cucm.items()} == {PUB: "15.0.1", SUB: "15.0.1"}


# --- Expressway trust ----------------------------------------------------------------------------

def test_trusted_cas_keep_upload_order(backend: Backend) -> None:
    node = backend.expressway["expe1.acme.com"]
    assert node.trusted_cas() == ()  # the fresh scenario starts with empty trust lists
    roots = [new_root(f"Order Root {i}").cert for i in range(3)]
    seen = []
    for root in roots:
        node.add_trusted_ca(root)
        seen.append(root)
        assert node.trusted_cas() == tuple(seen)
    # an append goes to the end even when it sorts first by any other criterion
    first = new_root("AAA Sorts First").cert
    node.add_trusted_ca(first)
    assert node.trusted_cas() == (*roots, first)


def test_appending_a_ca_twice_keeps_both_entries(backend: Backend) -> None:
    node = backend.expressway["expc1.acme.local"]
    a, b = new_root("Dup A").cert, new_root("Dup B").cert
    node.add_trusted_ca(a)
    node.add_trusted_ca(b)
    node.add_trusted_ca(a)
    assert node.trusted_cas() == (a, b, a)


def test_trust_lists_are_per_peer(backend: Backend) -> None:
    before = {fqdn: backend.expressway[fqdn].trusted_cas() for fqdn in EXPRESSWAYS}
    root = new_root("Only On expc1").cert
    backend.expressway["expc1.acme.local"].add_trusted_ca(root)
    after = {fqdn: backend.expressway[fqdn].trusted_cas() for fqdn in EXPRESSWAYS}
    assert after["expc1.acme.local"] == (*before["expc1.acme.local"], root)
    for fqdn in EXPRESSWAYS:
        if fqdn != "expc1.acme.local":
            assert after[fqdn] == before[fqdn], fqdn


# --- Expressway server certificate and CSR -------------------------------------------------------

def test_server_certificate_is_leaf_first_with_the_node_subject(backend: Backend) -> None:
    for fqdn in EXPRESSWAYS:
        chain = backend.expressway[fqdn].server_certificate()
        assert len(chain) >= 2, fqdn
        leaf, issuer = chain[0], chain[1]
        expected = inventory_leaf(backend.inventory, fqdn)
        assert leaf == expected, fqdn
        assert leaf.subject == expected.subject
        assert not leaf.is_ca
        assert fqdn in leaf.dns_sans
        assert issuer.is_ca and leaf.issuer == issuer.subject


def test_generate_csr_carries_the_names_and_keeps_the_key(backend: Backend) -> None:
    node = backend.expressway["expe1.acme.com"]
    sans = ("mra.acme.com", "expe1.acme.com", "collab-edge.acme.com", "acme.com")
    csr = node.generate_csr("mra.acme.com", sans)
    assert isinstance(csr, x509.CertificateSigningRequest)
    assert csr.is_signature_valid
    assert csr_common_name(csr) == "mra.acme.com"  # the box's own name (its cluster FQDN): no request key sets it
    assert set(sans) <= set(csr_dns_names(csr))
    # Asked again while that CSR is pending, the box answers Conflict: the pending CSR has every SAN, so it is
    # reused (its key is still the one the box generated, which the caller never saw) ...
    again = node.generate_csr("mra.acme.com", sans)
    assert again.public_key().public_numbers() == csr.public_key().public_numbers()
    # ... but not when it lacks a name asked for now: mrakit says what to do instead of guessing.
    with pytest.raises(AdapterError, match=r"lacks SAN\(s\) new\.acme\.com; discard it on the box"):
        node.generate_csr("mra.acme.com", (*sans, "new.acme.com"))
    if backend.rest:
        assert backend.responses, "the response hook saw nothing"
        assert any("CERTIFICATE REQUEST" in body for body in backend.responses)
        assert not any("PRIVATE KEY" in body for body in backend.responses)


@pytest.mark.parametrize("fqdn", ["expe1.acme.com", "expc2.acme.local"])
def test_certificate_signed_for_the_csr_installs(backend: Backend, fqdn: str) -> None:
    node = backend.expressway[fqdn]
    csr = node.generate_csr(fqdn, (fqdn,))
    ca = new_root("Install Root")
    leaf = ca.sign_csr(csr, ekus=BOTH_EKUS)
    node.install_server_certificate((leaf, ca.cert))
    assert node.server_certificate() == (leaf, ca.cert)
    others = [f for f in EXPRESSWAYS if f != fqdn]
    for other in others:  # a certificate is per peer too
        assert backend.expressway[other].server_certificate()[0] == inventory_leaf(backend.inventory, other)


def test_certificate_for_another_key_is_refused_and_nothing_changes(backend: Backend) -> None:
    node = backend.expressway["expc1.acme.local"]
    trust = new_root("Trust Before")
    node.add_trusted_ca(trust.cert)
    before_chain, before_trust = node.server_certificate(), node.trusted_cas()
    csr = node.generate_csr("expc.acme.local", ("expc1.acme.local",))
    ca = new_root("Wrong Key Root")
    stranger = ca.issue_leaf("expc.acme.local", ["expc1.acme.local"], ekus=BOTH_EKUS).cert
    with pytest.raises(AdapterError) as caught:
        node.install_server_certificate((stranger, ca.cert))
    assert not isinstance(caught.value, UnsupportedOperation)
    assert caught.value.node == "expc1.acme.local"
    assert "private key" in str(caught.value).lower()
    assert node.server_certificate() == before_chain
    assert node.trusted_cas() == before_trust
    # the pending CSR survives the refusal: the right certificate still installs
    right = ca.sign_csr(csr, ekus=BOTH_EKUS)
    node.install_server_certificate((right, ca.cert))
    assert node.server_certificate()[0] == right


def test_install_without_a_pending_csr_is_refused(backend: Backend) -> None:
    node = backend.expressway["expe2.acme.com"]
    before = node.server_certificate()
    ca = new_root("No CSR Root")
    leaf = ca.issue_leaf("mra.acme.com", ["expe2.acme.com"], ekus=BOTH_EKUS).cert
    with pytest.raises(AdapterError, match=r"(?i)signing request"):
        node.install_server_certificate((leaf, ca.cert))
    assert node.server_certificate() == before



def test_pending_csr_follows_generate_and_install(backend: Backend) -> None:
    node = backend.expressway["expc2.acme.local"]
    assert node.pending_csr() is None
    csr = node.generate_csr("expc.acme.local", ("expc2.acme.local",))
    pending = node.pending_csr()
    assert pending is not None
    assert pending.public_key().public_numbers() == csr.public_key().public_numbers()
    ca = new_root("Pending Root")
    with pytest.raises(AdapterError):  # a refused install leaves the CSR pending
        node.install_server_certificate((ca.issue_leaf("expc.acme.local", ["expc2.acme.local"]).cert, ca.cert))
    still = node.pending_csr()
    assert still is not None and still.public_key().public_numbers() == csr.public_key().public_numbers()
    node.install_server_certificate((ca.sign_csr(csr), ca.cert))
    assert node.pending_csr() is None
    assert backend.expressway["expc1.acme.local"].pending_csr() is None  # per peer


def test_client_certificate_follows_the_capability(backend: Backend) -> None:
    # X15.5 control peers have a separate client certificate (the lab issues one). An adapter that cannot
    # read it says so in its capabilities and answers (); one that can returns it, leaf first.
    for fqdn in EXPRESSWAYS:
        node = backend.expressway[fqdn]
        chain = node.client_certificate()
        if not node.capabilities.separate_client_certificate or fqdn in EDGE:
            assert chain == (), fqdn
            continue
        assert len(chain) >= 2, fqdn
        assert chain[0].allows_purpose(CLIENT_AUTH) and not chain[0].is_ca
        assert chain[0].issuer == chain[1].subject
        # the upgrade to X15.5 copied the server certificate (and key) into the client store
        assert chain[0] == node.server_certificate()[0]
    assert backend.expressway["expc1.acme.local"].capabilities.separate_client_certificate is (not backend.rest)


def test_cucm_servers_on_control_only(backend: Backend) -> None:
    for fqdn in CONTROL:
        assert backend.expressway[fqdn].cucm_servers() == (PUB,), fqdn
    for fqdn in EDGE:
        assert backend.expressway[fqdn].cucm_servers() == (), fqdn

# --- capabilities ----------------------------------------------------------------------------------

def test_expressway_trust_removal_follows_the_capability(backend: Backend) -> None:
    node = backend.expressway["expe2.acme.com"]
    a, b = new_root("Remove A").cert, new_root("Remove B").cert
    for cert in (a, b, a):
        node.add_trusted_ca(cert)
    assert node.capabilities.can_remove_trust is (not backend.rest)
    if backend.rest:
        with pytest.raises(UnsupportedOperation) as caught:
            node.remove_trusted_ca(a)
        assert caught.value.node == "expe2.acme.com"
        assert node.trusted_cas() == (a, b, a)
    else:
        # One entry at a time, the last copy first: removing a duplicate keeps the original.
        node.remove_trusted_ca(a)
        assert node.trusted_cas() == (a, b)
        node.remove_trusted_ca(a)
        assert node.trusted_cas() == (b,)


def test_cucm_trust_removal_is_unsupported(backend: Backend) -> None:
    pub = backend.cucm[PUB]
    assert pub.capabilities.can_remove_trust is False
    own = pub.trusted_certificates("tomcat-trust")
    with pytest.raises(UnsupportedOperation):
        pub.remove_trusted_certificate("tomcat-trust", own[0])
    assert pub.trusted_certificates("tomcat-trust") == own


# --- CUCM ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fqdn", [PUB, SUB])
def test_cucm_trust_units_hold_the_chain_of_the_node_identities(backend: Backend, fqdn: str) -> None:
    """A CUCM node keeps the CA chain of its own identity in the matching unit (an install needs it)."""
    cucm = backend.cucm[fqdn]
    for service, unit in (("tomcat", "tomcat-trust"), ("CallManager", "CallManager-trust")):
        trust = cucm.trusted_certificates(unit)
        assert all(isinstance(c, CertView) for c in trust)
        leaf = cucm.identity_certificate(service)[0]
        result = verify_chain(leaf, trust, (), purpose="server", semantics="openssl")
        assert result.valid, (service, result.detail)


@pytest.mark.parametrize("unit", CUCM_TRUST_UNITS)
def test_cucm_trust_added_on_the_publisher_reaches_the_subscriber(backend: Backend, unit: str) -> None:
    pub, sub = backend.cucm[PUB], backend.cucm[SUB]
    other_unit = next(u for u in CUCM_TRUST_UNITS if u != unit)
    other_before = pub.trusted_certificates(other_unit)
    root = new_root(f"Replicated {unit}").cert
    pub.add_trusted_certificate(unit, root)
    assert root in pub.trusted_certificates(unit)
    assert backend.replicated(lambda: root in sub.trusted_certificates(unit)), "not replicated in time"
    assert pub.trusted_certificates(other_unit) == other_before  # units are separate stores
    # CUCM keeps trust by certificate: uploading it again does not duplicate it
    pub.add_trusted_certificate(unit, root)
    assert pub.trusted_certificates(unit).count(root) == 1


def test_cucm_unknown_trust_unit_is_refused(backend: Backend) -> None:
    with pytest.raises(AdapterError):
        backend.cucm[PUB].add_trusted_certificate("ipsec-trust-typo", new_root("Unit Typo").cert)


@pytest.mark.parametrize("fqdn", [PUB, SUB])
def test_cucm_identity_certificate_is_leaf_first(backend: Backend, fqdn: str) -> None:
    chain = backend.cucm[fqdn].identity_certificate("tomcat")
    assert len(chain) >= 2
    assert fqdn in chain[0].dns_sans  # the example names a multi-server certificate: every server is a SAN
    assert not chain[0].is_ca and chain[1].is_ca
    assert chain[0].issuer == chain[1].subject



def test_cucm_identity_the_node_lacks_is_empty_or_not_found(backend: Backend) -> None:
    # the lab's nodes have no ECDSA identities; callers (observe) accept either () or a 404
    try:
        chain = backend.cucm[PUB].identity_certificate("tomcat-ECDSA")
    except AdapterError as exc:
        assert exc.status == 404, exc
    else:
        assert chain == ()

def test_cucm_csr_and_matching_identity_install_set_restart_pending(backend: Backend) -> None:
    pub = backend.cucm[PUB]
    assert "tomcat" not in backend.restart_pending(PUB)
    csr = pub.generate_csr("tomcat", PUB, (PUB, SUB))
    assert isinstance(csr, x509.CertificateSigningRequest)
    assert csr_common_name(csr) == PUB
    assert {PUB, SUB} <= set(csr_dns_names(csr))
    ca = new_root("Tomcat Root")
    leaf = ca.sign_csr(csr, ekus=BOTH_EKUS)
    # CUCM refuses a CA-signed identity whose CA is not in its own trust unit yet
    with pytest.raises(AdapterError, match="not in tomcat-trust"):
        pub.install_identity_certificate("tomcat", (leaf, ca.cert))
    pub.add_trusted_certificate("tomcat-trust", ca.cert)
    stranger = ca.issue_leaf(PUB, [PUB, SUB]).cert
    with pytest.raises(AdapterError):
        pub.install_identity_certificate("tomcat", (stranger, ca.cert))
    assert "tomcat" not in backend.restart_pending(PUB)
    pub.install_identity_certificate("tomcat", (leaf, ca.cert))
    assert pub.identity_certificate("tomcat") == (leaf, ca.cert)
    assert "tomcat" in backend.restart_pending(PUB)
    assert "tomcat" not in backend.restart_pending(SUB)
    assert backend.cucm[SUB].identity_certificate("tomcat")[0] != leaf  # identities are per node
    if backend.rest:
        assert not any("PRIVATE KEY" in body for body in backend.responses)


def test_cucm_phone_security_profiles(backend: Backend) -> None:
    profiles = {p.name: p for p in backend.cucm[PUB].phone_security_profiles()}
    assert "secure-8865.acme.local" in profiles
    profile = profiles["secure-8865.acme.local"]
    assert profile.security_mode == "Encrypted"
    assert profile.secure
    assert any(not p.secure for p in profiles.values())  # the non-secure default is listed too


@pytest.mark.parametrize("fqdn", [PUB, SUB])
def test_cucm_process_nodes(backend: Backend, fqdn: str) -> None:
    nodes = backend.cucm[fqdn].process_nodes()
    assert sorted(nodes) == sorted([PUB, SUB])
    assert "EnterpriseWideData" not in nodes
