"""Differential tests: mrakit's chain engine against the `openssl verify` command line.

Random scenarios (fixed seed) without same-subject duplicates, where both semantics must agree with
OpenSSL on valid/invalid, plus a small PKI produced by the openssl CLI itself.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import subprocess
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mrakit.pki import (
    CLIENT_AUTH,
    SERVER_AUTH,
    CertificateAuthority,
    CertView,
    ChainReason,
    certificates_to_pem,
    load_certificate_file,
    verify_chain,
)

SEED = int(os.environ.get("MRAKIT_PKI_DIFF_SEED", "20261127"))  # set to explore other mixes
SCENARIOS = 240
AT = dt.datetime.now(dt.UTC).replace(microsecond=0)
LONG_AGO = AT - dt.timedelta(days=3000)
SOON = AT + dt.timedelta(days=30)

# openssl verify error numbers → the engine's reason for the same fault
OPENSSL_ERRORS: dict[int, ChainReason] = {
    2: ChainReason.MISSING_ISSUER,  # unable to get issuer certificate
    20: ChainReason.MISSING_ISSUER,  # unable to get local issuer certificate
    21: ChainReason.MISSING_ISSUER,  # unable to verify the first certificate
    18: ChainReason.UNTRUSTED_ROOT,  # self-signed certificate (depth 0)
    19: ChainReason.UNTRUSTED_ROOT,  # self-signed certificate in certificate chain
    7: ChainReason.BAD_SIGNATURE,
    9: ChainReason.NOT_YET_VALID,
    10: ChainReason.EXPIRED,
    24: ChainReason.NOT_A_CA,  # invalid CA certificate (OpenSSL 1.1 numbering)
    79: ChainReason.NOT_A_CA,  # invalid CA certificate (OpenSSL 3)
    32: ChainReason.NOT_A_CA,  # key usage does not include certificate signing
    25: ChainReason.NOT_A_CA,  # path length constraint exceeded
    26: ChainReason.EKU_MISSING,  # unsuitable certificate purpose
}
_ERROR_LINE = re.compile(r"error (\d+) at (\d+) depth lookup")
PURPOSES = {"server": ("sslserver",), "client": ("sslclient",), "both": ("sslserver", "sslclient")}
EKU_VARIANTS: dict[str, tuple[str, ...] | None] = {
    "none": None,
    "server": (SERVER_AUTH,),
    "client": (CLIENT_AUTH,),
    "both": (SERVER_AUTH, CLIENT_AUTH),
    "codesigning": ("1.3.6.1.5.5.7.3.3",),
}


@dataclass
class OpensslVerdict:
    valid: bool
    errors: set[int] = field(default_factory=set)
    output: str = ""


def run_openssl_verify(
    openssl: Callable[..., subprocess.CompletedProcess[str]],
    workdir: Path,
    leaf: CertView,
    trust: Sequence[CertView],
    untrusted: Sequence[CertView],
    purpose: str,
    at: dt.datetime,
) -> OpensslVerdict:
    workdir.mkdir(parents=True, exist_ok=True)
    leaf_file = workdir / "leaf.pem"
    leaf_file.write_text(leaf.pem)
    args: list[str | Path] = ["verify", "-no-CApath", "-no-CAstore", "-attime", str(int(at.timestamp()))]
    if trust:
        (workdir / "trust.pem").write_text(certificates_to_pem(list(trust)))
        args += ["-CAfile", workdir / "trust.pem"]
    else:
        args += ["-no-CAfile"]
    if untrusted:
        (workdir / "untrusted.pem").write_text(certificates_to_pem(list(untrusted)))
        args += ["-untrusted", workdir / "untrusted.pem"]
    verdict = OpensslVerdict(valid=True)
    for name in PURPOSES[purpose]:
        proc = openssl(*args, "-purpose", name, leaf_file, check=False)
        output = proc.stdout + proc.stderr
        verdict.output += output
        if proc.returncode != 0 or not proc.stdout.strip().endswith(": OK"):
            verdict.valid = False
            verdict.errors |= {int(m.group(1)) for m in _ERROR_LINE.finditer(output)}
            assert verdict.errors, f"openssl failed without a verification error: {output}"
    return verdict


@dataclass
class Scenario:
    number: int
    description: str
    leaf: CertView
    trust: list[CertView]
    untrusted: list[CertView]
    purpose: str
    multi_fault: bool


def _validity(rng: random.Random) -> tuple[dt.datetime | None, int, str | None]:
    roll = rng.random()
    if roll < 0.08:
        return LONG_AGO, 30, "expired"
    if roll < 0.12:
        return SOON, 365, "not_yet_valid"
    return None, 3650, None


def build_scenario(number: int, rng: random.Random) -> Scenario:
    tag = f"S{number:03d}"
    depth = rng.choice((1, 2, 3))  # CA levels above the leaf: 1 = the root signs the leaf
    notes: list[str] = [f"depth {depth}"]
    faults: Counter[str] = Counter()

    def key_type() -> str:
        return "rsa2048" if rng.random() < 0.12 else "p256"

    def ca_ekus() -> tuple[str, ...] | None:
        roll = rng.random()
        if roll < 0.8:
            return None
        return rng.choice([EKU_VARIANTS["server"], EKU_VARIANTS["client"], EKU_VARIANTS["both"]])

    start, days, fault = _validity(rng)
    if fault:
        faults["time"] += 1
    root_ekus = ca_ekus()
    root = CertificateAuthority.create_root(
        f"{tag} Root", organization="mrakit differential", key_type=key_type(), not_before=start,
        days=days, ekus=root_ekus,
    )
    notes.append(f"root {root.cert.key_type} ekus={root_ekus} {fault or ''}")
    chain_cas = [root]
    for level in range(1, depth):
        start, days, fault = _validity(rng)
        if fault:
            faults["time"] += 1
        ekus = ca_ekus()
        ca = chain_cas[-1].issue_intermediate(
            f"{tag} Issuing CA {level}", key_type=key_type(), not_before=start, days=days, ekus=ekus
        )
        notes.append(f"int{level} {ca.cert.key_type} ekus={ekus} {fault or ''}")
        chain_cas.append(ca)

    leaf_variant = rng.choice(["both", "both", "server", "client", "none", "codesigning"])
    leaf_ekus = EKU_VARIANTS[leaf_variant] or ()
    start, days, fault = _validity(rng)
    if fault:
        faults["time"] += 1
    leaf = chain_cas[-1].issue_leaf(
        f"host-{number}.example.com", ekus=leaf_ekus, key_type=key_type(), not_before=start,
        days=min(days, 825),
    )
    notes.append(f"leaf ekus={leaf_variant} {fault or ''}")

    trust: list[CertView] = []
    untrusted: list[CertView] = []
    for ca in chain_cas[1:]:
        place = rng.choice(["trust", "untrusted", "untrusted", "absent"])
        notes.append(f"{ca.cert.common_name} {place}")
        {"trust": trust, "untrusted": untrusted, "absent": []}[place].append(ca.cert)
    root_place = rng.choices(["trust", "absent", "untrusted"], weights=(7, 1, 2))[0]
    notes.append(f"root {root_place}")
    {"trust": trust, "untrusted": untrusted, "absent": []}[root_place].append(root.cert)
    if rng.random() < 0.3:  # an unrelated root in the trust list must not matter
        trust.append(CertificateAuthority.create_root(f"{tag} Unrelated Root").cert)
    rng.shuffle(trust)
    rng.shuffle(untrusted)

    purpose = rng.choice(["server", "client", "both"])
    wanted = PURPOSES[purpose]
    eku_names = {"sslserver": SERVER_AUTH, "sslclient": CLIENT_AUTH}
    for cert in [leaf.cert, *(ca.cert for ca in chain_cas)]:
        if any(not cert.allows_purpose(eku_names[p]) for p in wanted):
            faults["eku"] += 1
            break
    return Scenario(
        number=number,
        description=f"{tag} purpose={purpose}: " + "; ".join(notes),
        leaf=leaf.cert,
        trust=trust,
        untrusted=untrusted,
        purpose=purpose,
        multi_fault=sum(faults.values()) > 1,
    )


@pytest.fixture(scope="module")
def scenarios() -> list[Scenario]:
    rng = random.Random(SEED)
    built = [build_scenario(number, rng) for number in range(SCENARIOS)]
    # the generator must not produce same-subject duplicates (those are the one place the semantics differ)
    for scenario in built:
        subjects = [c.subject for c in {*scenario.trust, *scenario.untrusted}]
        assert len(subjects) == len(set(subjects)), scenario.description
    return built


def test_random_scenarios_agree_with_openssl_verify(scenarios, openssl, tmp_path):
    def judge(scenario: Scenario) -> OpensslVerdict:
        return run_openssl_verify(
            openssl, tmp_path / f"s{scenario.number}", scenario.leaf, scenario.trust, scenario.untrusted,
            scenario.purpose, AT,
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        verdicts = list(pool.map(judge, scenarios))

    disagreements = []
    reasons: Counter[str] = Counter()
    for scenario, verdict in zip(scenarios, verdicts, strict=True):
        for semantics in ("openssl", "expressway"):
            result = verify_chain(
                scenario.leaf, scenario.trust, scenario.untrusted, purpose=scenario.purpose,
                semantics=semantics, at=AT,
            )
            if result.valid != verdict.valid:
                disagreements.append(
                    f"{scenario.description}\n  {semantics}: valid={result.valid} {result.reason} {result.detail}"
                    f"\n  openssl: valid={verdict.valid} {verdict.output.strip()}"
                )
                continue
            if not result.valid:
                reasons[result.reason.value] += 1
                expected = {OPENSSL_ERRORS[e] for e in verdict.errors if e in OPENSSL_ERRORS}
                # With one kind of fault the engine must name the fault OpenSSL reports; with several
                # (say expired and a wrong EKU) the two check in a different order.
                if not scenario.multi_fault and result.reason not in expected:
                    disagreements.append(
                        f"{scenario.description}\n  {semantics}: reason {result.reason} ({result.detail})"
                        f"\n  openssl errors {sorted(verdict.errors)}: {verdict.output.strip()}"
                    )
    assert not disagreements, "\n\n".join(disagreements)

    valid_count = sum(v.valid for v in verdicts)
    # the mix must exercise both outcomes and the main failure classes, or the comparison proves little
    assert valid_count >= SCENARIOS // 10, valid_count
    assert SCENARIOS - valid_count >= SCENARIOS // 4
    for reason in ("missing_issuer", "untrusted_root", "expired", "not_yet_valid", "eku_missing"):
        assert reasons[reason] > 0, (reason, reasons)


# --- certificates made by the openssl CLI itself -------------------------------------------------

_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[v3_root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
"""

_EXTENSIONS = """\
[v3_int]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_sub]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
[v3_int_server]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
extendedKeyUsage = serverAuth
[v3_int_no_certsign]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature,cRLSign
[leaf_both]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:both.example.org
[leaf_server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
[leaf_client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[leaf_noeku]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
[leaf_is_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature,keyCertSign
extendedKeyUsage = serverAuth,clientAuth
"""


@dataclass(frozen=True)
class OpensslPki:
    certs: dict[str, CertView]


@pytest.fixture(scope="module")
def openssl_pki(openssl, tmp_path_factory) -> OpensslPki:
    """A PKI made entirely with `openssl genpkey`, `req -x509` and `x509 -req -extfile`."""
    d = tmp_path_factory.mktemp("openssl-pki")
    (d / "req.cnf").write_text(_CONFIG)
    (d / "ext.cnf").write_text(_EXTENSIONS)
    serial = iter(range(100, 200))

    def genkey(name: str, rsa: bool = False) -> Path:
        algorithm = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"] if rsa else [
            "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
        openssl("genpkey", *algorithm, "-out", d / f"{name}.key")
        return d / f"{name}.key"

    def root(name: str, cn: str, rsa: bool = False, v1: bool = False) -> None:
        key = genkey(name, rsa)
        if v1:  # no extensions at all: an old-style version 1 self-signed root
            csr = d / f"{name}.csr"
            openssl("req", "-new", "-config", d / "req.cnf", "-key", key, "-subj", f"/CN={cn}", "-out", csr)
            openssl("x509", "-req", "-in", csr, "-signkey", key, "-days", "3650", "-out", d / f"{name}.pem")
        else:
            openssl("req", "-x509", "-new", "-config", d / "req.cnf", "-extensions", "v3_root", "-key", key,
                    "-subj", f"/O=mrakit openssl/CN={cn}", "-days", "3650", "-out", d / f"{name}.pem")

    def issue(name: str, cn: str, issuer: str, section: str, days: int = 365, rsa: bool = False) -> None:
        key = genkey(name, rsa)
        openssl("req", "-new", "-config", d / "req.cnf", "-key", key, "-subj", f"/CN={cn}", "-out", d / f"{name}.csr")
        openssl("x509", "-req", "-in", d / f"{name}.csr", "-CA", d / f"{issuer}.pem", "-CAkey", d / f"{issuer}.key",
                "-set_serial", str(next(serial)), "-days", str(days), "-extfile", d / "ext.cnf",
                "-extensions", section, "-out", d / f"{name}.pem")

    root("root", "OpenSSL CLI Root")
    root("rsaroot", "OpenSSL CLI RSA Root", rsa=True)
    root("v1root", "OpenSSL CLI v1 Root", v1=True)
    issue("int", "OpenSSL CLI Issuing CA", "root", "v3_int")
    issue("int_server", "OpenSSL CLI Server-only CA", "root", "v3_int_server")
    issue("int_nocertsign", "OpenSSL CLI CA without keyCertSign", "root", "v3_int_no_certsign")
    issue("int_rsa", "OpenSSL CLI RSA Issuing CA", "rsaroot", "v3_int", rsa=True)
    for variant in ("both", "server", "client", "noeku"):
        issue(f"leaf_{variant}", f"{variant}.example.org", "int", f"leaf_{variant}")
    issue("leaf_short", "short.example.org", "int", "leaf_both", days=1)
    issue("leaf_via_server_ca", "via-server-ca.example.org", "int_server", "leaf_both")
    issue("leaf_via_nocertsign", "via-nocertsign.example.org", "int_nocertsign", "leaf_both")
    issue("leaf_rsa", "rsa.example.org", "int_rsa", "leaf_both", rsa=True)
    issue("sub_of_pathlen0", "OpenSSL CLI CA below pathlen 0", "int", "v3_sub")
    issue("leaf_pathlen", "pathlen.example.org", "sub_of_pathlen0", "leaf_both")
    issue("leaf_v1root", "v1root.example.org", "v1root", "leaf_both")
    issue("leaf_is_ca", "leaf-ca.example.org", "int", "leaf_is_ca")
    issue("leaf_by_leaf", "by-leaf.example.org", "leaf_both", "leaf_both")
    return OpensslPki({p.stem: load_certificate_file(p) for p in d.glob("*.pem")})


# (leaf, trust, untrusted, purpose, days after now, expected valid)
OPENSSL_CASES = [
    ("leaf_both", ["root"], ["int"], "both", 0, True),
    ("leaf_both", ["root", "int"], [], "server", 0, True),
    ("leaf_both", ["root"], [], "both", 0, False),
    ("leaf_both", ["int"], [], "server", 0, False),
    ("leaf_both", ["rsaroot"], ["int", "root"], "both", 0, False),
    ("leaf_server", ["root"], ["int"], "server", 0, True),
    ("leaf_server", ["root"], ["int"], "client", 0, False),
    ("leaf_server", ["root"], ["int"], "both", 0, False),
    ("leaf_client", ["root"], ["int"], "client", 0, True),
    ("leaf_client", ["root"], ["int"], "server", 0, False),
    ("leaf_noeku", ["root"], ["int"], "both", 0, True),
    ("leaf_short", ["root"], ["int"], "both", 0, True),
    ("leaf_short", ["root"], ["int"], "both", 3, False),
    ("leaf_both", ["root"], ["int"], "both", 4000, False),
    ("leaf_both", ["root"], ["int"], "both", -30, False),
    ("leaf_via_server_ca", ["root"], ["int_server"], "server", 0, True),
    ("leaf_via_server_ca", ["root"], ["int_server"], "client", 0, False),
    ("leaf_via_nocertsign", ["root"], ["int_nocertsign"], "server", 0, False),
    ("leaf_rsa", ["rsaroot"], ["int_rsa"], "both", 0, True),
    ("leaf_rsa", ["root", "rsaroot"], ["int_rsa", "int"], "both", 0, True),
    ("leaf_v1root", ["v1root"], [], "both", 0, True),
    ("leaf_is_ca", ["root"], ["int"], "both", 0, True),
    ("leaf_by_leaf", ["root"], ["int", "leaf_both"], "server", 0, False),
    ("leaf_pathlen", ["root"], ["int", "sub_of_pathlen0"], "server", 0, False),
    ("leaf_pathlen", ["root", "int", "sub_of_pathlen0"], [], "both", 0, False),
    ("v1root", ["v1root"], [], "both", 0, True),
    ("v1root", ["root"], [], "server", 0, False),
]


@pytest.mark.parametrize(
    ("leaf", "trust", "untrusted", "purpose", "days", "valid"),
    OPENSSL_CASES,
    ids=[f"{c[0]}-{'+'.join(c[1])}-{'+'.join(c[2]) or 'none'}-{c[3]}-{c[4]}d" for c in OPENSSL_CASES],
)
def test_openssl_cli_certificates(openssl_pki, openssl, tmp_path, leaf, trust, untrusted, purpose, days, valid):
    certs = openssl_pki.certs
    # openssl stamps notBefore with the moment it ran: judge a minute later (plus the case's offset)
    at = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=1, days=days)
    leaf_cert = certs[leaf]
    trust_certs = [certs[n] for n in trust]
    untrusted_certs = [certs[n] for n in untrusted]
    verdict = run_openssl_verify(openssl, tmp_path, leaf_cert, trust_certs, untrusted_certs, purpose, at)
    assert verdict.valid is valid, verdict.output  # the expectation itself is checked against openssl
    for semantics in ("openssl", "expressway"):
        result = verify_chain(leaf_cert, trust_certs, untrusted_certs, purpose=purpose, semantics=semantics, at=at)
        assert result.valid is valid, f"{semantics}: {result.reason} {result.detail}"
        if not valid:
            expected = {OPENSSL_ERRORS[e] for e in verdict.errors if e in OPENSSL_ERRORS}
            assert result.reason in expected, (semantics, result.reason, verdict.output)


def test_openssl_cli_certificates_are_read_as_expected(openssl_pki):
    certs = openssl_pki.certs
    assert certs["v1root"].certificate.version.name == "v1"
    assert certs["v1root"].self_signed and certs["v1root"].can_issue and not certs["v1root"].is_ca
    assert certs["int"].is_ca and certs["int"].path_length == 0
    assert certs["int_nocertsign"].is_ca and not certs["int_nocertsign"].can_issue
    assert certs["leaf_server"].ekus == (SERVER_AUTH,)
    assert certs["leaf_both"].ekus == (SERVER_AUTH, CLIENT_AUTH)
    assert certs["leaf_both"].dns_sans == ("both.example.org",)
    assert not certs["leaf_noeku"].has_eku_extension
    assert certs["leaf_rsa"].key_type == "RSA" and certs["leaf_rsa"].key_size == 2048
    assert certs["int"].authority_key_identifier == certs["root"].subject_key_identifier

