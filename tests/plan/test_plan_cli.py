"""`mrakit plan` / `mrakit apply` as an operator runs them (subprocesses; with `connection: lab` the lab
runs inside each process and keeps its state and request log in the state directory): saved plans and
staleness, exit codes, a crash in the middle of apply, JSON and Markdown output, and secrets."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _plankit import (
    ALL_NODES,
    EXAMPLE_RELATIONS,
    EXPE1,
    MRAKIT,
    PASSWORDS,
    NewCa,
    assert_no_secret,
    cli_env,
    log_writes,
    request_log,
    trust_fingerprints,
)

from mrakit.desired import Reason
from mrakit.inventory.load import load_inventory
from mrakit.lab.state import LabState
from mrakit.planner import Action, Plan
from mrakit.render.plan import JsonPlanRenderer, MarkdownPlanRenderer
from mrakit.session import Session

GOLDEN = Path(__file__).parent / "golden" / "plan.md"


def mrakit(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MRAKIT), *map(str, args)], capture_output=True, text=True, env=cli_env(),
                          stdin=subprocess.DEVNULL, timeout=timeout)


def writes(state_dir: Path) -> list[Any]:
    return log_writes(request_log(state_dir))


def one_line_error(completed: subprocess.CompletedProcess[str]) -> str:
    assert completed.returncode == 1, completed
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("mrakit: error: ")
    assert "Traceback" not in completed.stderr
    return lines[0]


# --- saved plans -----------------------------------------------------------------------------------------

def test_stale_plan_is_refused_when_a_node_changed(make_deployment: Callable[..., Any],
                                                  lab_connections: Callable[..., Session]) -> None:
    deployment = make_deployment("peer-drift")
    state_dir = load_inventory(deployment.path).lab_state_dir
    saved = deployment.directory / "plan.json"
    assert mrakit("plan", "-i", deployment.path, "-o", saved).returncode == 0

    # Someone uploads a CA to one edge peer by hand.
    connections = lab_connections(deployment.path)
    connections.expressway[EXPE1].add_trusted_ca(NewCa.create("Hand Made").root.cert)
    connections.close()
    before = len(writes(state_dir))
    trust_before = trust_fingerprints(LabState.load(state_dir))

    completed = mrakit("apply", "-i", deployment.path, saved, "--yes")
    message = one_line_error(completed)
    assert "stale" in message and EXPE1 in message
    assert not [n for n in ALL_NODES if n != EXPE1 and n in message], message
    assert len(writes(state_dir)) == before
    assert trust_fingerprints(LabState.load(state_dir)) == trust_before


def test_stale_plan_is_refused_when_the_inventory_changed(make_deployment: Callable[..., Any]) -> None:
    deployment = make_deployment("missing-intermediate")
    state_dir = load_inventory(deployment.path).lab_state_dir
    saved = deployment.directory / "plan.json"
    assert mrakit("plan", "-i", deployment.path, "-o", saved).returncode == 0
    deployment.path.write_text(deployment.path.read_text() + "# reviewed\n")
    before = len(writes(state_dir))
    message = one_line_error(mrakit("apply", "-i", deployment.path, saved, "--yes"))
    assert "stale" in message and str(deployment.path.resolve()) in message
    assert len(writes(state_dir)) == before


def test_unchanged_saved_plans_apply_even_without_changes(make_deployment: Callable[..., Any]) -> None:
    deployment = make_deployment("missing-intermediate")
    state_dir = load_inventory(deployment.path).lab_state_dir
    saved = deployment.directory / "plan.json"
    planned = mrakit("plan", "-i", deployment.path, "-o", saved, "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    assert "Plan: 2 trust to add on 2 nodes" in planned.stdout
    before = len(writes(state_dir))
    applied = mrakit("apply", "-i", deployment.path, saved, "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert len(writes(state_dir)) - before == 2

    empty = deployment.directory / "empty.json"
    planned = mrakit("plan", "-i", deployment.path, "-o", empty, "--detailed-exitcode")
    assert planned.returncode == 0, planned.stdout
    assert planned.stdout.startswith("Plan: no changes")
    assert json.loads(empty.read_text())["actions"] == []
    before = len(writes(state_dir))
    applied = mrakit("apply", "-i", deployment.path, empty, "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert writes(state_dir)[before:] == []


def test_detailed_exitcode_and_confirmation(make_deployment: Callable[..., Any]) -> None:
    deployment = make_deployment("peer-drift")
    state_dir = load_inventory(deployment.path).lab_state_dir
    assert mrakit("plan", "-i", deployment.path, "--detailed-exitcode").returncode == 2
    assert mrakit("plan", "-i", deployment.path).returncode == 0  # changes pending, but not asked to tell

    before = len(writes(state_dir))
    message = one_line_error(mrakit("apply", "-i", deployment.path))  # stdin is not a terminal, no --yes
    assert message == "mrakit: error: apply needs --yes when not run on a terminal"
    assert len(writes(state_dir)) == before

    unknown = one_line_error(mrakit("plan", "-i", deployment.path, "--limit", "exp-e,nope"))
    assert "nope" in unknown and "exp-e" not in unknown.split(":")[-1]

    assert mrakit("apply", "-i", deployment.path, "--yes").returncode == 0
    assert mrakit("plan", "-i", deployment.path, "--detailed-exitcode").returncode == 0


# --- a crash in the middle of apply -------------------------------------------------------------------

def test_apply_killed_mid_run_converges_on_rerun_without_duplicates(make_deployment: Callable[..., Any]) -> None:
    deployment = make_deployment("temporary-certs", {"lab": {"latency_ms": 40}})
    state_dir = load_inventory(deployment.path).lab_state_dir
    total = 16  # 12 trust additions and 4 certificate installs (CUCM already trusts C's chain: its own CA)
    out, err = (deployment.directory / "apply.out").open("w"), (deployment.directory / "apply.err").open("w")
    process = subprocess.Popen([str(MRAKIT), "apply", "-i", str(deployment.path), "--yes", "--workers", "1"],
                               stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=cli_env())
    deadline = time.monotonic() + 60
    try:
        while len(writes(state_dir)) < 3:
            assert process.poll() is None, "apply ended before it could be interrupted"
            assert time.monotonic() < deadline, "apply made no writes"
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        out.close()
        err.close()
    done = len(writes(state_dir))
    assert 3 <= done < total, f"{done} writes when killed: not mid-run"

    rerun = mrakit("apply", "-i", deployment.path, "--yes")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    # Only what was left is done again (the write in flight when killed may or may not have landed).
    assert total - done - 1 <= len(writes(state_dir)[done:]) <= total - done
    final = mrakit("plan", "-i", deployment.path, "--detailed-exitcode")
    assert final.returncode == 0, final.stdout
    for (node, store), fingerprints in trust_fingerprints(LabState.load(state_dir)).items():
        assert len(fingerprints) == len(set(fingerprints)), f"{node} {store} holds a duplicate entry"


# --- output ---------------------------------------------------------------------------------------------

def test_json_plan_and_report_contents(make_deployment: Callable[..., Any]) -> None:
    deployment = make_deployment("temporary-certs")
    # An operator keeps the key in the same PEM file as the certificate: it must still never leave.
    combined = deployment.directory / "pki" / "expe1.pem"
    combined.write_text(combined.read_text() + (deployment.directory / "pki" / "expe1.key").read_text())
    saved, report = deployment.directory / "plan.json", deployment.directory / "report.json"
    planned = mrakit("plan", "-i", deployment.path, "-o", saved, "--format", "json")
    assert planned.returncode == 0, planned.stderr
    text = saved.read_text()
    data = json.loads(text)
    assert json.loads(planned.stdout) == data
    assert data["format_version"] == 1
    # The hash covers the inventory's text and every certificate it names (a changed file makes a plan stale).
    assert data["inventory"]["sha256"] == load_inventory(deployment.path).sha256
    assert data["inventory"]["sha256"] != hashlib.sha256(deployment.path.read_bytes()).hexdigest()
    assert data["inventory"]["path"] == str(deployment.path.resolve())
    assert set(data["nodes"]) == set(ALL_NODES)
    assert all(re.fullmatch(r"[0-9a-f]{64}", n["observed_fingerprint"]) for n in data["nodes"].values())
    # 4 restarts, and on the X15.5 C peers the copy of the new server certificate into the client store
    assert data["summary"] == "Plan: 12 trust to add on 4 nodes, 4 certificates to install, 6 manual steps"
    installs = [a for a in data["actions"] if a["kind"] == "cert.install"]
    assert len(installs) == 4 and all("BEGIN CERTIFICATE" in a["pem"] for a in installs)
    assert_no_secret(text, "the JSON plan")
    assert_no_secret(planned.stdout + planned.stderr, "plan's output")
    assert Plan.from_dict(data).to_dict() == data  # a saved plan reads back unchanged

    text_plan = mrakit("plan", "-i", deployment.path)
    assert_no_secret(text_plan.stdout + text_plan.stderr, "the text plan")
    applied = mrakit("apply", "-i", deployment.path, "--yes", "--report", report)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert_no_secret(applied.stdout + applied.stderr, "apply's output")
    assert_no_secret(report.read_text(), "the apply report")
    result = json.loads(report.read_text())
    assert result["failed"] is False and result["changed"] is True
    assert {i["status"] for items in result["nodes"].values() for i in items} == {"changed", "manual"}
    assert len(result["verification"]) == EXAMPLE_RELATIONS and all(c["valid"] for c in result["verification"])


def test_plan_from_dict_refuses_another_format_version() -> None:
    from mrakit.errors import MrakitError

    data = golden_plan().to_dict()
    data["format_version"] = 2
    with pytest.raises(MrakitError, match="format_version 2"):
        Plan.from_dict(data)


def golden_plan() -> Plan:
    """A plan from fixed inputs: every kind, phase, an unreachable node, and text needing escapes."""
    fp = {name: hashlib.sha256(name.encode()).hexdigest() for name in ("issuing", "root", "leaf", "old")}
    add = Action(
        id="1-trust.add-expc1.acme.local-aaaaaaaaaaaa", phase=1, kind="trust.add", cluster="exp-c",
        node="expc1.acme.local", product="expressway", store="trusted_ca", subject="CN=Acme Issuing CA",
        fingerprint=fp["issuing"], summary='add "Acme Issuing CA" to the trusted CA list of exp-c/expc1',
        reasons=(Reason("MRA020", 'exp-c/expc1: trust "Acme Issuing CA" because it issued exp-e/expe1\'s server '
                                  "certificate (traversal zone (C validates E))"),
                 Reason("MRA023", "every peer of exp-c needs it: Expressway trust lists do not replicate"),
                 Reason("MRA020", 'exp-c/expc1: trust "Acme Issuing CA" because it issued exp-e/expe2\'s server '
                                  "certificate (traversal zone (C validates E))"),
                 Reason("MRA021", "a fourth reason that the table leaves out")))
    cucm = Action(
        id="1-trust.add-cucm-pub.acme.local-bbbbbbbbbbbb", phase=1, kind="trust.add", cluster="cucm-main",
        node="cucm-pub.acme.local", product="cucm", store="CallManager-trust", subject="CN=Acme Root CA",
        fingerprint=fp["root"], summary='add "Acme Root CA" to the CallManager-trust of cucm-main/cucm-pub',
        reasons=(Reason("MRA032", "cucm-main/cucm-pub: trust \"Acme Root CA\" | the root of exp-c/expc1's chain"),))
    install = Action(
        id="2-cert.install-expe1.acme.com-cccccccccccc", phase=2, kind="cert.install", cluster="exp-e",
        node="expe1.acme.com", product="expressway", certificate_kind="server", subject="CN=mra.acme.com",
        fingerprint=fp["leaf"], summary="install expe1.pem as the server certificate of exp-e/expe1",
        reasons=(Reason("MRA008", "the inventory names expe1.pem (mra.acme.com, 0123456789abcdef…) as the server "
                                  "certificate of exp-e/expe1"),), depends_on=(add.id,))
    restart = Action(
        id="2-manual-expe1.acme.com-dddddddddddd", phase=2, kind="manual", cluster="exp-e", node="expe1.acme.com",
        product="expressway", summary="restart exp-e/expe1 so the new certificate takes effect",
        instructions="On expe1.acme.com: Maintenance > Restart options > Restart.", depends_on=(install.id,))
    remove = Action(
        id="4-trust.remove-expc1.acme.local-eeeeeeeeeeee", phase=4, kind="trust.remove", cluster="exp-c",
        node="expc1.acme.local", product="expressway", store="trusted_ca", subject="CN=Old CA",
        fingerprint=fp["old"], summary='remove "Old CA" from exp-c/expc1',
        reasons=(Reason("prune", '"Old CA" is a duplicate entry'),))
    by_hand = Action(
        id="4-manual-cucm-pub.acme.local-ffffffffffff", phase=4, kind="manual", cluster="cucm-main",
        node="cucm-pub.acme.local", product="cucm", store="tomcat-trust", subject="CN=Old CA",
        summary='remove "Old CA" from cucm-main/cucm-pub by hand',
        reasons=(Reason("prune", '"Old CA" is not needed by any current or desired chain'),),
        instructions="On cucm-pub.acme.local, CLI: set cert delete tomcat-trust acme-old.pem | confirm with yes")
    return Plan(
        inventory_path="/srv/mra/inventory.yaml", inventory_sha256="0123456789abcdef" * 4,
        created_at="2026-11-27T10:00:00+00:00",
        node_fingerprints={"expc1.acme.local": "1" * 64, "expe1.acme.com": "2" * 64, "cucm-pub.acme.local": "3" * 64},
        actions=(add, cucm, install, restart, remove, by_hand),
        unreachable={"expc2.acme.local": "expc2.acme.local unreachable after 3 attempt(s): connection refused"})


def test_markdown_rendering_matches_the_golden_file() -> None:
    rendered = MarkdownPlanRenderer().render(golden_plan())
    assert rendered == GOLDEN.read_text(), "the Markdown plan changed: review it, then update tests/plan/golden"


def test_markdown_of_an_empty_plan() -> None:
    empty = Plan(inventory_path="/srv/mra/inventory.yaml", inventory_sha256="f" * 64,
                 created_at="2026-11-27T10:00:00+00:00", node_fingerprints={}, actions=())
    assert MarkdownPlanRenderer().render(empty) == (
        "### mrakit plan: no changes\n\nInventory `inventory.yaml` (sha256 `ffffffffffff`)\n\n"
        "No changes: every node already matches the inventory.\n")
    assert json.loads(JsonPlanRenderer().render(empty))["summary"] == "Plan: no changes"


# --- secrets --------------------------------------------------------------------------------------------

def test_passwords_never_leave(make_deployment: Callable[..., Any]) -> None:
    """Through plan, a saved plan, apply with a report, and failures (a node down), the passwords appear
    in no output, no file mrakit writes, and not in the lab's request log."""
    deployment = make_deployment("temporary-certs", {"lab": {"nodes": {"expc2.acme.local": {"down": True}}}})
    state_dir = load_inventory(deployment.path).lab_state_dir
    saved, report = deployment.directory / "plan.json", deployment.directory / "report.json"
    outputs = [mrakit("plan", "-i", deployment.path, "-o", saved),
               mrakit("plan", "-i", deployment.path, "--format", "markdown"),
               mrakit("apply", "-i", deployment.path, saved, "--yes", "--report", deployment.directory / "r0.json"),
               mrakit("apply", "-i", deployment.path, "--yes", "--report", report)]
    assert [o.returncode for o in outputs] == [1, 1, 1, 1]  # a node is down: every run says so
    assert "expc2.acme.local" in outputs[0].stdout
    for completed in outputs:
        for stream in (completed.stdout, completed.stderr):
            assert_no_secret(stream, f"the output of {completed.args[1:3]}")
    assert json.loads(report.read_text())["failed"] is True
    assert (state_dir / "requests.jsonl").stat().st_size > 0
    for name in (saved, report, state_dir / "requests.jsonl"):
        assert_no_secret(name.read_text(), name.name)
    for path in deployment.directory.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for secret in PASSWORDS.values():
                assert secret.encode() not in content, f"a password is stored in {path}"


def _table_cells(row: str) -> list[str]:
    """The cells of a Markdown table row, splitting on unescaped pipes only."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def test_markdown_escapes_a_pipe_in_the_summary() -> None:
    action = Action(id="1-trust.add-x", phase=1, kind="trust.add", cluster="exp-c", node="expc1.acme.local",
                    product="expressway", store="trusted_ca", summary='add "Acme | Lab CA" to the trusted CA list',
                    reasons=(Reason("MRA020", "because"),))
    rendered = MarkdownPlanRenderer().render(Plan("/i.yaml", "0" * 64, "2026-11-27T10:00:00+00:00", {}, (action,)))
    row = next(line for line in rendered.splitlines() if "expc1" in line)
    assert len(_table_cells(row)) == 4, row


def test_markdown_escapes_angle_brackets_in_instructions() -> None:
    action = Action(id="4-manual-x", phase=4, kind="manual", cluster="cucm-main", node="cucm-pub.acme.local",
                    product="cucm", summary="remove by hand",
                    instructions="On cucm-pub.acme.local, CLI: set cert delete tomcat-trust <file name>")
    rendered = MarkdownPlanRenderer().render(Plan("/i.yaml", "0" * 64, "2026-11-27T10:00:00+00:00", {}, (action,)))
    row = next(line for line in rendered.splitlines() if "set cert delete" in line)
    assert "<file name>" not in row.replace("`<file name>`", ""), row
