"""The collection as automation teams meet it: `ansible-doc` on every module, `ansible-galaxy collection
build`, the supported ansible-core range, the execution environment, site.yml's approval (refused
off a terminal, given by typing yes on one), apply of exactly a saved plan, and --diff of certificate
installs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml
from mrakit_testkit import run_on_terminal
from test_modules import MODULES, REPO, cli, run_module
from test_playbooks import write_requests

from mrakit.inventory.load import load_inventory
from mrakit.pki.ca import CertificateAuthority
from mrakit.session import connect

BIN = Path(sys.executable).parent
COLLECTION = REPO / "ansible_collections" / "mrakit" / "mra"
MODULE_NAMES = sorted(p.stem for p in MODULES.glob("*.py"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (BIN / "ansible-doc").exists(), reason="ansible-core is not installed in the venv "
                                                                  "(pip install 'mrakit[ansible]')"),
]


def ansible_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.lower().endswith("_proxy") and not k.startswith(("ANSIBLE_", "MRAKIT_"))}
    env.pop("REQUESTS_CA_BUNDLE", None)
    env.update({"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"})
    env.update(extra)
    return env


def documented_options(source: str) -> set[str]:
    """The option names in a module's argument_spec (its own and the common ones)."""
    spec = source[source.index("argument_spec="):]
    own = set(re.findall(r'"(\w+)": \{"type"', spec[: spec.index("supports_check_mode")]))
    return own | {"inventory", "secrets", "workers"}


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_ansible_doc_shows_every_module_completely(name: str) -> None:
    proc = subprocess.run([str(BIN / "ansible-doc"), "--json", f"mrakit.mra.{name}"], cwd=REPO, env=ansible_env(),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    entry = json.loads(proc.stdout)[f"mrakit.mra.{name}"]
    doc = entry["doc"]
    assert doc["short_description"] and doc["description"] and doc["author"], doc
    options = doc["options"]
    assert set(options) == documented_options((MODULES / f"{name}.py").read_text()), sorted(options)
    for option, spec in options.items():
        assert spec.get("description") and spec.get("type"), (name, option)
    assert entry["examples"] and f"mrakit.mra.{name}:" in entry["examples"]
    examples = yaml.safe_load(entry["examples"])
    assert all(f"mrakit.mra.{name}" in task for task in examples)
    assert entry["return"], f"{name} documents no return values"
    for key, spec in entry["return"].items():
        assert spec.get("description") and spec.get("type") and spec.get("returned"), (name, key)
    text = subprocess.run([str(BIN / "ansible-doc"), f"mrakit.mra.{name}"], cwd=REPO, env=ansible_env(),
                          capture_output=True, text=True, timeout=120, check=False)
    assert text.returncode == 0 and "EXAMPLES" in text.stdout and "RETURN VALUES" in text.stdout, text.stderr


def test_ansible_galaxy_builds_the_collection(tmp_path: Path) -> None:
    proc = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", str(COLLECTION), "--output-path",
                           str(tmp_path)], cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=180,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    tarball = tmp_path / f"mrakit-mra-{galaxy['version']}.tar.gz"
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
        manifest = json.load(archive.extractfile("MANIFEST.json"))  # type: ignore[arg-type]
    info = manifest["collection_info"]
    assert info["license"] == ["Apache-2.0"]
    assert info["repository"] and info["documentation"] and info["homepage"]
    assert {"cisco", "expressway", "cucm", "certificates"} <= set(info["tags"])
    assert {f"plugins/modules/{m}.py" for m in MODULE_NAMES} <= set(names)
    assert "meta/runtime.yml" in names and "plugins/module_utils/mrakit_common.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert galaxy["version"] == project["version"]


def test_the_supported_ansible_core_range_is_stated_once_and_holds() -> None:
    from ansible.module_utils.compat.version import LooseVersion
    from ansible.release import __version__ as installed

    wanted = yaml.safe_load((COLLECTION / "meta" / "runtime.yml").read_text())["requires_ansible"]
    low, high = re.fullmatch(r">=([\d.]+),<([\d.]+)", wanted).groups()  # type: ignore[union-attr]
    assert LooseVersion(low) <= LooseVersion(installed) < LooseVersion(high), (installed, wanted)
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["ansible"]
    pip_range = f"ansible-core>={low.rsplit('.0', 1)[0]},<{high.rsplit('.0', 1)[0]}"
    assert extra == [pip_range]
    ee = yaml.safe_load((REPO / "execution-environment.yml").read_text())
    assert ee["version"] == 3 and ee["dependencies"]["ansible_core"]["package_pip"] == pip_range
    steps = "\n".join(ee["additional_build_steps"]["append_final"])
    assert "pip install" in steps and "mrakit-*.whl" in steps and "ansible-galaxy collection install" in steps
    guide = (REPO / "docs" / "ansible.md").read_text()
    assert "execution-environment.yml" in guide and "Job Slicing" in guide and "shard" in guide.lower()


# --- site.yml's approval ----------------------------------------------------------------------------------------

def site(inventory: Path, passwords: dict[str, str], tmp: Path, *args: str, stdin: int | None = subprocess.DEVNULL,
         ) -> subprocess.CompletedProcess[str]:
    env = ansible_env(ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-local"), **passwords)
    return subprocess.run([str(BIN / "ansible-playbook"), "playbooks/site.yml", "-e", f"mrakit_inventory={inventory}",
                           *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, stdin=stdin,
                          check=False)


def test_site_yml_off_a_terminal_without_auto_approve_writes_nothing(make_deployment, lab_env, tmp_path) -> None:
    inventory = make_deployment("fresh").path
    state_dir = load_inventory(inventory).lab_state_dir
    before = write_requests(state_dir)
    ran = site(inventory, lab_env, tmp_path)
    output = ran.stdout + ran.stderr
    assert ran.returncode != 0, output
    assert "not applied, nothing was written" in output
    assert write_requests(state_dir) == before, "the play wrote without approval"
    assert "Apply exactly the approved plan" not in output.split("not applied")[1]


def test_site_yml_on_a_terminal_applies_after_yes(make_deployment, lab_env, tmp_path) -> None:
    inventory = make_deployment("fresh").path
    state_dir = load_inventory(inventory).lab_state_dir
    env = {**ansible_env(ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local")), **lab_env}
    before = write_requests(state_dir)
    code, screen = run_on_terminal([BIN / "ansible-playbook", "playbooks/site.yml", "-e",
                                    f"mrakit_inventory={inventory}"], cwd=REPO, env={**env, "TERM": "xterm"},
                                   answers={"type yes to apply": "yes\n"}, timeout=120)
    assert code == 0, screen[-3000:]
    assert len(write_requests(state_dir)) > len(before)
    assert (inventory.parent / "plan.json").exists()


# --- the plan module saves, the apply module applies exactly that plan -----------------------------------------------

def test_apply_module_applies_exactly_the_saved_plan_and_refuses_it_when_stale(make_deployment, lab_env,
                                                                             tmp_path) -> None:
    inventory = make_deployment("fresh").path
    state_dir = load_inventory(inventory).lab_state_dir
    saved = tmp_path / "plan.json"
    planned, _ = run_module("plan", {"inventory": str(inventory), "save": str(saved)}, tmp_path, lab_env)
    assert planned["saved"] == str(saved) and saved.exists(), planned
    writes_planned = sum(1 for a in json.loads(saved.read_text())["actions"] if a["kind"] != "manual")

    # someone changes a node by hand: the saved plan is refused, nothing is written
    with connect(load_inventory(inventory), environ=lab_env) as connections:
        connections.expressway["expe1.acme.com"].add_trusted_ca(CertificateAuthority.create_root("Hand Made").cert)
    before = write_requests(state_dir)
    refused, _ = run_module("apply", {"inventory": str(inventory), "plan": str(saved)}, tmp_path, lab_env)
    assert refused.get("failed") and "stale" in refused["msg"] and "expe1.acme.com" in refused["msg"], refused
    assert write_requests(state_dir) == before

    # a fresh plan is applied as it is: exactly its writes, nothing planned again
    run_module("plan", {"inventory": str(inventory), "save": str(saved)}, tmp_path, lab_env)
    writes_planned = sum(1 for a in json.loads(saved.read_text())["actions"] if a["kind"] != "manual")
    applied, _ = run_module("apply", {"inventory": str(inventory), "plan": str(saved)}, tmp_path, lab_env)
    assert applied["changed"] is True and not applied.get("failed"), applied
    assert len(write_requests(state_dir)) - len(before) == writes_planned
    both, _ = run_module("apply", {"inventory": str(inventory), "plan": str(saved), "force": True}, tmp_path,
                         lab_env)
    assert both.get("failed") and "mutually exclusive" in both["msg"]


def test_diff_shows_certificate_installs_old_to_new(make_deployment, lab_env, tmp_path) -> None:
    inventory = make_deployment("fresh").path
    csr, signed = tmp_path / "renewal" / "csr", tmp_path / "renewal" / "signed"
    cli("csr", "-i", inventory, "--cluster", "exp-e", "-o", csr, passwords=lab_env)
    cli("sign", "-i", inventory, "--csr-dir", csr, "-o", signed, passwords=lab_env)
    state_dir = load_inventory(inventory).lab_state_dir
    before = write_requests(state_dir)
    result, _ = run_module("apply", {"inventory": str(inventory), "certificates": str(signed),
                                     "_ansible_check_mode": True, "_ansible_diff": True}, tmp_path, lab_env)
    assert result["changed"] is True and not result.get("failed"), result
    assert write_requests(state_dir) == before
    installs = [d for d in result["diff"] if d["before_header"].endswith("(server certificate)")]
    assert sorted(d["before_header"].split()[0] for d in installs) == ["expe1.acme.com", "expe2.acme.com"]
    for diff in installs:
        old = dict(line.split(": ", 1) for line in diff["before"].splitlines())
        new = dict(line.split(": ", 1) for line in diff["after"].splitlines())
        assert set(old) == set(new) == {"subject", "serial", "not after", "sha256"}
        assert old["serial"] != new["serial"] and old["sha256"] != new["sha256"] and len(new["sha256"]) == 64
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", new["not after"])
