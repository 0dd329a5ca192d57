"""Plain helpers shared by the renewal tests (fixtures live in tests/conftest.py)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from mrakit_testkit import CliResult as CliResult  # re-exported: the tests import them from here
from mrakit_testkit import run_cli as run_cli

from mrakit.lab.state import REQUEST_LOG, LabState
from mrakit.pki.ca import CertificateAuthority
from mrakit.pki.keys import write_private_key
from mrakit.pki.load import load_csr_file

REPO = Path(__file__).resolve().parents[2]

EXPE1, EXPE2, EXPC1, EXPC2 = "expe1.acme.com", "expe2.acme.com", "expc1.acme.local", "expc2.acme.local"
PUB = "cucm-pub.acme.local"
PEERS = {"exp-e": (EXPE1, EXPE2), "exp-c": (EXPC1, EXPC2)}
CLUSTER_FQDN = {"exp-e": "mra.acme.com", "exp-c": "expc.acme.local"}




# --- the lab's request log and state ---------------------------------------------------------------

def request_log(state_dir: Path) -> list[dict[str, Any]]:
    path = state_dir / REQUEST_LOG
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def writes(entries: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Requests that could change state: every method but GET (AXL reads are POSTs to /axl/)."""
    return [e for e in entries if e["method"] != "GET" and not str(e["path"]).startswith("/axl")]


def write_count(state_dir: Path) -> int:
    return len(writes(request_log(state_dir)))


def lab_json(state_dir: Path) -> dict[str, Any]:
    return LabState.load(state_dir).to_json()


# --- test CAs and hand-made certificates -------------------------------------------------------------

@dataclass(frozen=True)
class CaFiles:
    ca: CertificateAuthority
    cert: Path
    key: Path


def make_test_ca(directory: Path, name: str) -> CaFiles:
    """A private TEST root CA written as name.pem / name.key (0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = CertificateAuthority.create_root(f"{name} Test Root CA", organization=f"{name} Tests")
    cert = directory / f"{name}.pem"
    cert.write_text(ca.cert.pem)
    key = write_private_key(directory / f"{name}.key", ca.key)
    return CaFiles(ca, cert, key)


_EKUS = {"serverAuth": ExtendedKeyUsageOID.SERVER_AUTH, "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH}


def sign_csr_by_hand(issuer: CertificateAuthority, csr_path: Path, *, dns_names: Sequence[str],
                     ekus: Sequence[str] = ("serverAuth", "clientAuth"), chain: Sequence[str] = (),
                     not_before: dt.datetime | None = None) -> str:
    """A certificate for the CSR's public key and subject, but with exactly `dns_names` as SANs
    (what a careless CA does), signed by `issuer`. Returns leaf + issuer (+ chain) PEM."""
    csr = load_csr_file(csr_path)
    start = not_before or dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(issuer.cert.subject_name)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),  # type: ignore[arg-type]
                       critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([_EKUS[e] for e in ekus]), critical=False)
    )
    cert = builder.sign(issuer.key, hashes.SHA256())  # type: ignore[arg-type]
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii") + issuer.cert.pem + "".join(chain)


def one_line_error(err: str) -> str:
    """The single `mrakit: error: …` line of a failed command (asserting there is exactly one line)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one error line, got {lines!r}"
    assert lines[0].startswith("mrakit: error: "), lines[0]
    assert "Traceback" not in err
    return lines[0]
