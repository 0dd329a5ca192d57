"""`mrakit validate` and `mrakit desired`: the inventory and what it implies, offline."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import NoReturn

import click

from mrakit.cli.common import (
    EXIT_ATTENTION,
    EXIT_FAILED,
    EXIT_OK,
    OUTPUT,
    echo_json,
    error_json,
    fail,
    format_option,
    output_options,
    quiet,
)
from mrakit.desired import desired_state
from mrakit.errors import InventoryError
from mrakit.findings import has_errors
from mrakit.inventory.load import load_inventory
from mrakit.render.desired import render_desired
from mrakit.render.findings import render_findings, summary_line
from mrakit.rules.registry import judge_desired

inventory_option = click.option(
    "-i", "--inventory", "inventory_path", required=True, type=click.Path(dir_okay=False),
    help="The inventory YAML file.",
)


@click.command("validate")
@inventory_option
@format_option
@output_options
def validate(inventory_path: str, output_format: str) -> None:
    """Check the inventory: schema, files, cross-references, and the offline findings on the
    certificates it names. Exit 0 clean, 2 when a finding is an error, 1 when it cannot be read
    (every schema problem is listed, one per line)."""
    try:
        inventory = load_inventory(inventory_path)
    except InventoryError as exc:
        _every_problem(exc)
    state = desired_state(inventory)
    findings = judge_desired(inventory, state).all()
    if output_format == "json":
        echo_json({"inventory": str(inventory.path), "valid": True, "findings": [f.to_dict() for f in findings]})
    else:
        nodes = len(state.nodes) + sum(len(c.subscribers) for c in inventory.cucm.values())
        if not quiet():
            click.echo(f"{inventory_path}: schema and references valid ({len(inventory.expressway)} Expressway "
                       f"cluster(s), {len(inventory.cucm)} CUCM cluster(s), {nodes} nodes)")
        if not quiet():
            click.echo(render_findings(findings))
        click.echo(summary_line(findings))
    sys.exit(EXIT_ATTENTION if has_errors(findings) else EXIT_OK)


def _every_problem(exc: InventoryError) -> NoReturn:
    """Every problem of an invalid inventory, one `mrakit: error:` line each, exit 1."""
    problems = exc.problems or (exc,)
    if OUTPUT.json_errors:
        message = problems[0].one_line() if len(problems) == 1 else f"{len(problems)} problems in {exc.file}"
        click.echo(error_json(message, problems=[
            {"message": p.message, "file": p.file, "line": p.line, "column": p.column, "field": p.path}
            for p in problems]))
    for problem in problems:
        click.echo(f"mrakit: error: {problem.one_line()}", err=True)
    sys.exit(EXIT_FAILED)


@click.command("desired")
@inventory_option
@click.option("--node", help="Only this node (FQDN).")
@format_option
@output_options
def desired(inventory_path: str, node: str | None, output_format: str) -> None:
    """Print the desired trust lists (with reasons) and required SANs of every node."""
    inventory = load_inventory(inventory_path)
    state = desired_state(inventory)
    judged = judge_desired(inventory, state)
    nodes = state.nodes
    if node:
        nodes = tuple(n for n in nodes if n.node == node.lower())
        if not nodes:
            fail(f"no node {node!r} in {inventory_path}")
    if output_format == "json":
        echo_json({"nodes": [{**n.to_dict(), "findings": [f.to_dict() for f in judged.of_node(n.node)]}
                             for n in nodes],
                   "findings": [f.to_dict() for f in judged.general]})
    else:
        click.echo(render_desired(replace(state, nodes=nodes)))
        if judged.general:
            click.echo("\n" + render_findings(judged.general))
    sys.exit(EXIT_OK)
