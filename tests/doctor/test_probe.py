"""`mrakit probe HOST:PORT`: the chain a listener presents, judged (with --trust-of) by a node's observed
trust list; against the lab's own listeners (`mrakit lab serve`) and against `openssl s_server`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _doctorkit import (
    EXPC1,
    EXPE1,
    PUB,
    PUBLIC_TLS_CA,
    Deployment,
    free_port,
    lab_serve,
    parse,
    run_cli,
    s_server,
)
from mrakit_testkit import cli

from mrakit.pki.ca import CertificateAuthority
from mrakit.pki.keys import write_private_key


def certificates_shown(out: str) -> list[dict[str, str]]:
    """The certificates `probe` printed: one dict of its rows (subject, issuer, SANs, EKUs, ...) each."""
    shown: list[dict[str, str]] = []
    for line in out.splitlines():
        if line.startswith("[") and line.rstrip().endswith("]") and line[1:-1].isdigit():
            shown.append({})
        elif shown and line.startswith("  ") and not line.startswith("    "):
            name, _, value = line.strip().partition("  ")
            shown[-1].setdefault(name.strip(), value.strip())
    return shown


# --- against the lab (`mrakit lab serve` in a subprocess) ----------------------------------------------------

@pytest.fixture(scope="module")
def served(templates, tmp_path_factory):
    d = templates.copy("missing-intermediate", None, tmp_path_factory.mktemp("probe") / "deployment")
    with lab_serve(d.path) as describe:
        yield d, describe


def listener(describe, fqdn: str, name: str) -> str:
    return f"127.0.0.1:{describe['nodes'][fqdn]['tls'][name]}"


def test_probe_shows_what_the_edge_presents(served, capsys):
    d, describe = served
    rc, out, _ = cli(capsys, "probe", listener(describe, EXPE1, "traversal"), "--servername", EXPE1)
    assert rc == 0
    assert "1 certificate(s) presented" in out.splitlines()[0]
    [leaf] = certificates_shown(out)
    assert leaf["subject"] == "CN=mra.acme.com"
    assert leaf["issuer"] == f"CN={PUBLIC_TLS_CA},O=MRA Lab Public Trust"
    assert EXPE1 in leaf["SANs"] and leaf["EKUs"] == "serverAuth"
    presented = parse(d.state().expressway[EXPE1].server_chain)[0]
    assert leaf["sha256"].replace(":", "").lower() == presented.fingerprint_sha256


def test_probe_trust_of_a_control_peer_that_lacks_the_intermediate(served, capsys, lab_env):
    d, describe = served
    rc, out, _ = cli(capsys, "probe", listener(describe, EXPE1, "traversal"), "--trust-of", EXPC1, "-i", str(d.path))
    assert rc == 2
    verdict = out.split(f"with the trust list of {EXPC1} (trusted_ca):", 1)[1]
    assert "INVALID (missing_issuer)" in verdict and PUBLIC_TLS_CA in verdict and "[MRA020]" in verdict


def test_probe_trust_of_follows_the_node_trust_list(served, capsys, lab_env, tmp_path):
    d, describe = served
    # another view of the same deployment, where expc1 now trusts the edge's intermediate
    copy = Deployment(Path(shutil.copytree(d.directory, tmp_path / "copy")) / "inventory.yaml")
    (copy.state_dir / "requests.jsonl").unlink(missing_ok=True)
    with copy.lab_state() as state:
        state.expressway[EXPC1].trust.append(copy.cas().public_issuing.cert.pem)
    target = listener(describe, EXPE1, "traversal")
    rc, out, _ = cli(capsys, "probe", target, "--trust-of", EXPC1, "-i", str(copy.path))
    assert rc == 0
    assert "VALID  [expressway semantics, purpose server]" in out
    assert "valid chain of 3 to trusted root" in out
    rc, out, _ = cli(capsys, "probe", target, "--trust-of", EXPC1.upper(), "-i", str(copy.path), "--purpose", "client")
    assert rc == 2 and "INVALID (eku_missing)" in out  # an X15.5 edge certificate is serverAuth-only
    rc, out, _ = cli(capsys, "probe", target, "--trust-of", EXPC1, "-i", str(copy.path), "--purpose", "both")
    assert rc == 2 and "INVALID (eku_missing)" in out


def test_probe_trust_of_a_cucm_node_uses_callmanager_trust(served, capsys, lab_env):
    d, describe = served
    rc, out, _ = cli(capsys, "probe", listener(describe, EXPC1, "sip-tls"), "--trust-of", PUB, "-i", str(d.path))
    assert rc == 0
    assert f"with the trust list of {PUB} (CallManager-trust):" in out
    assert certificates_shown(out)[0]["subject"] == "CN=expc.acme.local"


def test_probe_on_the_command_line(served):
    d, describe = served
    result = run_cli(["probe", listener(describe, EXPE1, "traversal"), "--trust-of", EXPC1, "-i", str(d.path)])
    assert result.returncode == 2, result.stderr
    assert "CN=mra.acme.com" in result.stdout and "INVALID (missing_issuer)" in result.stdout
    result = run_cli(["probe", listener(describe, PUB, "tomcat")])
    assert result.returncode == 0, result.stderr
    assert certificates_shown(result.stdout)[0]["subject"] == f"CN={PUB}"


@pytest.mark.parametrize(("args", "message"), [
    (["--trust-of", "nowhere.acme.com", "-i", "{inv}"], "no node"),
    (["--trust-of", EXPC1], "needs -i"),
])
def test_probe_trust_of_errors(served, capsys, lab_env, args, message):
    d, describe = served
    args = [a.replace("{inv}", str(d.path)) for a in args]
    rc, _, err = cli(capsys, "probe", listener(describe, EXPE1, "traversal"), *args)
    assert rc == 1 and message in err and "Traceback" not in err


@pytest.mark.parametrize(("target", "message"), [
    ("not-a-target", "is not HOST:PORT"),
    ("127.0.0.1:notaport", "is not HOST:PORT"),
    ("127.0.0.1:{closed}", "cannot connect"),
])
def test_probe_target_errors(capsys, target, message):
    rc, out, err = cli(capsys, "probe", target.replace("{closed}", str(free_port())))
    assert rc == 1 and message in err and out == ""
    assert err.startswith("mrakit: error: ") and len(err.strip().splitlines()) == 1


# --- against openssl s_server --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("s_server")
    root = CertificateAuthority.create_root("Probe Test Root", organization="Probe")
    issuing = root.issue_intermediate("Probe Test Issuing", organization="Probe")
    for name, cn in (("server", "server.probe.test"), ("other", "other.probe.test"), ("client", "client.probe.test")):
        issued = issuing.issue_leaf(cn, [cn])
        (directory / f"{name}.pem").write_text(issued.cert.pem)
        write_private_key(directory / f"{name}.key", issued.key)
    (directory / "issuing.pem").write_text(issuing.cert.pem)
    (directory / "cafile.pem").write_text(issuing.cert.pem + root.cert.pem)
    return directory


def server_args(pki: Path, *extra: str) -> list[str]:
    return ["-cert", str(pki / "server.pem"), "-key", str(pki / "server.key"), "-cert_chain",
            str(pki / "issuing.pem"), "-www", *extra]


def test_probe_shows_leaf_and_intermediate_from_s_server(pki, capsys):
    with s_server(*server_args(pki)) as server:
        rc, out, _ = cli(capsys, "probe", f"127.0.0.1:{server.port}")
    assert rc == 0
    assert "2 certificate(s) presented" in out.splitlines()[0]
    leaf, intermediate = certificates_shown(out)
    assert leaf["subject"] == "CN=server.probe.test" and leaf["issuer"] == "CN=Probe Test Issuing,O=Probe"
    assert intermediate["subject"] == "CN=Probe Test Issuing,O=Probe"
    assert intermediate["issuer"] == "CN=Probe Test Root,O=Probe" and intermediate["CA"] == "yes"


def test_probe_sends_the_servername(pki, capsys):
    args = server_args(pki, "-servername", "other.probe.test", "-cert2", str(pki / "other.pem"), "-key2",
                       str(pki / "other.key"))
    with s_server(*args) as server:
        rc, out, _ = cli(capsys, "probe", f"127.0.0.1:{server.port}", "--servername", "other.probe.test")
        assert rc == 0 and certificates_shown(out)[0]["subject"] == "CN=other.probe.test"
        rc, out, _ = cli(capsys, "probe", f"127.0.0.1:{server.port}", "--servername", "server.probe.test")
        assert rc == 0 and certificates_shown(out)[0]["subject"] == "CN=server.probe.test"


def test_probe_mutual_tls_with_a_client_certificate(pki, capsys):
    args = server_args(pki, "-Verify", "2", "-verify_return_error", "-CAfile", str(pki / "cafile.pem"), "-tls1_2")
    with s_server(*args) as server:
        rc, out, err = cli(capsys, "probe", f"127.0.0.1:{server.port}", "--client-cert", str(pki / "client.pem"),
                           "--client-key", str(pki / "client.key"))
        assert rc == 0, err
        assert "2 certificate(s) presented" in out
        rc_without, _, err_without = cli(capsys, "probe", f"127.0.0.1:{server.port}")
    assert "depth=0 CN = client.probe.test" in server.out + server.err  # the server verified the client's certificate
    assert rc_without == 1 and "TLS handshake with" in err_without  # -Verify: no certificate, no handshake
    assert "peer did not return a certificate" in server.err


def test_probe_client_cert_and_key_go_together(pki, capsys):
    rc, _, err = cli(capsys, "probe", "127.0.0.1:1", "--client-cert", str(pki / "client.pem"))
    assert rc == 1 and "go together" in err
