"""The four playbooks, run for real by `ansible-playbook` against a lab deployment: --check changes
nothing, the first run changes something, the second run changes nothing, passwords never show."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from mrakit.inventory.load import load_inventory
from mrakit.lab.state import REQUEST_LOG, LabState
from mrakit.pki.load import load_certificate_file, load_certificates

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
if not ANSIBLE_PLAYBOOK.exists():
    ANSIBLE_PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(),
                       reason=f"ansible-playbook is not installed in the venv ({ANSIBLE_PLAYBOOK}); "
                              "pip install 'mrakit[ansible]'"),
]

EDGE = ("expe1.acme.com", "expe2.acme.com")
CONTROL = ("expc1.acme.local", "expc2.acme.local")
PUB = "cucm-pub.acme.local"
RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)


class Run:
    def __init__(self, process: subprocess.CompletedProcess[str]) -> None:
        self.code = process.returncode
        self.output = process.stdout + process.stderr
        match = RECAP.search(process.stdout)
        assert match, f"no PLAY RECAP in the output:\n{self.output[-3000:]}"
        self.ok, self.changed, self.unreachable, self.failed = (int(g) for g in match.groups())

    def __repr__(self) -> str:
        return f"rc={self.code} changed={self.changed} failed={self.failed}\n{self.output[-4000:]}"


def run_playbook(playbook: str, inventory: Path, passwords: Mapping[str, str], tmp: Path, *args: str) -> Run:
    env = {k: v for k, v in os.environ.items()
           if not k.lower().endswith("_proxy") and not k.startswith(("ANSIBLE_", "MRAKIT_"))}
    env.pop("REQUESTS_CA_BUNDLE", None)
    env.update(passwords)
    env.update({"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-local"),
                "ANSIBLE_REMOTE_TEMP": str(tmp / "ansible-remote"), "ANSIBLE_RETRY_FILES_ENABLED": "0"})
    extra = ["-e", "auto_approve=true"] if playbook == "site.yml" else []
    process = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), f"playbooks/{playbook}", "-e", f"mrakit_inventory={inventory}", *extra, *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL, check=False)
    return Run(process)


def lab_snapshot(state_dir: Path) -> dict[str, Any]:
    return LabState.load(state_dir).to_json()


def write_requests(state_dir: Path) -> list[dict[str, Any]]:
    path = state_dir / REQUEST_LOG
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    return [e for e in entries if e["method"] != "GET" and not str(e["path"]).startswith("/axl")]


def assert_no_password(run: Run, passwords: Mapping[str, str]) -> None:
    for name, secret in passwords.items():
        assert secret not in run.output, f"the value of {name} appears in the ansible-playbook output"
    assert "PRIVATE KEY" not in run.output


def assert_trust_diff(output: str) -> None:
    """--diff shows, per node, its trust list before and after: the node FQDN and added trust lines."""
    for fqdn in (*EDGE, *CONTROL):
        header = f"--- before: {fqdn} (trust)"
        assert header in output, f"no trust diff for {fqdn}"
        block = output.split(header, 1)[1].split("--- before:", 1)[0]
        assert f"+++ after: {fqdn} (trust)" in block
        assert re.search(r"^\+trusted_ca: CN=.+ sha256=[0-9a-f]{16}$", block, re.MULTILINE), block
    # CUCM already trusts the C's chain (the lab's private CA issued CUCM's own identities, and CUCM keeps
    # their chain, CUCM001): no diff for it
    assert f"--- before: {PUB} (trust)" not in output


def presented(state_dir: Path, fqdn: str) -> str:
    return load_certificates(LabState.load(state_dir).expressway[fqdn].server_chain[0].encode())[0].fingerprint_sha256


def _check_effects(playbook: str, inventory: Path, state_dir: Path) -> None:
    """What the real run must have done, beyond `changed`."""
    renewal = inventory.parent / "renewal"
    if playbook == "renew-edge-certificate.yml":
        for fqdn in EDGE:
            assert presented(state_dir, fqdn) == load_certificate_file(
                renewal / "edge" / "signed" / f"{fqdn}.pem").fingerprint_sha256
    elif playbook == "renew-cucm-tomcat.yml":
        tomcat = LabState.load(state_dir).cucm[PUB].identities["tomcat"][0]
        signed = load_certificate_file(renewal / "cucm-tomcat" / "signed" / f"{PUB}-tomcat.pem")
        assert load_certificates(tomcat.encode())[0].fingerprint_sha256 == signed.fingerprint_sha256
    elif playbook == "x15-5-split-client-certificate.yml":
        for fqdn in CONTROL:
            key = renewal / "client" / "csr" / f"{fqdn}-client.key"
            assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
            assert (renewal / "client" / "signed" / f"{fqdn}-client.pem").exists()


PLAYBOOKS = ["site.yml", "renew-edge-certificate.yml", "renew-cucm-tomcat.yml", "x15-5-split-client-certificate.yml"]


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbook_check_then_apply_then_idempotent(make_deployment, lab_env: dict[str, str], tmp_path: Path,
                                                   playbook: str) -> None:
    inventory = make_deployment("fresh").path
    state_dir = load_inventory(inventory).lab_state_dir
    site = playbook == "site.yml"

    # --check: predicts changes, changes nothing (site.yml also with --diff)
    before_state, before_writes = lab_snapshot(state_dir), write_requests(state_dir)
    check = run_playbook(playbook, inventory, lab_env, tmp_path, "--check", *(("--diff",) if site else ()))
    assert check.code == 0 and check.failed == 0, check
    assert check.changed > 0, check
    assert lab_snapshot(state_dir) == before_state, "--check changed the lab"
    assert write_requests(state_dir) == before_writes, "--check sent a write request"
    assert not list((inventory.parent / "renewal").rglob("*.csr")), "--check wrote CSRs"
    if site:
        assert_trust_diff(check.output)
    assert_no_password(check, lab_env)

    # the first real run changes something (and is verbose: still no password)
    first = run_playbook(playbook, inventory, lab_env, tmp_path, "-v")
    assert first.code == 0 and first.failed == 0, first
    assert first.changed > 0, first
    assert lab_snapshot(state_dir) != before_state
    assert len(write_requests(state_dir)) > len(before_writes)
    _check_effects(playbook, inventory, state_dir)
    assert_no_password(first, lab_env)

    # the second run changes nothing (very verbose: module arguments shown, the secrets masked)
    settled_state, settled_writes = lab_snapshot(state_dir), write_requests(state_dir)
    second = run_playbook(playbook, inventory, lab_env, tmp_path, "-vvv")
    assert second.code == 0 and second.failed == 0, second
    assert second.changed == 0, second
    assert write_requests(state_dir) == settled_writes
    assert lab_snapshot(state_dir) == settled_state
    assert_no_password(second, lab_env)
