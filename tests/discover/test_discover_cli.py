"""`mrakit discover` as a user runs it: against `mrakit lab serve` in another process, first contact
without a CA bundle, and `--refresh` after a renewal."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mrakit.pki.load import load_certificates_file

LOGINS = ("--expressway-username", "admin", "--expressway-password-env", "MRAKIT_EXPRESSWAY_PASSWORD",
          "--cucm-username", "ccmadmin", "--cucm-password-env", "MRAKIT_CUCM_PASSWORD")


@pytest.fixture
def lab_serve(make_deployment: Callable[..., Any], mrakit_exe: Path,
              environ_without_proxies: None) -> Iterator[tuple[Any, Path]]:
    """`mrakit lab serve` in a subprocess; (deployment, the file holding the JSON line it printed)."""
    deployment = make_deployment()
    process = subprocess.Popen([str(mrakit_exe), "lab", "serve", "-i", str(deployment.path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("{"), process.stderr.read() if process.stderr else ""
        resolve_file = deployment.directory / "serve.json"
        resolve_file.write_text(line)
        yield deployment, resolve_file
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_discover_from_lab_serve_then_plan(lab_serve: tuple[Any, Path], run_mrakit: Callable[..., Any],
                                           tmp_path: Path) -> None:
    deployment, resolve_file = lab_serve
    out = tmp_path / "found"
    result = run_mrakit("discover", "-o", out, "--expressway", "expc1.acme.local", "--resolve-file", resolve_file,
                        "--authority", deployment.directory / "pki" / "public-chain.pem", *LOGINS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Read 4 Expressway node(s), 2 CUCM node(s) into 3 cluster(s)" in result.stdout
    assert result.stderr == ""
    planned = run_mrakit("plan", "-i", out / "inventory.yaml", "--format", "json")
    assert planned.returncode == 0, planned.stderr
    assert len([a for a in json.loads(planned.stdout)["actions"] if a["kind"] == "trust.add"]) == 12

    as_json = run_mrakit("discover", "-o", tmp_path / "again", "--expressway", "expc1.acme.local",
                         "--resolve-file", resolve_file, "--format", "json", *LOGINS)
    data = json.loads(as_json.stdout)
    # Without the public root, the edge's chain cannot be completed: said, and exit 2.
    assert as_json.returncode == 2
    assert [p["problem"] for p in data["not_read"]] == [
        "the chain ends at 'MRA Lab Public TLS CA', whose issuer 'CN=MRA Lab Public Root CA,O=MRA Lab Public "
        "Trust' no box showed: pass it with --authority FILE"]


def test_first_contact_prints_fingerprints_and_writes_the_bundle(lab_serve: tuple[Any, Path],
                                                                 run_mrakit: Callable[..., Any],
                                                                 tmp_path: Path) -> None:
    _deployment, resolve_file = lab_serve
    nodes = json.loads(resolve_file.read_text())["nodes"]
    out = tmp_path / "found"
    # --resolve-file names the lab's CA bundle too: --insecure-first-contact does not use it.
    result = run_mrakit("discover", "-o", out, "--expressway", "expc1.acme.local", "--insecure-first-contact",
                        "--resolve-file", resolve_file, *LOGINS)
    firsts = [line for line in result.stdout.splitlines() if line.startswith("first contact:")]
    assert len(firsts) == 6 and all("SHA-256" in line for line in firsts), result.stdout
    bundle = load_certificates_file(out / "pki" / "mgmt-ca.pem")
    assert {c.common_name for c in bundle} == set(nodes)  # what each node presented, nothing else
    for cert in bundle:
        assert any(cert.fingerprint_sha256 in line for line in firsts)
    # The lab's management certificates are CA-issued: the bundle of leaves is not enough, and discover says so.
    assert result.returncode == 2
    assert "pass that CA with --ca-bundle" in result.stdout


def test_refresh_rewrites_only_the_certificate_files(make_deployment: Callable[..., Any],
                                                     run_mrakit: Callable[..., Any]) -> None:
    deployment = make_deployment("temporary-certs")  # the boxes present other certificates than the files
    inventory = deployment.path
    before = inventory.read_bytes()
    expc1 = deployment.directory / "pki" / "expc1.pem"
    untouched = deployment.directory / "pki" / "cucm-tomcat.pem"
    old_tomcat = untouched.read_bytes()
    result = run_mrakit("discover", "--refresh", inventory, cwd=deployment.directory)
    assert result.returncode == 2, result.stdout + result.stderr  # the keys beside the files no longer match
    assert "updated" in result.stdout and "4 certificate file(s) updated" in result.stdout
    assert "the key beside expc1.pem is not the key of the certificate now presented" in result.stdout
    assert inventory.read_bytes() == before  # the inventory file, comments included, is untouched
    assert untouched.read_bytes() == old_tomcat
    assert load_certificates_file(expc1)[0].issuer.startswith("CN=Temporary CA")
    again = run_mrakit("discover", "--refresh", inventory, "--format", "json", cwd=deployment.directory)
    assert json.loads(again.stdout)["updated"] == []


def test_resolve_maps_a_name_to_an_address_and_port(lab_serve: tuple[Any, Path], run_mrakit: Callable[..., Any],
                                                    tmp_path: Path) -> None:
    _deployment, resolve_file = lab_serve
    served = json.loads(resolve_file.read_text())
    resolves = [a for fqdn, e in served["nodes"].items() if "axl" not in e
                for a in ("--resolve", f"{fqdn.upper()}={e['api'].split('//')[1]}")]
    result = run_mrakit("discover", "-o", tmp_path / "found", "--expressway", "expc1.acme.local:443",
                        "--ca-bundle", served["ca_bundle"], *resolves, *LOGINS[:4], "--format", "json")
    data = json.loads(result.stdout)
    assert data["expressway"] == ["expc1.acme.local", "expc2.acme.local", "expe1.acme.com", "expe2.acme.com"]
    assert [p["node"] for p in data["not_read"]][:1] == ["cucm-pub.acme.local"]  # no CUCM login given
    assert "--cucm-username" in data["not_read"][0]["problem"]
    text = (tmp_path / "found" / "inventory.yaml").read_text()
    port = served["nodes"]["expe2.acme.com"]["api"].rsplit(":", 1)[1]
    assert f"api_port: {port}  # from --resolve" in text
    assert (tmp_path / "found" / "pki" / "mgmt-ca.pem").read_text() == Path(served["ca_bundle"]).read_text()
