"""`mrakit desired --format json` on the repository's example inventory, after `mrakit lab init` issued its
certificates into a temporary copy (no environment variables needed for either)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from mrakit.pki import load_certificates_file

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_KEYS = {"cluster", "node", "product", "role", "trust", "required_sans", "findings"}


@pytest.fixture(scope="module")
def example(tmp_path_factory, run_mrakit) -> Path:
    """A copy of inventory.example.yaml whose certificates `mrakit lab init` has written."""
    directory = tmp_path_factory.mktemp("example")
    copy = directory / "inventory.example.yaml"
    shutil.copyfile(REPO_ROOT / "inventory.example.yaml", copy)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MRAKIT_")}
    proc = run_mrakit("lab", "init", "-i", copy, cwd=directory, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = {p.relative_to(directory).as_posix() for p in (directory / "pki").iterdir()}
    assert {"pki/acme-root.pem", "pki/acme-issuing.pem", "pki/public-chain.pem", "pki/expe1.pem", "pki/expe2.pem",
            "pki/expc1.pem", "pki/expc2.pem", "pki/cucm-tomcat.pem", "pki/cucm-callmanager.pem"} <= written
    return copy


def fingerprints(path: Path) -> list[str]:
    return [c.fingerprint_sha256 for c in load_certificates_file(path)]


def desired_json(run_mrakit, example: Path, *extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MRAKIT_")}
    proc = run_mrakit("desired", "-i", example, "--format", "json", *extra, cwd=example.parent, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return json.loads(proc.stdout)


def test_desired_json_shape(run_mrakit, example):
    data = desired_json(run_mrakit, example)
    assert set(data) == {"nodes", "findings"}
    assert data["findings"] == []
    assert [n["node"] for n in data["nodes"]] == [
        "expe1.acme.com", "expe2.acme.com", "expc1.acme.local", "expc2.acme.local", "cucm-pub.acme.local"]
    for node in data["nodes"]:
        assert set(node) >= NODE_KEYS, sorted(node)
        assert isinstance(node["cluster"], str) and isinstance(node["role"], str)
        assert node["product"] in ("expressway", "cucm")
        assert isinstance(node["required_sans"], list) and all(isinstance(s, str) for s in node["required_sans"])
        assert node["findings"] == []
        assert node["trust"], node["node"]
        for entry in node["trust"]:
            assert set(entry) == {"store", "subject", "fingerprint_sha256", "reasons"}
            assert entry["store"] in ("trusted_ca", "tomcat-trust", "CallManager-trust")
            assert len(entry["fingerprint_sha256"]) == 64 and entry["fingerprint_sha256"] == entry[
                "fingerprint_sha256"].lower()
            assert entry["reasons"], entry
            for reason in entry["reasons"]:
                assert set(reason) == {"code", "text"}
                assert isinstance(reason["code"], str) and isinstance(reason["text"], str) and reason["text"]
    roles = {n["node"]: (n["cluster"], n["product"], n["role"]) for n in data["nodes"]}
    assert roles == {
        "expe1.acme.com": ("exp-e", "expressway", "edge"),
        "expe2.acme.com": ("exp-e", "expressway", "edge"),
        "expc1.acme.local": ("exp-c", "expressway", "control"),
        "expc2.acme.local": ("exp-c", "expressway", "control"),
        "cucm-pub.acme.local": ("cucm-main", "cucm", "publisher"),
    }


def test_desired_json_content_matches_the_lab_certificates(run_mrakit, example):
    pki = example.parent / "pki"
    private = fingerprints(pki / "acme-issuing.pem") + fingerprints(pki / "acme-root.pem")
    public = fingerprints(pki / "public-chain.pem")
    assert len(private) == 2 and len(public) == 2
    data = desired_json(run_mrakit, example)
    trust = {n["node"]: sorted((t["store"], t["fingerprint_sha256"]) for t in n["trust"]) for n in data["nodes"]}
    # The edge trusts the C chain (private); the C trusts the E chain (public) and CUCM's chain (private,
    # TLS Verify and secure registration); the CUCM publisher gets the C chain in both stores (C is X15.5.1).
    for fqdn in ("expe1.acme.com", "expe2.acme.com"):
        assert trust[fqdn] == sorted(("trusted_ca", f) for f in private)
    for fqdn in ("expc1.acme.local", "expc2.acme.local"):
        assert trust[fqdn] == sorted(("trusted_ca", f) for f in private + public)
    assert trust["cucm-pub.acme.local"] == sorted(
        [("tomcat-trust", f) for f in private] + [("CallManager-trust", f) for f in private])
    sans = {n["node"]: n["required_sans"] for n in data["nodes"]}
    assert sans["expe2.acme.com"] == ["mra.acme.com", "expe2.acme.com", "acme.com"]
    assert sans["expc1.acme.local"] == ["expc.acme.local", "expc1.acme.local", "acme.com", "secure-8865.acme.local"]
    assert sans["cucm-pub.acme.local"] == []
    codes = {n["node"]: {r["code"] for t in n["trust"] for r in t["reasons"]} for n in data["nodes"]}
    assert codes["expe1.acme.com"] == {"MRA020", "MRA023"}
    # exp-c also names acme-root in `trust`; whether that adds an "inventory" reason to the derived entry
    # is left open here.
    assert codes["expc1.acme.local"] - {"inventory"} == {"MRA020", "MRA023", "MRA031"}
    assert codes["cucm-pub.acme.local"] == {"MRA032", "CUCM001"}  # C's chain, and its own identities' CA


def test_desired_json_one_node(run_mrakit, example):
    data = desired_json(run_mrakit, example, "--node", "EXPC2.acme.local")
    assert [n["node"] for n in data["nodes"]] == ["expc2.acme.local"]
    assert set(data["nodes"][0]) >= NODE_KEYS


def test_validate_json_on_the_example(run_mrakit, example):
    proc = run_mrakit("validate", "-i", example, "--format", "json", cwd=example.parent)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report == {"inventory": str(example.resolve()), "valid": True, "findings": []}


def test_desired_text_lists_every_node(run_mrakit, example):
    proc = run_mrakit("desired", "-i", example, cwd=example.parent)
    assert proc.returncode == 0, proc.stderr
    for header in ("exp-e/expe1.acme.com (expressway edge)", "exp-c/expc2.acme.local (expressway control)",
                   "cucm-main/cucm-pub.acme.local (cucm publisher)"):
        assert header in proc.stdout
