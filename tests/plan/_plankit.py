"""Plain helpers shared by the plan/apply tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from mrakit_testkit import PASSWORDS as _SHARED_PASSWORDS

from mrakit.desired import desired_state
from mrakit.handshake import service_request
from mrakit.inventory.load import load_inventory
from mrakit.lab.model import csr_from_pem
from mrakit.lab.server import Lab
from mrakit.lab.state import REQUEST_LOG, LabState
from mrakit.pki.ca import BOTH_EKUS, CertificateAuthority
from mrakit.pki.certview import CertView
from mrakit.pki.load import load_certificates

REPO = Path(__file__).resolve().parents[2]
MRAKIT = REPO / ".venv" / "bin" / "mrakit"

EXPE1, EXPE2, EXPC1, EXPC2 = "expe1.acme.com", "expe2.acme.com", "expc1.acme.local", "expc2.acme.local"
PUB, SUB = "cucm-pub.acme.local", "cucm-sub1.acme.local"
EDGE, CONTROL = (EXPE1, EXPE2), (EXPC1, EXPC2)
EXPRESSWAYS = (*EDGE, *CONTROL)
ALL_NODES = (*EXPRESSWAYS, PUB, SUB)
EXAMPLE_RELATIONS = 32  # 8 traversal-zone relations + 6 per control peer towards/from CUCM + the
# publisher's 4 (tomcat-trust and CallManager-trust of each C) checked again on the subscriber + each CUCM
# server's tomcat and CallManager chain in its own units (CUCM001), 4 on the publisher and again on the subscriber




PASSWORDS: dict[str, str] = dict(_SHARED_PASSWORDS)  # the lab passwords tests/conftest.py sets
SECRETS = tuple(PASSWORDS.values())


def assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a password appears in {where}"
    assert "PRIVATE KEY" not in text, f"a private key appears in {where}"


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(PASSWORDS)
    env.pop("REQUESTS_CA_BUNDLE", None)
    return env


# --- lab state -----------------------------------------------------------------------------------

def parse(pems: Iterable[str]) -> list[CertView]:
    return [c for pem in pems for c in load_certificates(pem.encode("ascii"))]


def trust_fingerprints(state: LabState) -> dict[tuple[str, str], list[str]]:
    """(node, store) -> fingerprints in list order, for every node of the lab state."""
    lists: dict[tuple[str, str], list[str]] = {}
    for fqdn, node in state.expressway.items():
        lists[(fqdn, "trusted_ca")] = [c.fingerprint_sha256 for c in parse(node.trust)]
    for fqdn, cnode in state.cucm.items():
        for unit, pems in cnode.trust.items():
            lists[(fqdn, unit)] = [c.fingerprint_sha256 for c in parse(pems)]
    return lists


def log_writes(entries: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Requests that could change state (every method but GET; AXL reads are POSTs to /axl/)."""
    return [e for e in entries if e["method"] != "GET" and not str(e["path"]).startswith("/axl")]


def request_log(state_dir: Path) -> list[dict[str, Any]]:
    import json

    path = state_dir / REQUEST_LOG
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- certificate rotation --------------------------------------------------------------------------

@dataclass(frozen=True)
class NewCa:
    root: CertificateAuthority
    issuing: CertificateAuthority

    @classmethod
    def create(cls, name: str) -> NewCa:
        root = CertificateAuthority.create_root(f"{name} Root CA", organization=name)
        return cls(root, root.issue_intermediate(f"{name} Issuing CA", organization=name))

    @property
    def fingerprints(self) -> set[str]:
        return {self.root.cert.fingerprint_sha256, self.issuing.cert.fingerprint_sha256}


def rotate_cluster(inventory_path: Path, cluster: str, ca: NewCa, csr_for: Any) -> dict[str, CertView]:
    """Give every peer of `cluster` a certificate from `ca` for a CSR generated on the box:
    `csr_for(fqdn, common_name, sans)` returns the CSR. The signed leaf plus the CA chain is written
    next to the inventory and the peer's `certificate:` rewritten to it. Returns the new leaves."""
    inventory = load_inventory(inventory_path)
    desired = desired_state(inventory)
    data = yaml.safe_load(inventory_path.read_text())
    leaves: dict[str, CertView] = {}
    for peer in data["expressway"][cluster]["peers"]:
        fqdn = peer["fqdn"]
        node = desired.node(fqdn)
        csr = csr_for(fqdn, node.common_name, tuple(s.name for s in node.required_sans))
        leaf = ca.issuing.sign_csr(csr, ekus=BOTH_EKUS)
        name = f"rotated-{fqdn}.pem"
        (inventory_path.parent / name).write_text(leaf.pem + ca.issuing.cert.pem + ca.root.cert.pem)
        peer["certificate"] = name
        peer.pop("key", None)
        leaves[fqdn] = leaf
    inventory_path.write_text(yaml.safe_dump(data, sort_keys=False))
    return leaves


def csr_in_state(state_dir: Path) -> Any:
    """A `csr_for` that generates the CSR directly on the lab's stored node (the lab not running)."""

    def make(fqdn: str, common_name: str, sans: tuple[str, ...]) -> Any:
        state = LabState.load(state_dir)
        # The box names the CSR after itself (the cluster FQDN here) and adds its own FQDN to the SANs.
        pem = state.expressway[fqdn].generate_csr([s for s in sans if s != fqdn])
        state.save()
        return csr_from_pem(pem)

    return make


# --- a real mutual-TLS handshake on the traversal zone ---------------------------------------------

@dataclass(frozen=True)
class Handshake:
    ok: bool
    peer_der: bytes | None = None
    error: str = ""


def traversal_handshake(lab: Lab, control: str, edge: str, *, trust_pems: list[str] | None = None) -> Handshake:
    """Expressway-C `control` (TLS client, with its current server certificate and key, trusting its
    current trust list unless `trust_pems` is given) connects to `edge`'s traversal listener, checking
    the edge's name. OK only when both sides accepted: the edge answers the SIP OPTIONS sent after it."""
    return handshake(lab, control, edge, "traversal", trust_pems=trust_pems)


# One probe at a time: probes run from apply's worker threads, and the lab's listener rebuilds its TLS
# context (from files of a fixed name) whenever the node's material changed; keep probes out of each other's way.
_PROBE = threading.Lock()


def handshake(lab: Lab, client: str, target: str, listener: str, *,
              trust_pems: list[str] | None = None) -> Handshake:
    """As traversal_handshake, from Expressway `client` to any TLS listener of `target` (a CUCM's
    "sip-tls", say)."""
    with _PROBE:
        return _handshake(lab, client, target, listener, trust_pems)


def _handshake(lab: Lab, client: str, target: str, listener: str, trust_pems: list[str] | None) -> Handshake:
    with lab.state.lock:
        node = lab.state.expressway[client]
        chain, key, trust = list(node.server_chain), node.server_key, list(node.trust)
    if trust_pems is not None:
        trust = trust_pems
    directory = Path(tempfile.mkdtemp(prefix="mrakit-probe-"))
    cert_file, key_file = directory / f"{uuid.uuid4().hex}.pem", directory / f"{uuid.uuid4().hex}.key"
    cert_file.write_text("".join(chain))
    key_file.write_text(key)
    os.chmod(key_file, 0o600)
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        if trust:
            context.load_verify_locations(cadata="".join(trust))
        context.load_cert_chain(cert_file, key_file)
        port = lab.endpoints[target].tls[listener]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock, \
                context.wrap_socket(sock, server_hostname=target) as tls:
            # Like the products, the listener waits for the client to speak: a SIP OPTIONS (HTTP on tomcat).
            tls.sendall(service_request("http" if listener == "tomcat" else "sip", target))
            line = tls.recv(64)
            if not line.startswith((b"SIP/2.0 200", b"HTTP/1.1 200")):
                return Handshake(False, error=f"{target} closed the connection ({line!r}): it refused the client")
            return Handshake(True, tls.getpeercert(binary_form=True))
    except (ssl.SSLError, OSError) as exc:
        return Handshake(False, error=f"{type(exc).__name__}: {exc}")
    finally:
        cert_file.unlink(missing_ok=True)
        key_file.unlink(missing_ok=True)
        directory.rmdir()


def reissue_server_leaf(state_dir: Path, fqdn: str, *, not_before: Any, ekus: tuple[str, ...]) -> CertView:
    """Replace `fqdn`'s current server leaf in the (stopped) lab by one from the same CA, with the same key,
    subject and names, but the given start date and EKUs. Returns the new leaf."""
    from mrakit.lab.pki import lab_authorities
    from mrakit.pki.load import load_private_key

    state = LabState.load(state_dir)
    node = state.expressway[fqdn]
    current = parse(node.server_chain[:1])[0]
    cas = lab_authorities(state_dir)
    issuer = next(ca for ca in (cas.public_issuing, cas.private_issuing)
                  if ca.cert.subject_name == current.issuer_name)
    issued = issuer.issue_leaf(current.common_name, list(current.dns_sans), ekus=ekus,
                               key=load_private_key(node.server_key.encode("ascii")), not_before=not_before, days=180)
    node.server_chain = [issued.cert.pem, *node.server_chain[1:]]
    state.save()
    return issued.cert
