"""`mrakit cert show` and `mrakit cert verify`: output, exit codes (0 ok, 1 failed, 2 attention)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from mrakit.pki import SERVER_AUTH, CertificateAuthority, certificates_to_pem, private_key_pem

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def files(lab, tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    server_only = lab.intermediate.issue_leaf("server-only.example.com", ekus=[SERVER_AUTH]).cert
    expiring = lab.intermediate.issue_leaf(
        "expiring.example.com", not_before=NOW - dt.timedelta(days=355), days=365
    ).cert
    twin_signer = CertificateAuthority.create_root("Twin CA")
    twin_other = CertificateAuthority.create_root("Twin CA")
    twin_leaf = twin_signer.issue_leaf("cucm.example.com").cert
    paths = {
        "good": lab.leaf.cert,
        "server_only": server_only,
        "expiring": expiring,
        "root": lab.root.cert,
        "intermediate": lab.intermediate.cert,
        "twin_leaf": twin_leaf,
        "twin_signer": twin_signer.cert,
        "twin_other": twin_other.cert,
    }
    out = {}
    for name, cert in paths.items():
        out[name] = d / f"{name}.pem"
        out[name].write_text(cert.pem)
    out["chain"] = d / "chain.pem"
    out["chain"].write_text(certificates_to_pem([lab.leaf.cert, lab.intermediate.cert]))
    out["key"] = d / "server.key"
    out["key"].write_bytes(private_key_pem(lab.leaf.key))
    out["garbage"] = d / "garbage.pem"
    out["garbage"].write_bytes(b"\x00\x01 not a certificate")
    out["missing"] = d / "missing.pem"
    out["dir"] = d
    return out


def _assert_failed_one_line(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 1
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mrakit: error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# --- cert show -----------------------------------------------------------------------------------


def test_show_good_leaf_exits_0(files, cli_main, lab):
    run = cli_main("cert", "show", files["good"], "--format", "json")
    assert run.code == 0, run.err
    [record] = json.loads(run.out)
    assert record["file"] == str(files["good"])
    assert record["fingerprint_sha256"] == lab.leaf.cert.fingerprint_sha256
    assert record["findings"] == []
    assert record["ekus"] == ["serverAuth", "clientAuth"]


def test_show_error_finding_exits_2(files, cli_main):
    run = cli_main("cert", "show", files["server_only"], "--format", "json")
    assert run.code == 2
    [record] = json.loads(run.out)
    assert [(f["code"], f["severity"]) for f in record["findings"]] == [("MRA001", "error")]


def test_show_warning_only_exits_0(files, cli_main):
    run = cli_main("cert", "show", files["expiring"], "--format", "json")
    assert run.code == 0
    [record] = json.loads(run.out)
    assert [(f["code"], f["severity"]) for f in record["findings"]] == [("MRA007", "warning")]
    # a narrower window silences the warning
    quiet = cli_main("cert", "show", files["expiring"], "--format", "json", "--window-days", "5")
    assert json.loads(quiet.out)[0]["findings"] == []


def test_show_several_files_and_a_bundle(files, cli_main):
    run = cli_main("cert", "show", files["chain"], files["server_only"], "--format", "json")
    assert run.code == 2  # one error anywhere is enough
    records = json.loads(run.out)
    assert [r["file"] for r in records] == [str(files["chain"])] * 2 + [str(files["server_only"])]
    assert [r["is_ca"] for r in records] == [False, True, False]


def test_show_text(files, cli_main, lab):
    run = cli_main("cert", "show", files["chain"])
    assert run.code == 0
    assert f"{files['chain']} [1/2]" in run.out and f"{files['chain']} [2/2]" in run.out
    assert "expe.example.com" in run.out
    fingerprint = lab.leaf.cert.fingerprint_sha256.upper()
    assert ":".join(fingerprint[i : i + 2] for i in range(0, 64, 2)) in run.out
    assert "findings:        none" in run.out


def test_show_text_lists_findings(files, cli_main):
    run = cli_main("cert", "show", files["server_only"])
    assert run.code == 2
    assert "ERROR   MRA001" in run.out


@pytest.mark.parametrize(
    ("name", "needles"),
    [("missing", ["file not found"]), ("garbage", ["no certificate found"]), ("key", ["found a private key"]),
     ("dir", ["is a directory"])],
)
def test_show_unreadable_file_exits_1_with_one_line(files, cli_main, name, needles):
    run = cli_main("cert", "show", files[name])
    _assert_failed_one_line(run.code, run.out, run.err, *needles)


def test_show_via_executable(files, run_mrakit):
    ok = run_mrakit("cert", "show", files["good"], "--format", "json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)[0]["subject"] == "CN=expe.example.com"
    bad = run_mrakit("cert", "show", files["server_only"])
    assert bad.returncode == 2
    missing = run_mrakit("cert", "show", files["missing"])
    _assert_failed_one_line(missing.returncode, missing.stdout, missing.stderr, str(files["missing"]), "not found")


# --- cert verify ---------------------------------------------------------------------------------

ALLOWED_KEYS = ({"valid", "path", "reason", "detail"}, {"valid", "path", "reason", "detail", "rule"})


def test_verify_valid_chain_json_exits_0(files, cli_main, lab):
    run = cli_main(
        "cert", "verify", files["good"], "--trust", files["root"], "--untrusted", files["intermediate"],
        "--format", "json",
    )
    assert run.code == 0, run.err
    record = json.loads(run.out)
    assert set(record) in ALLOWED_KEYS
    assert record["valid"] is True
    assert record["reason"] is None
    assert record["path"] == [c.subject for c in (lab.leaf.cert, lab.intermediate.cert, lab.root.cert)]


def test_verify_presented_chain_in_leaf_file(files, cli_main):
    run = cli_main("cert", "verify", files["chain"], "--trust", files["root"], "--format", "json")
    assert run.code == 0
    assert json.loads(run.out)["valid"] is True


def test_verify_invalid_chain_json_exits_2(files, cli_main, lab):
    run = cli_main("cert", "verify", files["good"], "--trust", files["root"], "--format", "json")
    assert run.code == 2
    record = json.loads(run.out)
    assert set(record) in ALLOWED_KEYS
    assert record["valid"] is False
    assert record["reason"] == "missing_issuer"
    assert record["rule"] == "MRA020"
    assert lab.intermediate.cert.subject in record["detail"]


def test_verify_purpose_option(files, cli_main):
    args = ("cert", "verify", files["server_only"], "--trust", files["root"], "--untrusted", files["intermediate"],
            "--format", "json")
    assert cli_main(*args, "--purpose", "server").code == 0
    run = cli_main(*args, "--purpose", "client")
    assert run.code == 2
    assert json.loads(run.out)["reason"] == "eku_missing"
    assert cli_main(*args).code == 2  # default purpose is both


def test_verify_semantics_option_and_trust_order(files, cli_main):
    shadowed = ("cert", "verify", files["twin_leaf"], "--trust", files["twin_other"], "--trust", files["twin_signer"],
                "--format", "json")
    run = cli_main(*shadowed)  # expressway semantics by default
    assert run.code == 2
    record = json.loads(run.out)
    assert record["reason"] == "shadowed_by_same_subject"
    assert record["rule"] == "MRA022"
    assert cli_main(*shadowed, "--semantics", "openssl").code == 0
    swapped = ("cert", "verify", files["twin_leaf"], "--trust", files["twin_signer"], "--trust", files["twin_other"])
    assert cli_main(*swapped).code == 0


def test_verify_text_output(files, cli_main):
    run = cli_main("cert", "verify", files["good"], "--trust", files["root"])
    assert run.code == 2
    assert run.out.startswith("INVALID (missing_issuer)  [expressway semantics, purpose both]")
    assert "[MRA020]" in run.out
    ok = cli_main("cert", "verify", files["chain"], "--trust", files["root"], "--purpose", "server")
    assert ok.out.startswith("VALID  [expressway semantics, purpose server]")


@pytest.mark.parametrize("where", ["leaf", "trust", "untrusted"])
@pytest.mark.parametrize(("name", "needle"), [("missing", "file not found"), ("garbage", "no certificate found"),
                                              ("key", "found a private key")])
def test_verify_unreadable_file_exits_1_with_one_line(files, cli_main, where, name, needle):
    leaf = files[name] if where == "leaf" else files["good"]
    trust = files[name] if where == "trust" else files["root"]
    args = ["cert", "verify", leaf, "--trust", trust, "--format", "json"]
    if where == "untrusted":
        args += ["--untrusted", files[name]]
    run = cli_main(*args)
    _assert_failed_one_line(run.code, run.out, run.err, str(files[name]), needle)
    error = json.loads(run.out)["error"]  # --format json: the same error as JSON on stdout
    assert error["exit_code"] == 1 and run.err.strip() == f"mrakit: error: {error['message']}"


def test_verify_usage_errors_exit_1(files, cli_main):
    run = cli_main("cert", "verify", files["good"])  # --trust is required
    _assert_failed_one_line(run.code, run.out, run.err, "--trust")
    run = cli_main("cert", "verify", files["good"], "--trust", files["root"], "--purpose", "email")
    _assert_failed_one_line(run.code, run.out, run.err, "--purpose")


def test_verify_via_executable(files, run_mrakit):
    ok = run_mrakit("cert", "verify", files["chain"], "--trust", files["root"], "--format", "json")
    assert ok.returncode == 0, ok.stderr
    assert set(json.loads(ok.stdout)) in ALLOWED_KEYS
    bad = run_mrakit("cert", "verify", files["good"], "--trust", files["root"], "--format", "json")
    assert bad.returncode == 2
    assert json.loads(bad.stdout)["valid"] is False
    broken = run_mrakit("cert", "verify", files["garbage"], "--trust", files["root"])
    _assert_failed_one_line(broken.returncode, broken.stdout, broken.stderr, "garbage.pem")


def test_show_damaged_certificate_exits_1_with_one_line(lab, tmp_path, cli_main):
    point = lab.leaf.cert.public_key_der[-65:]
    path = tmp_path / "damaged.der"
    path.write_bytes(lab.leaf.cert.der.replace(point, b"\x05" + point[1:]))
    run = cli_main("cert", "show", path)
    _assert_failed_one_line(run.code, run.out, run.err, str(path), "is damaged")
    assert "internal error" not in run.err
