"""A saved plan is input like any other: a tampered one is refused whole, with one line and zero writes."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _plankit import MRAKIT, cli_env, log_writes, request_log

from mrakit.applier import apply
from mrakit.errors import PlanError
from mrakit.inventory.load import load_inventory
from mrakit.lab.state import LabState
from mrakit.planner import Plan


def mrakit(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MRAKIT), *map(str, args)], capture_output=True, text=True, env=cli_env(),
                          stdin=subprocess.DEVNULL, timeout=120)


def _first(data: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(a for a in data["actions"] if a["kind"] == kind)


def _set(field: str, value: Any, kind: str = "trust.add") -> Callable[[dict[str, Any]], None]:
    def tamper(data: dict[str, Any]) -> None:
        # The last action of the kind: every action before it would be written first if the check were lazy.
        [a for a in data["actions"] if a["kind"] == kind][-1][field] = value
    return tamper


def _drop_pem(data: dict[str, Any]) -> None:
    _first(data, "cert.install")["pem"] = None


def _garbage_pem(data: dict[str, Any]) -> None:
    _first(data, "trust.add")["pem"] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"


def _other_certificate(data: dict[str, Any]) -> None:
    adds = [a for a in data["actions"] if a["kind"] == "trust.add"]
    other = next(a for a in adds if a["fingerprint_sha256"] != adds[0]["fingerprint_sha256"])
    adds[0]["pem"] = other["pem"]


def _actions_not_a_list(data: dict[str, Any]) -> None:
    data["actions"] = {"a": 1}


def _unknown_node_fingerprint(data: dict[str, Any]) -> None:
    data["nodes"]["evil.example.net"] = {"observed_fingerprint": "0" * 64}


TAMPERINGS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "node is a number": (_set("node", 5), "node: expected a string, got int 5"),
    "node not in the inventory": (_set("node", "evil.example.net"), "'evil.example.net' is not one of the"),
    "node of another product": (_set("node", "expe1.acme.com"), "'expe1.acme.com' is not one of the cucm nodes"),
    "wrong cluster": (_set("cluster", "exp-e"), "is in cluster"),
    "unknown kind": (_set("kind", "rm -rf"), "unknown action kind 'rm -rf'"),
    "phase of another kind": (_set("phase", 4), "is not the phase of a trust.add action"),
    "unknown CUCM store": (_set("store", "system-trust", "trust.add"), None),
    "unknown certificate kind": (_set("certificate_kind", "root", "cert.install"), "unknown"),
    "install without its certificate": (_drop_pem, "without its certificate"),
    "damaged certificate": (_garbage_pem, "its certificate cannot be read"),
    "certificate swapped": (_other_certificate, "does not have the fingerprint the action names"),
    "actions not a list": (_actions_not_a_list, "actions: expected a list"),
    "limit not a list": (lambda data: data.__setitem__("limit", None), "limit: expected a list"),
    "limit of another inventory": (lambda data: data.__setitem__("limit", ["beta-edge"]),
                                   "--limit names 'beta-edge', which is no cluster"),
    "node fingerprint for a stranger": (_unknown_node_fingerprint, "names node 'evil.example.net'"),
}


@pytest.mark.parametrize("name", list(TAMPERINGS))
def test_a_tampered_saved_plan_is_refused_whole_before_any_write(name: str,
                                                                  make_deployment: Callable[..., Any]) -> None:
    deployment = make_deployment("temporary-certs")  # trust to add and certificates to install
    state_dir = load_inventory(deployment.path).lab_state_dir
    state = LabState.load(state_dir)
    for node in state.cucm.values():  # a CUCM that trusts nothing yet: CUCM trust additions come last
        node.trust = {"tomcat-trust": [], "CallManager-trust": []}
    state.save()
    saved = deployment.directory / "plan.json"
    assert mrakit("plan", "-i", deployment.path, "-o", saved).returncode == 0
    data = json.loads(saved.read_text())
    tamper, needle = TAMPERINGS[name]
    if name == "unknown CUCM store":
        [a for a in data["actions"] if a["kind"] == "trust.add" and a["product"] == "cucm"][-1]["store"] = "x-trust"
        needle = "unknown CUCM trust store 'x-trust'"
    else:
        tamper(data)
    saved.write_text(json.dumps(data))
    before = len(log_writes(request_log(state_dir)))

    completed = mrakit("apply", "-i", deployment.path, saved, "--yes", "--report", deployment.directory / "r.json")

    assert completed.returncode == 1, completed.stdout + completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"mrakit: error: {saved}: "), completed.stderr
    assert needle in lines[0], lines[0]
    assert "internal error" not in lines[0]
    assert len(log_writes(request_log(state_dir))) == before, "a write happened before the plan was refused"


def test_apply_checks_a_plan_built_in_code_too(make_deployment: Callable[..., Any]) -> None:
    """The library's apply() is the gate, not only the CLI: a Plan object naming a stranger is refused
    before it connects to anything."""
    deployment = make_deployment()
    inventory = load_inventory(deployment.path)
    plan = Plan.from_dict({
        "format_version": 1, "inventory": {"path": str(inventory.path), "sha256": inventory.sha256},
        "created_at": "2026-01-01T00:00:00+00:00", "nodes": {}, "actions": [], "findings": []})
    stranger = Plan.from_dict({**plan.to_dict(), "actions": [{
        "id": "x", "phase": 2, "kind": "manual", "cluster": "exp-e", "node": "evil.example.net",
        "product": "expressway", "summary": "s"}]})
    with pytest.raises(PlanError, match=r"evil\.example\.net"):
        apply(stranger, inventory, connections=object(), check_stale=False, verify=False)


@pytest.mark.parametrize("document", [[], "plan", {"format_version": 1}, {"format_version": True},
                                      {"format_version": 1, "inventory": {"path": 1, "sha256": "x"}}])
def test_plan_from_dict_refuses_bad_shapes_with_a_plan_error(document: Any) -> None:
    with pytest.raises(PlanError):
        Plan.from_dict(document)


# --- output paths ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("where", "needle"), [("missing/plan.json", "does not exist"),
                                               ("a-file/plan.json", "is a file, not a folder"),
                                               ("loop/plan.json", "symbolic link loop")])
def test_plan_out_into_an_unusable_folder_is_one_line_before_any_node_is_read(
        where: str, needle: str, make_deployment: Callable[..., Any]) -> None:
    import os

    deployment = make_deployment()
    state_dir = load_inventory(deployment.path).lab_state_dir
    (deployment.directory / "a-file").write_text("x")
    os.symlink(deployment.directory / "loop", deployment.directory / "loop")
    before = len(request_log(state_dir))

    completed = mrakit("plan", "-i", deployment.path, "-o", deployment.directory / where)

    assert completed.returncode == 1
    [line] = completed.stderr.strip().splitlines()
    assert line.startswith("mrakit: error: cannot write ") and needle in line, line
    assert len(request_log(state_dir)) == before


def test_apply_report_into_a_missing_folder_is_refused_before_any_write(make_deployment: Callable[..., Any]) -> None:
    deployment = make_deployment()
    state_dir = load_inventory(deployment.path).lab_state_dir
    completed = mrakit("apply", "-i", deployment.path, "--yes", "--report", deployment.directory / "no" / "r.json")
    assert completed.returncode == 1
    [line] = completed.stderr.strip().splitlines()
    assert "cannot write" in line and "does not exist" in line
    assert log_writes(request_log(state_dir)) == []
