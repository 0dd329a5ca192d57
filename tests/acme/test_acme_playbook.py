"""playbooks/renew-acme.yml run for real by `ansible-playbook` (module mrakit.mra.renew) against the
lab, Pebble and BIND: --check changes nothing, the first run renews, the second changes nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _acmekit import CERT_INSTALL, CSR_POST, EXPE, phone_roots, requests_to, server_chains
from conftest import TSIG_ENV
from mrakit_testkit import PASSWORDS, REPO

from mrakit.acmerenew.state import STATE_FOLDER
from mrakit.inventory.load import load_inventory

ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)
pytestmark = pytest.mark.slow


def _playbook(inventory: Path, secrets: dict[str, str], tmp: Path, *args: str) -> tuple[int, int, int, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.lower().endswith("_proxy") and not k.startswith(("ANSIBLE_", "MRAKIT_"))}
    env.update(secrets)
    env.update({"ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-local"),
                "ANSIBLE_REMOTE_TEMP": str(tmp / "ansible-remote"), "ANSIBLE_RETRY_FILES_ENABLED": "0"})
    process = subprocess.run([str(ANSIBLE_PLAYBOOK), "playbooks/renew-acme.yml", "-e", f"mrakit_inventory={inventory}",
                              *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
                             stdin=subprocess.DEVNULL, check=False)
    output = process.stdout + process.stderr
    match = RECAP.search(process.stdout)
    assert match, output[-3000:]
    return process.returncode, int(match.group(2)), int(match.group(4)), output


def test_renew_acme_playbook_check_then_renew_then_nothing(acme_deployment, acme_servers, tmp_path: Path) -> None:
    assert ANSIBLE_PLAYBOOK.exists(), "ansible-playbook is not installed in the venv (pip install 'mrakit[ansible]')"
    deployment = acme_deployment(dns_update={"tsig_secret_env": "MRAKIT_TSIG_SECRET"})
    inventory = load_inventory(deployment.path)
    secrets = {**PASSWORDS, "MRAKIT_TSIG_SECRET": os.environ[TSIG_ENV]}
    roots = phone_roots(deployment.directory, inventory.lab_state_dir, acme_servers.pebble.root_pem())
    extra = ("-e", json.dumps({"due_within": 400, "renew_clusters": ["exp-e"], "doctor_phone_roots": str(roots)}),)
    old = server_chains(deployment.path, EXPE)

    code, changed, failed, output = _playbook(deployment.path, secrets, tmp_path, "--check", *extra)
    assert code == 0 and failed == 0 and changed > 0, output[-3000:]
    assert requests_to(inventory.lab_state_dir, CSR_POST) == [] and not (deployment.directory / STATE_FOLDER).exists()

    code, changed, failed, output = _playbook(deployment.path, secrets, tmp_path, "-v", *extra)
    assert code == 0 and failed == 0 and changed > 0, output[-3000:]
    now = server_chains(deployment.path, EXPE)
    assert all(now[fqdn][0] != old[fqdn][0] and "Pebble" in now[fqdn][0].issuer for fqdn in EXPE)
    for secret in secrets.values():
        assert secret not in output
    assert "PRIVATE KEY" not in output

    installs = len(requests_to(inventory.lab_state_dir, CERT_INSTALL))
    code, changed, failed, output = _playbook(deployment.path, secrets, tmp_path, *extra)
    assert code == 0 and failed == 0 and changed == 0, output[-3000:]
    assert len(requests_to(inventory.lab_state_dir, CERT_INSTALL)) == installs
