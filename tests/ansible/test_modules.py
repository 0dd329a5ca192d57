"""The mrakit.mra modules run directly (as Ansible runs them: a JSON argument file), for the cases a
playbook run cannot reach cheaply: secrets given only as a module option, and a renewal that is due."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from mrakit.inventory.load import load_inventory
from mrakit.lab.state import LabState
from mrakit.pki.load import load_certificates
from mrakit.renew import read_manifest

REPO = Path(__file__).resolve().parents[2]
MODULES = REPO / "ansible_collections" / "mrakit" / "mra" / "plugins" / "modules"
MRAKIT = Path(sys.executable).parent / "mrakit"

try:
    import ansible.module_utils.basic  # noqa: F401

    HAVE_ANSIBLE = True
except ImportError:  # pragma: no cover - depends on the venv
    HAVE_ANSIBLE = False

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not HAVE_ANSIBLE, reason="ansible-core is not installed in the venv "
                                                "(pip install 'mrakit[ansible]')"),
]


def _env(passwords: Mapping[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.lower().endswith("_proxy") and not k.startswith(("ANSIBLE_", "MRAKIT_"))}
    env.pop("REQUESTS_CA_BUNDLE", None)
    env["PYTHONPATH"] = str(REPO)
    env.update(passwords or {})
    return env


def run_module(name: str, args: Mapping[str, Any], tmp: Path, passwords: Mapping[str, str] | None = None,
               ) -> tuple[dict[str, Any], str]:
    """Run plugins/modules/NAME.py with ARGS; returns its JSON result and the raw output."""
    args_file = tmp / f"{name}-args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": dict(args)}))
    process = subprocess.run([sys.executable, str(MODULES / f"{name}.py"), str(args_file)], cwd=tmp,
                             env=_env(passwords), capture_output=True, text=True, timeout=120, check=False)
    raw = process.stdout + process.stderr
    start = process.stdout.find("{")
    assert start >= 0, raw
    return json.loads(process.stdout[start:]), raw


def cli(*args: str | Path, passwords: Mapping[str, str]) -> None:
    process = subprocess.run([str(MRAKIT), *map(str, args)], env=_env(passwords), capture_output=True, text=True,
                             timeout=120, check=False)
    assert process.returncode == 0, process.stdout + process.stderr


def test_secrets_given_only_as_a_module_option_work_and_never_come_back(make_deployment, lab_env: dict[str, str],
                                                                        tmp_path: Path) -> None:
    inventory = make_deployment("fresh").path
    result, raw = run_module("plan", {"inventory": str(inventory), "secrets": lab_env}, tmp_path, passwords=None)
    assert not result.get("failed"), result
    assert result["pending"] is True and result["summary"].startswith("Plan: ")
    for secret in lab_env.values():
        assert secret not in raw
    assert "PRIVATE KEY" not in raw
    # and without them the module fails with a message naming the variable, not a traceback
    result, raw = run_module("plan", {"inventory": str(inventory)}, tmp_path, passwords=None)
    assert result.get("failed") and "MRAKIT_" in result["msg"], result
    assert "Traceback" not in result["msg"]


def test_csr_module_is_idempotent_while_the_certificate_is_fresh(make_deployment, lab_env: dict[str, str],
                                                                 tmp_path: Path) -> None:
    inventory = make_deployment("fresh").path
    out = tmp_path / "csr"
    args = {"inventory": str(inventory), "clusters": ["exp-e"], "out": str(out)}
    first, _ = run_module("csr", args, tmp_path, lab_env)
    assert first["changed"] is True and len(first["requests"]) == 2, first
    second, _ = run_module("csr", args, tmp_path, lab_env)
    assert second["changed"] is False, second


def test_csr_module_renews_again_when_the_installed_certificate_is_due(make_deployment, lab_env: dict[str, str],
                                                                       tmp_path: Path) -> None:
    # renewal_window_days 100 > the 90 days `sign` gives: the renewed certificate is due at once
    inventory = make_deployment("fresh", {"defaults": {"renewal_window_days": 100}}).path
    out, signed = tmp_path / "renewal" / "csr", tmp_path / "renewal" / "signed"
    cli("csr", "-i", inventory, "--cluster", "exp-e", "-o", out, passwords=lab_env)
    cli("sign", "-i", inventory, "--csr-dir", out, "-o", signed, passwords=lab_env)
    cli("apply", "-i", inventory, "--certificates", signed, "--yes", passwords=lab_env)
    state = LabState.load(load_inventory(inventory).lab_state_dir)
    installed = {f: load_certificates(state.expressway[f].server_chain[0].encode())[0] for f in
                 ("expe1.acme.com", "expe2.acme.com")}
    assert all((c.not_after - c.not_before).days <= 90 for c in installed.values())
    old_keys = {r.public_key_sha256 for r in read_manifest(out)}

    result, _ = run_module("csr", {"inventory": str(inventory), "clusters": ["exp-e"], "out": str(out)},
                           tmp_path, lab_env)
    assert result["changed"] is True, result
    assert not old_keys & {r.public_key_sha256 for r in read_manifest(out)}


def test_apply_module_takes_the_cli_apply_lock(make_deployment, lab_env: dict[str, str], tmp_path: Path) -> None:
    from mrakit.inventory.load import load_inventory
    from mrakit.lock import deployment_lock

    inventory = make_deployment("fresh").path
    state_dir = load_inventory(inventory).lab_state_dir
    with deployment_lock(inventory):  # a CLI apply (here: this test) is running
        result, _ = run_module("apply", {"inventory": str(inventory)}, tmp_path, passwords=lab_env)
    assert result.get("failed") and f"pid {os.getpid()}" in result["msg"], result
    log = state_dir / "requests.jsonl"
    writes = [line for line in log.read_text().splitlines() if '"GET"' not in line] if log.exists() else []
    assert writes == []
