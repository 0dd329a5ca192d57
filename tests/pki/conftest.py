"""Fixtures for the offline certificate engine tests (mrakit.pki, mrakit.rules.certificate, `mrakit cert`).

Helpers are exposed as fixtures (not importable functions) so this directory needs no __init__.py and
cannot clash with a conftest elsewhere in the tree.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from mrakit.pki import CertificateAuthority, CertView, Issued, PrivateKey, certificates_to_pem

REPO_ROOT = Path(__file__).resolve().parents[2]
# Real public CA certificates (public facts, committed with the tests so a fresh clone runs them all).
REALPKI_DIR = REPO_ROOT / "tests" / "data" / "realpki"
OPENSSL = shutil.which("openssl")


@pytest.fixture(scope="session")
def realpki() -> Callable[[str], CertView]:
    """Load one certificate from tests/data/realpki by file name."""
    from mrakit.pki import load_certificate_file

    def load(name: str) -> CertView:
        return load_certificate_file(REALPKI_DIR / name)

    return load


@pytest.fixture(scope="session")
def realpki_dir(realpki: Callable[[str], CertView]) -> Path:
    return REALPKI_DIR.resolve()


@pytest.fixture(scope="session")
def openssl() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the openssl CLI with the given arguments; skip when it is not installed."""
    if OPENSSL is None:
        pytest.skip("the openssl command-line tool is not installed")
    binary = OPENSSL

    def run(*args: str | Path, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [binary, *map(str, args)], capture_output=True, text=True, cwd=cwd, check=False, timeout=60
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"openssl {' '.join(map(str, args))} failed: {proc.stderr}")
        return proc

    return run


def _write_certs(path: Path, certs: Iterable[CertView]) -> Path:
    path.write_text(certificates_to_pem(list(certs)))
    return path


@pytest.fixture(scope="session")
def write_certs() -> Callable[[Path, Iterable[CertView]], Path]:
    """Write certificates as concatenated PEM to a path and return the path."""
    return _write_certs


@pytest.fixture(scope="session")
def openssl_verify(openssl: Callable[..., subprocess.CompletedProcess[str]]) -> Callable[..., bool]:
    """`openssl verify` with only the given trust list (no system store): True when the chain verifies.

    purpose: "server" (sslserver), "client" (sslclient) or "both" (both must pass).
    """

    def verify(
        workdir: Path,
        leaf: CertView,
        trust: Sequence[CertView],
        untrusted: Sequence[CertView] = (),
        *,
        purpose: str = "both",
        at: dt.datetime | None = None,
    ) -> bool:
        workdir.mkdir(parents=True, exist_ok=True)
        leaf_file = _write_certs(workdir / "leaf.pem", [leaf])
        args: list[str | Path] = ["verify", "-no-CApath", "-no-CAstore"]
        if trust:
            args += ["-CAfile", _write_certs(workdir / "trust.pem", trust)]
        else:
            args += ["-no-CAfile"]
        if untrusted:
            args += ["-untrusted", _write_certs(workdir / "untrusted.pem", untrusted)]
        if at is not None:
            args += ["-attime", str(int(at.timestamp()))]
        purposes = {"server": ["sslserver"], "client": ["sslclient"], "both": ["sslserver", "sslclient"]}[purpose]
        for name in purposes:
            proc = openssl(*args, "-purpose", name, leaf_file, check=False)
            ok = proc.returncode == 0 and proc.stdout.strip().endswith(": OK")
            if proc.returncode == 0 and not ok:
                raise AssertionError(f"unexpected openssl verify output: {proc.stdout!r} {proc.stderr!r}")
            if not ok:
                return False
        return True

    return verify


@dataclass(frozen=True)
class MainResult:
    code: int
    out: str
    err: str


@pytest.fixture()
def cli_main(capsys: pytest.CaptureFixture[str]) -> Callable[..., MainResult]:
    """Run mrakit.cli.main in-process and return exit code, stdout and stderr."""
    from mrakit.cli import main

    def run(*args: str | Path) -> MainResult:
        capsys.readouterr()
        with pytest.raises(SystemExit) as excinfo:
            main([str(a) for a in args])
        captured = capsys.readouterr()
        code = excinfo.value.code
        return MainResult(code if isinstance(code, int) else (0 if code is None else 1), captured.out, captured.err)

    return run


@dataclass(frozen=True)
class Lab:
    """A shared three-level lab PKI: root → intermediate → leaf (both EKUs), EC P-256."""

    root: CertificateAuthority
    intermediate: CertificateAuthority
    leaf: Issued


@pytest.fixture(scope="session")
def lab() -> Lab:
    root = CertificateAuthority.create_root("mrakit Test Root CA", organization="mrakit tests")
    intermediate = root.issue_intermediate("mrakit Test Issuing CA", organization="mrakit tests")
    leaf = intermediate.issue_leaf("expe.example.com", ["expe.example.com", "collab-edge.example.com"])
    return Lab(root, intermediate, leaf)


def _sign_raw(
    subject_cn: str,
    issuer: CertView,
    issuer_key: PrivateKey,
    subject_key: PrivateKey,
    *,
    ca: bool = False,
    days: int = 30,
) -> CertView:
    """A certificate built directly with cryptography, signed by any key (even a non-CA's)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
        .issuer_name(issuer.subject_name)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return CertView(builder.sign(issuer_key, hashes.SHA256()), source=f"raw:{subject_cn}")


@pytest.fixture(scope="session")
def sign_raw() -> Callable[..., CertView]:
    return _sign_raw
