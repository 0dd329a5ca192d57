"""A certificate is written by whoever made it: control characters in its names (a newline or NUL in a
SAN or CN, a right-to-left override) are escaped wherever mrakit shows them, so a certificate cannot
forge lines in a report, a plan or a terminal."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from mrakit.desired import Reason
from mrakit.pki import CertificateAuthority
from mrakit.pki.certview import CertView
from mrakit.pki.chain import verify_chain
from mrakit.planner import Action, Plan
from mrakit.render.certs import render_certificate, render_chain_result
from mrakit.render.plan import RENDERERS

FORGED = "mrakit: error: FORGED"
EVIL_CN = f"evil\n{FORGED}\x00\u202e"
EVIL_SAN = f"a.example.com\r\n{FORGED}"


def _evil() -> tuple[CertificateAuthority, CertView]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    from mrakit.pki.keys import generate_private_key

    ca = CertificateAuthority.create_root(f"Root\n{FORGED}")
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, EVIL_CN)]))
            .issuer_name(ca.cert.subject_name).public_key(generate_private_key("p256").public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(EVIL_SAN), x509.DNSName("b.example.com")]),
                           critical=False)
            .sign(ca.key, hashes.SHA256()))  # type: ignore[arg-type]
    return ca, CertView(cert)


def _no_forged_line(text: str) -> None:
    for line in text.splitlines():
        assert not line.lstrip(" |").startswith(FORGED), f"a forged line: {line!r}"
    assert "\x00" not in text and "\u202e" not in text and "\r" not in text


def test_certificate_fields_come_escaped() -> None:
    _, leaf = _evil()
    assert leaf.common_name == "evil\\x0amrakit: error: FORGED\\x00\\u202e"
    assert leaf.dns_sans[0] == "a.example.com\\x0d\\x0amrakit: error: FORGED"
    assert "\n" not in leaf.subject and "\n" not in leaf.issuer and "\n" not in leaf.display_name
    assert leaf.dns_sans[1] == "b.example.com"  # ordinary names are untouched


def test_the_certificate_and_chain_renderers_print_no_forged_line() -> None:
    ca, leaf = _evil()
    now = dt.datetime.now(dt.UTC)
    _no_forged_line(render_certificate(leaf, [], now, "evil.pem"))
    _no_forged_line(render_chain_result(verify_chain(leaf, [], [ca.cert])))


def test_cert_show_text_and_json_print_no_forged_line(tmp_path: Path, run_mrakit) -> None:  # type: ignore[no-untyped-def]
    _, leaf = _evil()
    path = tmp_path / "evil.pem"
    path.write_text(leaf.pem)
    text = run_mrakit("cert", "show", path)
    _no_forged_line(text.stdout + text.stderr)
    as_json = run_mrakit("cert", "show", path, "--format", "json")
    _no_forged_line(as_json.stdout)
    assert "FORGED" in as_json.stdout and json.loads(as_json.stdout)


def test_every_plan_renderer_prints_no_forged_line() -> None:
    _, leaf = _evil()
    action = Action(id="1-trust.add-expe1-x", phase=1, kind="trust.add", cluster="exp-e", node="expe1.acme.com",
                    product="expressway", store="trusted_ca", subject=leaf.subject, fingerprint=leaf.fingerprint_sha256,
                    pem=leaf.pem, summary=f'add "{leaf.display_name}" to the trusted CA list of exp-e/expe1',
                    reasons=(Reason("MRA020", f"it issued {leaf.dns_sans[0]}"),))
    plan = Plan(inventory_path="inventory.yaml", inventory_sha256="0" * 64, created_at="2026-01-01T00:00:00+00:00",
                node_fingerprints={}, actions=(action,))
    for renderer in RENDERERS.values():
        _no_forged_line(renderer().render(plan))
