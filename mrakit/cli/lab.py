"""`mrakit lab …`: the embedded lab."""

from __future__ import annotations

import collections
import json
import signal
import sys
import threading
from pathlib import Path

import click

from mrakit.cli.common import echo_json, output_options
from mrakit.errors import MrakitError
from mrakit.inventory.credentials import resolve_credentials
from mrakit.inventory.eku import server_certificate_ekus
from mrakit.inventory.load import load_inventory
from mrakit.inventory.model import Inventory
from mrakit.lab.seed import SCENARIOS, init_lab, reset_lab
from mrakit.lab.server import Lab, started_lab
from mrakit.lab.state import NODES_DIR, REQUEST_LOG, STATE_FILE, LabState
from mrakit.pki.certview import SERVER_AUTH

inventory_option = click.option(
    "-i",
    "--inventory",
    "inventory_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="The inventory YAML file.",
)


@click.group("lab")
def lab_group() -> None:
    """The embedded lab: loopback twins of Expressway and CUCM for demos and tests."""


_SCENARIO_HELP = "\b\nScenarios:\n" + "\n".join(f"  {name:<21} {text}" for name, text in SCENARIOS.items())


@lab_group.command("init", epilog=_SCENARIO_HELP)
@inventory_option
@click.option(
    "--scenario",
    type=click.Choice(list(SCENARIOS)),
    default="fresh",
    show_default=True,
    help="The state the deployment starts in (see Scenarios below).",
)
@output_options
def init(inventory_path: str, scenario: str) -> None:
    """Create the lab's CAs, every certificate file the inventory names that does not exist yet
    (keys 0600 beside them), and every node, in SCENARIO. Replaces an existing lab state."""
    state = init_lab(Path(inventory_path), scenario)
    click.echo(
        f"lab initialised in {state.directory}: {len(state.expressway)} Expressway peer(s), "
        f"{len(state.cucm)} CUCM node(s), scenario {scenario} ({SCENARIOS[scenario]})"
    )
    if scenario == "x15-clientauth-loss":
        unaffected = _edges_taking_server_auth_only(load_inventory(inventory_path))
        if unaffected:
            click.echo(f"note: this inventory's edges ({', '.join(unaffected)}) take a serverAuth-only certificate, "
                       "so this scenario breaks nothing here; set an edge's version below X15.4 to see the failure")


def _edges_taking_server_auth_only(inventory: Inventory) -> list[str]:
    """Every edge cluster, as `name (version)`, when each takes serverAuth-only; else none."""
    edges = [c for c in inventory.expressway.values() if c.role == "edge"]
    if edges and all(server_certificate_ekus(c) == (SERVER_AUTH,) for c in edges):
        return [f"{c.name} {c.version}" for c in edges]
    return []


@lab_group.command("serve")
@inventory_option
@output_options
def serve(inventory_path: str) -> None:
    """Run the lab in the foreground. The first line of output is one JSON object with the CA
    bundle and every node's API URL and TLS listener ports. Stop with Ctrl-C."""
    inventory = load_inventory(inventory_path)
    lab = started_lab(inventory, resolve_credentials(inventory))
    click.echo(json.dumps(lab.describe()))
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    seen = _state_files(lab.state.directory)
    try:
        while not stop.wait(0.5):
            # Other mrakit commands run their own lab on the same state directory: take up their changes.
            now = _state_files(lab.state.directory)
            if now != seen:
                seen = now
                changed = _reload(lab)
                if changed:
                    click.echo(f"lab: changed by another command, now served: {', '.join(changed)}")
                    sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    finally:
        lab.stop()


def _state_files(directory: Path) -> dict[str, tuple[int, int]]:
    files = [directory / STATE_FILE, *sorted((directory / NODES_DIR).glob("*.json"))]
    return {f.name: (f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.exists()}


def _reload(lab: Lab) -> list[str]:
    """Take up, in place, the nodes another process saved since this lab last read them (under the
    state's lock, so no request is half-way through a change). Returns their names."""
    state = lab.state
    state.lock.acquire(refresh=False)  # compare first, then re-read: the lock re-reads by itself otherwise
    try:
        def served() -> dict[str, dict[str, object]]:
            nodes = {**{k: v.to_json() for k, v in state.expressway.items()},
                     **{k: v.to_json() for k, v in state.cucm.items()}}
            return nodes

        before = served()
        try:
            state.refresh()
        except MrakitError:
            return []  # caught between two writes: the next look will see the finished state
        after = served()
    finally:
        state.lock.release()
    return [name for name, data in after.items() if before.get(name) != data]


@lab_group.command("status")
@inventory_option
@output_options
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text")
def status(inventory_path: str, output_format: str) -> None:
    """Show every node's certificate, trust list size, pending restarts and the request log summary."""
    inventory = load_inventory(inventory_path)
    state = LabState.load(inventory.lab_state_dir)
    log_path = inventory.lab_state_dir / REQUEST_LOG
    entries = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.exists() else []
    writes = collections.Counter(
        e["node"] for e in entries if e["method"] != "GET" and not e["path"].startswith("/axl")
    )
    nodes = {}
    for fqdn, node in state.expressway.items():
        nodes[fqdn] = {
            "product": "expressway",
            "role": node.role,
            "version": node.version,
            "trusted_cas": len(node.trust),
            "pending_csr": bool(node.pending_csr),
            "writes": writes.get(fqdn, 0),
        }
    for fqdn, cnode in state.cucm.items():
        nodes[fqdn] = {
            "product": "cucm",
            "version": cnode.version,
            "tomcat_trust": len(cnode.trust.get("tomcat-trust", [])),
            "callmanager_trust": len(cnode.trust.get("CallManager-trust", [])),
            "restart_pending": list(cnode.restart_pending),
            "writes": writes.get(fqdn, 0),
        }
    report = {
        "state_dir": str(state.directory),
        "scenario": state.scenario,
        "requests": len(entries),
        "writes": sum(writes.values()),
        "nodes": nodes,
    }
    if output_format == "json":
        echo_json(report)
        return
    click.echo(
        f"lab {state.directory} (scenario {state.scenario}): {len(entries)} request(s), "
        f"{report['writes']} write(s) logged"
    )
    for fqdn, info in nodes.items():
        details = ", ".join(f"{k}={v}" for k, v in info.items() if k != "product")
        click.echo(f"  {fqdn:<28} {info['product']:<10} {details}")


@lab_group.command("reset")
@inventory_option
@output_options
def reset(inventory_path: str) -> None:
    """Remove the lab's node state and request log (run `lab init` to start again)."""
    inventory = load_inventory(inventory_path, require_files=False)
    reset_lab(inventory)
    click.echo(f"lab state in {inventory.lab_state_dir} removed")
