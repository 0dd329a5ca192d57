"""`mrakit ping`: can mrakit reach, trust, log in to and read every node? Read-only, in seconds."""

from __future__ import annotations

import sys

import click

from mrakit.cli.common import EXIT_FAILED, EXIT_OK, echo_json, format_option, output_options, quiet
from mrakit.cli.inventory import inventory_option
from mrakit.inventory.load import load_inventory
from mrakit.ping import PingResult, ping


def render_ping(results: list[PingResult]) -> str:
    width = max([len(r.node) for r in results] + [4])
    api_width = max([len(r.api) for r in results] + [3])
    lines = [f"{'NODE':<{width}}  {'API':<{api_width}}  RESULT"]
    for result in results:
        if result.usable:
            outcome = f"ok    {result.product} {result.version}".rstrip() + f"; {result.steps[-1].detail}"
        else:
            outcome = f"FAIL  {result.cause}"
        lines.append(f"{result.node:<{width}}  {result.api:<{api_width}}  {outcome}")
    usable = sum(1 for r in results if r.usable)
    nodes = {r.node for r in results}
    broken = sorted({r.node for r in results if not r.usable})
    lines.append(f"Ping: {usable}/{len(results)} API(s) usable on {len(nodes)} node(s)"
                 + (f"; not usable: {', '.join(broken)}" if broken else ""))
    return "\n".join(lines)


@click.command("ping")
@output_options
@inventory_option
@format_option
@click.option("--timeout", type=click.FloatRange(0.1, 60), default=5.0, show_default=True,
              help="Seconds to wait for each connection and answer.")
def ping_command(inventory_path: str, output_format: str, timeout: float) -> None:
    """Check every node's management APIs step by step, changing nothing: name resolution, TCP,
    TLS trust of the management certificate, login, the API answering (product and version) and
    read rights. Exit 0 when every node is fully usable, 1 otherwise (each failure names its cause)."""
    inventory = load_inventory(inventory_path)
    results = ping(inventory, timeout=timeout)
    if output_format == "json":
        echo_json({"usable": all(r.usable for r in results), "apis": [r.to_dict() for r in results]})
    else:
        text = render_ping(results)
        # -q: the failures and the summary only
        click.echo("\n".join(line for line in text.splitlines()
                             if not quiet() or "FAIL" in line or line.startswith("Ping:")))
    sys.exit(EXIT_OK if all(r.usable for r in results) else EXIT_FAILED)
