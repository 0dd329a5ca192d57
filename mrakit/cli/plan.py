"""`mrakit plan` and `mrakit apply`: the main job."""

from __future__ import annotations

import json
import sys

import click

from mrakit.apply import ApplyResult, apply
from mrakit.cli.common import EXIT_ATTENTION, EXIT_FAILED, EXIT_OK, fail
from mrakit.errors import MrakitError, PlanError
from mrakit.files import MAX_PLAN_BYTES, check_output_file, read_limited, write_output
from mrakit.inventory.load import load_inventory
from mrakit.inventory.model import Inventory
from mrakit.lock import deployment_lock
from mrakit.plan import Plan, plan
from mrakit.plancheck import check_plan_against
from mrakit.render.plan import RENDERERS, TextPlanRenderer, render_apply_result

inventory_option = click.option("-i", "--inventory", "inventory_path", required=True,
                                type=click.Path(dir_okay=False), help="The inventory YAML file.")
workers_option = click.option("--workers", type=click.IntRange(1, 64), default=None,
                              help="Nodes worked on in parallel (default: defaults.workers).")


def _progress(enabled: bool):  # type: ignore[no-untyped-def]
    if not enabled:
        return None

    def report(phase: str, node: str, message: str) -> None:
        click.echo(f"  [{phase}] {node}: {message}", err=True)

    return report


def _split(values: tuple[str, ...]) -> list[str] | None:
    names = [n.strip() for value in values for n in value.split(",") if n.strip()]
    return names or None


@click.command("plan")
@inventory_option
@click.option("-o", "--out", "out_path", type=click.Path(dir_okay=False), help="Save the plan as JSON.")
@click.option("--format", "output_format", type=click.Choice(list(RENDERERS)), default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when changes are pending (as Terraform).")
@click.option("--limit", multiple=True, help="Only plan changes for these clusters (comma-separated, repeatable).")
@workers_option
@click.option("--force", is_flag=True, help="Allow removing more than max_removal_ratio of a node's trust.")
@click.option("--certificates", "certificates_dir", type=click.Path(file_okay=False, exists=True),
              help="Signed certificates to install, matched to their nodes by public key.")
def plan_command(inventory_path: str, out_path: str | None, output_format: str, detailed_exitcode: bool,
                 limit: tuple[str, ...], workers: int | None, force: bool, certificates_dir: str | None) -> None:
    """Observe every node and show what would change, where, and why."""
    inventory = load_inventory(inventory_path)
    clusters = _split(limit)
    unknown = [c for c in clusters or [] if c not in inventory.expressway and c not in inventory.cucm]
    if unknown:
        fail(f"--limit names no cluster of {inventory_path}: {', '.join(unknown)}")
    if out_path:
        check_output_file(out_path)  # before the nodes are read, not after
    result = plan(inventory, workers=workers, limit=clusters, force=force, certificates_dir=certificates_dir)
    if out_path:
        write_output(out_path, json.dumps(result.to_dict(), indent=2) + "\n")
    renderer = RENDERERS[output_format]
    text = (TextPlanRenderer(colour=sys.stdout.isatty()) if output_format == "text" else renderer()).render(result)
    click.echo(text)
    if out_path and output_format == "text":
        click.echo(f"\nsaved to {out_path}; apply it with: mrakit apply -i {inventory_path} {out_path}")
    if result.unreachable:
        sys.exit(EXIT_FAILED)
    sys.exit(EXIT_ATTENTION if detailed_exitcode and result.has_changes else EXIT_OK)


@click.command("apply")
@inventory_option
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False, exists=True))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (required without a TTY).")
@workers_option
@click.option("--force", is_flag=True, help="Allow removing more than max_removal_ratio of a node's trust.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Write a JSON report here.")
@click.option("--certificates", "certificates_dir", type=click.Path(file_okay=False, exists=True),
              help="Signed certificates to install, matched to their nodes by public key.")
@click.option("--wait", "wait_seconds", type=click.FloatRange(0, 86400), default=0, show_default=True,
              help="When another apply holds this inventory's lock, wait up to this many seconds for it.")
def apply_command(inventory_path: str, plan_file: str | None, yes: bool, workers: int | None, force: bool,
                  report_path: str | None, certificates_dir: str | None, wait_seconds: float) -> None:
    """Make the nodes match the inventory: plan (or read PLAN_FILE), confirm, apply in phases,
    verify. Exit 0 when everything succeeded and verified, 1 when anything failed. One apply at a
    time per inventory: a lock file beside it (released when the process ends, however it ends)."""
    inventory = load_inventory(inventory_path)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if not yes and not interactive:
        fail("apply needs --yes when not run on a terminal")
    if report_path:
        check_output_file(report_path)  # an unwritable report path is found before any write
    # Held from before the nodes are read until the report is written: a second apply plans only
    # after the first is done, on what the first left.
    with deployment_lock(inventory_path, wait=wait_seconds,
                         on_wait=lambda message: click.echo(f"mrakit: {message}", err=True)):
        _apply_locked(inventory_path, inventory, plan_file, yes, workers, force, report_path, certificates_dir,
                      interactive)


def _apply_locked(inventory_path: str, inventory: Inventory, plan_file: str | None, yes: bool,
                  workers: int | None, force: bool, report_path: str | None, certificates_dir: str | None,
                  interactive: bool) -> None:
    if plan_file:
        the_plan = read_plan_file(plan_file)
        try:
            check_plan_against(the_plan, inventory)
        except PlanError as exc:
            fail(f"{plan_file}: not a plan for {inventory_path}: {exc}")
        if certificates_dir or force:
            fail("--certificates and --force shape a new plan; with a saved plan, give them to `mrakit plan`")
        check_stale = True
    else:
        the_plan = plan(inventory, workers=workers, force=force, certificates_dir=certificates_dir)
        check_stale = False
    click.echo(TextPlanRenderer(colour=sys.stdout.isatty(), verbose=False).render(the_plan))
    # Nothing to write still gets verified: an apply that exits 0 has checked every trust relation.
    if the_plan.has_changes and not yes and not click.confirm("\nApply this plan?", default=False):
        fail("not applied")
    try:
        result = apply(the_plan, inventory, workers=workers, progress=_progress(interactive),
                       check_stale=check_stale)
    except MrakitError as exc:
        fail(str(exc))
    _finish(result, report_path)


def read_plan_file(plan_file: str) -> Plan:
    """A saved plan, checked whole (PlanError names the file and the first problem)."""
    raw = read_limited(plan_file, MAX_PLAN_BYTES, "a plan", PlanError)
    try:
        return Plan.from_dict(json.loads(raw))
    except PlanError as exc:
        raise PlanError(f"{plan_file}: not a usable mrakit plan: {exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise PlanError(f"{plan_file}: not a mrakit plan ({type(exc).__name__}: {exc})") from None


def _finish(result: ApplyResult, report_path: str | None) -> None:
    click.echo(render_apply_result(result, colour=sys.stdout.isatty()))
    if report_path:
        write_output(report_path, json.dumps(result.to_dict(), indent=2) + "\n")
    sys.exit(EXIT_FAILED if result.failed else EXIT_OK)
