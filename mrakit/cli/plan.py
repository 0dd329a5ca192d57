"""`mrakit plan` and `mrakit apply`: the main job."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mrakit.apply import ApplyResult, apply, refuse_other_inventory, refuse_stale
from mrakit.cli.common import (
    EXIT_ATTENTION,
    EXIT_FAILED,
    EXIT_OK,
    OUTPUT,
    colour,
    echo,
    fail,
    output_options,
    quiet,
)
from mrakit.cli.progress import Progress
from mrakit.errors import MrakitError
from mrakit.inventory.load import load_inventory
from mrakit.plan import Plan, plan
from mrakit.render.plan import RENDERERS, TextPlanRenderer, render_apply_result

inventory_option = click.option("-i", "--inventory", "inventory_path", required=True,
                                type=click.Path(dir_okay=False), help="The inventory YAML file.")
workers_option = click.option("--workers", type=click.IntRange(1, 64), default=None,
                              help="Nodes worked on in parallel (default: defaults.workers).")


def _progress() -> Progress | None:
    return None if quiet() else Progress(verbosity=OUTPUT.verbosity)


def _split(values: tuple[str, ...]) -> list[str] | None:
    names = [n.strip() for value in values for n in value.split(",") if n.strip()]
    return names or None


@click.command("plan")
@inventory_option
@click.option("-o", "--out", "out_path", type=click.Path(dir_okay=False), help="Save the plan as JSON.")
@click.option("--format", "output_format", type=click.Choice(list(RENDERERS)), default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 2 when changes or manual steps are pending (as Terraform).")
@click.option("--limit", multiple=True, help="Only plan changes for these clusters (comma-separated, repeatable).")
@workers_option
@click.option("--force", is_flag=True, help="Allow removing more than max_removal_ratio of a node's trust.")
@click.option("--certificates", "certificates_dir", type=click.Path(file_okay=False, exists=True),
              help="Signed certificates to install, matched to their nodes by public key.")
@output_options
def plan_command(inventory_path: str, out_path: str | None, output_format: str, detailed_exitcode: bool,
                 limit: tuple[str, ...], workers: int | None, force: bool, certificates_dir: str | None) -> None:
    """Observe every node and show what would change, where, and why. Exit 0 (or 2 with
    --detailed-exitcode when anything is pending, manual steps included), 1 when a node could
    not be read."""
    inventory = load_inventory(inventory_path)
    clusters = _split(limit)
    unknown = [c for c in clusters or [] if c not in inventory.expressway and c not in inventory.cucm]
    if unknown:
        fail(f"--limit names no cluster of {inventory_path}: {', '.join(unknown)}")
    progress = _progress()
    try:
        result = plan(inventory, workers=workers, limit=clusters, force=force, certificates_dir=certificates_dir,
                      progress=progress)
    except BaseException:
        if progress:
            progress.close(failed=True)
        raise
    if progress:
        progress.close()
    if out_path:
        Path(out_path).write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    if output_format != "text":
        click.echo(RENDERERS[output_format]().render(result))
    elif quiet():
        click.echo(result.summary())
    else:
        click.echo(TextPlanRenderer(colour=colour()).render(result))
    if out_path and output_format == "text":
        echo(f"\nsaved to {out_path}; apply it with: mrakit apply {out_path}")
    if result.unreachable:
        sys.exit(EXIT_FAILED)
    pending = result.has_changes or any(a.kind == "manual" for a in result.actions)
    sys.exit(EXIT_ATTENTION if detailed_exitcode and pending else EXIT_OK)


@click.command("apply")
@click.option("-i", "--inventory", "inventory_path", type=click.Path(dir_okay=False),
              help="The inventory YAML file (default with PLAN_FILE: the one the plan was made from).")
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False, exists=True))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (required without a TTY).")
@workers_option
@click.option("--force", is_flag=True, help="Allow removing more than max_removal_ratio of a node's trust.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Write a JSON report here.")
@click.option("--certificates", "certificates_dir", type=click.Path(file_okay=False, exists=True),
              help="Signed certificates to install, matched to their nodes by public key.")
@output_options
def apply_command(inventory_path: str | None, plan_file: str | None, yes: bool, workers: int | None, force: bool,
                  report_path: str | None, certificates_dir: str | None) -> None:
    """Make the nodes match the inventory: plan (or read PLAN_FILE), confirm, apply in phases,
    verify. Exit 0 when everything succeeded and verified, 1 when anything failed."""
    from mrakit.adapters.connect import connect

    saved = _read_plan(plan_file) if plan_file else None
    if saved is not None and (certificates_dir or force):
        fail("--certificates and --force shape a new plan; with a saved plan, give them to `mrakit plan`")
    if inventory_path is None:
        if saved is None:
            fail("apply needs -i INVENTORY or a saved PLAN_FILE")
        inventory_path = saved.inventory_path
        if not Path(inventory_path).is_file():
            fail(f"{plan_file} was made from {inventory_path}, which does not exist here; give -i INVENTORY")
    inventory = load_inventory(inventory_path)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if not yes and not interactive:
        fail("apply needs --yes when not run on a terminal")
    if saved is not None:
        refuse_other_inventory(saved, inventory)
    progress = _progress()
    failed = True
    try:
        with connect(inventory) as connections:
            if saved is not None:
                # A stale plan is refused before it is shown: nobody should approve what will not run.
                refuse_stale(saved, inventory, connections, workers=workers)
                the_plan = saved
            else:
                the_plan = plan(inventory, workers=workers, force=force, certificates_dir=certificates_dir,
                                connections=connections, progress=progress)
            if progress:
                progress.close()
            echo(TextPlanRenderer(colour=colour(), verbose=False).render(the_plan))
            # Nothing to write still gets verified: an apply that exits 0 has checked every trust relation.
            asked = the_plan.has_changes and not yes
            if asked and not click.confirm("\nApply this plan?", default=False):
                fail("not applied")
            progress = _progress()
            # A saved plan is checked again when a person took time to approve it.
            result = apply(the_plan, inventory, workers=workers, progress=progress, connections=connections,
                           check_stale=saved is not None and asked)
            failed = False
    except MrakitError as exc:
        if progress:
            progress.close(failed=True)
        fail(str(exc))
    finally:
        if progress:
            progress.close(failed=failed)
    _finish(result, report_path)


def _read_plan(plan_file: str) -> Plan:
    try:
        data = json.loads(Path(plan_file).read_text())
        if not isinstance(data, dict):
            raise TypeError(f"a JSON {type(data).__name__}, not an object")
        return Plan.from_dict(data)
    except MrakitError as exc:
        fail(f"{plan_file}: {exc}")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        fail(f"{plan_file}: not a mrakit plan ({exc})")


def _finish(result: ApplyResult, report_path: str | None) -> None:
    click.echo(result.summary() if quiet() else render_apply_result(result, colour=colour()))
    if report_path:
        Path(report_path).write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    sys.exit(EXIT_FAILED if result.failed else EXIT_OK)
