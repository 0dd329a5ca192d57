"""Concurrent runs: one apply at a time per inventory (an OS lock that dies with its process), a lab
state that no process loses to another, a trust list read right before it is appended to, and a
plan that names the duplicates a past race left."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _plankit import EXPC2, EXPE1, MRAKIT, NewCa, cli_env, log_writes, request_log, trust_fingerprints

from mrakit.applier import apply
from mrakit.errors import LockedError
from mrakit.inventory.load import load_inventory
from mrakit.lab.state import LabState
from mrakit.lock import deployment_lock, lock_path
from mrakit.planner import plan
from mrakit.render.plan import MarkdownPlanRenderer, TextPlanRenderer
from mrakit.session import Session


def start(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen([str(MRAKIT), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=cli_env(), stdin=subprocess.DEVNULL)


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MRAKIT), *map(str, args)], capture_output=True, text=True, env=cli_env(),
                          stdin=subprocess.DEVNULL, timeout=180)


# --- the apply lock ----------------------------------------------------------------------------------

def test_a_second_apply_is_refused_naming_the_holder_and_writes_nothing(make_deployment: Callable[..., Any]) -> None:
    deployment = make_deployment()
    state_dir = load_inventory(deployment.path).lab_state_dir
    with deployment_lock(deployment.path):
        completed = run("apply", "-i", deployment.path, "--yes")
    assert completed.returncode == 1
    [line] = completed.stderr.strip().splitlines()
    assert line.startswith(f"mrakit: error: another mrakit apply holds {deployment.path}: ")
    assert f"pid {os.getpid()} on {socket.gethostname()}" in line and "--wait SECONDS" in line
    assert log_writes(request_log(state_dir)) == []
    assert lock_path(deployment.path).exists()  # the file stays; only the lock on it comes and goes


def test_wait_gives_up_after_its_time_and_says_whom_it_waited_for(make_deployment: Callable[..., Any]) -> None:
    deployment = make_deployment()
    with deployment_lock(deployment.path):
        completed = run("apply", "-i", deployment.path, "--yes", "--wait", "0.5")
    assert completed.returncode == 1
    waiting, error = completed.stderr.strip().splitlines()
    assert waiting.startswith("mrakit: waiting for the apply lock of ") and f"pid {os.getpid()}" in waiting
    assert error.startswith("mrakit: error: another mrakit apply holds") and "waited 0.5 s" in error


def _hold_lock(path: str, ready: Any) -> None:
    with deployment_lock(path):
        ready.set()
        time.sleep(600)


def test_the_lock_dies_with_its_process(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("version: 1\n")
    ready = multiprocessing.get_context("spawn").Event()
    holder = multiprocessing.get_context("spawn").Process(target=_hold_lock, args=(str(inventory), ready))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(LockedError, match=f"pid {holder.pid} "), deployment_lock(inventory):
            pass
    finally:
        os.kill(holder.pid or 0, signal.SIGKILL)
        holder.join()
    with deployment_lock(inventory):  # no stale lock to clean up after a SIGKILL
        pass


def test_two_applies_at_once_end_with_exactly_the_trust_needed_and_both_tell_the_truth(
        make_deployment: Callable[..., Any]) -> None:
    deployment = make_deployment()
    state_dir = load_inventory(deployment.path).lab_state_dir
    reports = [deployment.directory / f"report{i}.json" for i in range(2)]
    processes = [start("apply", "-i", deployment.path, "--yes", "--wait", "170", "--report", report)
                 for report in reports]
    outputs = [p.communicate(timeout=180) for p in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, out + err

    results = [json.loads(r.read_text()) for r in reports]
    changed = [sum(1 for items in r["nodes"].values() for i in items if i["status"] == "changed") for r in results]
    # One did the work; the other planned after it and found nothing left to do.
    assert sorted(changed)[0] == 0 and sorted(changed)[1] > 0
    # Both are truthful: every "changed" is a write the lab saw, and no write went unreported.
    assert sum(changed) == len(log_writes(request_log(state_dir)))
    assert all(r["failed"] is False and all(c["valid"] for c in r["verification"]) for r in results)
    for (node, store), fingerprints in trust_fingerprints(LabState.load(state_dir)).items():
        assert len(fingerprints) == len(set(fingerprints)), f"{node} {store} holds a duplicate entry"
    assert run("plan", "-i", deployment.path, "--detailed-exitcode").returncode == 0


# --- the lab state ------------------------------------------------------------------------------------

def test_a_stale_copy_of_the_lab_state_never_overwrites_a_newer_save(make_deployment: Callable[..., Any]) -> None:
    """Two processes load the lab; one adds trust, the other then generates a CSR on the same node.
    Before, the second saved its old copy of the node and the trust was gone (last writer wins)."""
    state_dir = load_inventory(make_deployment().path).lab_state_dir
    first, second = LabState.load(state_dir), LabState.load(state_dir)
    root = NewCa.create("Concurrent Root").root.cert
    with first.mutate(EXPE1):
        first.expressway[EXPE1].append_trust(root.pem)
    node = second.expressway[EXPE1]  # the lab's handlers hold node objects: refreshed in place
    with second.mutate(EXPE1):
        node.generate_csr(EXPE1, [])
    final = LabState.load(state_dir).expressway[EXPE1]
    assert root.pem in final.trust and final.pending_csr


def _append_many(state_dir: str, label: str, count: int) -> None:
    from mrakit.pki import CertificateAuthority

    state = LabState.load(Path(state_dir))
    for index in range(count):
        pem = CertificateAuthority.create_root(f"{label} {index}").cert.pem
        with state.mutate(EXPC2):
            state.expressway[EXPC2].append_trust(pem)


def test_processes_appending_to_one_node_at_once_lose_nothing(make_deployment: Callable[..., Any]) -> None:
    state_dir = load_inventory(make_deployment().path).lab_state_dir
    before = len(LabState.load(state_dir).expressway[EXPC2].trust)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(str(state_dir), f"P{i}", 8)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    assert len(LabState.load(state_dir).expressway[EXPC2].trust) == before + 32


# --- trust writes and duplicates ------------------------------------------------------------------------

def test_apply_reads_the_list_before_appending_so_a_ca_added_meanwhile_is_not_duplicated(
        make_deployment: Callable[..., Any], lab_connections: Callable[..., Session]) -> None:
    deployment = make_deployment()
    inventory = load_inventory(deployment.path)
    connections = lab_connections(deployment.path)
    the_plan = plan(inventory, connections=connections)
    on_expe1 = [a for a in the_plan.actions if a.kind == "trust.add" and a.node == EXPE1]
    # Someone else (another machine, the web UI) adds the first of them after the plan was made.
    connections.expressway[EXPE1].add_trusted_ca(on_expe1[0].certificates()[0])

    result = apply(the_plan, inventory, connections=connections, check_stale=False)

    statuses = {r.action_id: r.status for r in result.results}
    assert statuses[on_expe1[0].id] == "ok" and all(statuses[a.id] == "changed" for a in on_expe1[1:])
    trust = [c.fingerprint_sha256 for c in connections.expressway[EXPE1].trusted_cas()]
    assert len(trust) == len(set(trust))


def test_plan_names_existing_duplicates_as_something_to_fix(make_deployment: Callable[..., Any],
                                                           lab_connections: Callable[..., Session]) -> None:
    deployment = make_deployment()
    inventory = load_inventory(deployment.path)
    connections = lab_connections(deployment.path)
    assert not apply(plan(inventory, connections=connections), inventory, connections=connections).failed
    twice = connections.expressway[EXPE1].trusted_cas()[0]
    connections.expressway[EXPE1].add_trusted_ca(twice)  # what a race between two writers leaves

    again = plan(inventory, connections=connections)

    assert not again.has_changes
    assert again.summary() == "Plan: no changes; 1 duplicate trust entry to remove"
    text = TextPlanRenderer().render(again)
    assert f'"{twice.display_name}" ({twice.fingerprint_sha256[:16]}…) is in the' in text
    assert "remove the extra copy" in text
    assert "Duplicate trust entries to remove" in MarkdownPlanRenderer().render(again)


def test_labs_of_several_processes_start_together_on_one_state_folder(make_deployment: Callable[..., Any],
                                                                     lab_env: dict[str, str]) -> None:
    """Each CLI process runs its own lab over the state folder; their first start writes the
    management certificates and keys there. Two LabState objects lock each other out exactly as two
    processes do (flock is per open file), so threads stand in for processes here."""
    import shutil
    import threading

    from mrakit.inventory.credentials import resolve_credentials
    from mrakit.lab.server import Lab

    inventory = load_inventory(make_deployment().path)
    credentials = resolve_credentials(inventory)
    for _ in range(8):  # a race: without the lock most rounds of 8 lose it at least once
        shutil.rmtree(inventory.lab_state_dir / "tls", ignore_errors=True)
        labs = [Lab(inventory, LabState.load(inventory.lab_state_dir), credentials) for _ in range(2)]
        barrier, errors = threading.Barrier(len(labs)), list[Exception]()

        def start_(lab: Lab, barrier: threading.Barrier, errors: list[Exception]) -> None:
            barrier.wait()
            try:
                lab.start()
            except Exception as exc:  # any failure is the finding
                errors.append(exc)

        threads = [threading.Thread(target=start_, args=(lab, barrier, errors)) for lab in labs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        for lab in labs:
            lab.stop()
        assert errors == []
