"""`mrakit plan` and `mrakit apply`: the main job."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mrakit.applier import ApplyResult, apply, refuse_other_inventory, refuse_stale
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
from mrakit.errors import MrakitError, PlanError
from mrakit.files import MAX_PLAN_BYTES, check_output_file, read_limited, write_output
from mrakit.inventory.load import load_inventory
from mrakit.inventory.model import Inventory
from mrakit.lock import deployment_lock
from mrakit.planner import Plan, compute_plan, observe_for_plan, raise_if_unsafe
from mrakit.planner.document import check_plan_against
from mrakit.planner.safety import blocking_hazards
from mrakit.render.plan import RENDERERS, TextPlanRenderer, render_apply_result
from mrakit.session import Session, session_for

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
    if out_path:
        check_output_file(out_path)  # before the nodes are read, not after
    progress = _progress()
    try:
        with session_for(inventory, None) as session:
            result = _observe_and_plan(inventory, session, workers, clusters, certificates_dir, progress)
    except BaseException:
        if progress:
            progress.close(failed=True)
        raise
    unsafe = blocking_hazards(result, force=force)
    if progress:
        progress.close(failed=bool(unsafe))  # then the refusal is the last word
    if out_path and not unsafe:
        write_output(out_path, json.dumps(result.to_dict(), indent=2) + "\n")
    if unsafe and output_format == "json":
        pass  # a script reads one JSON document on stdout: the error that refuses the plan
    elif output_format != "text":
        click.echo(RENDERERS[output_format]().render(result))
    elif quiet():
        click.echo(result.summary())
    else:
        click.echo(TextPlanRenderer(colour=colour()).render(result))
    # An unsafe plan is shown, so it can be reviewed, and then refused (and not saved).
    result = raise_if_unsafe(result, force=force)
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
@click.option("--wait", "wait_seconds", type=click.FloatRange(0, 86400), default=0, show_default=True,
              help="When another apply holds this inventory's lock, wait up to this many seconds for it.")
@output_options
def apply_command(inventory_path: str | None, plan_file: str | None, yes: bool, workers: int | None, force: bool,
                  report_path: str | None, certificates_dir: str | None, wait_seconds: float) -> None:
    """Make the nodes match the inventory: plan (or read PLAN_FILE), confirm, apply in phases,
    verify. Exit 0 when everything succeeded and verified, 1 when anything failed. One apply at a
    time per inventory: a lock file beside it (released when the process ends, however it ends)."""
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
        try:
            check_plan_against(saved, inventory)  # a tampered plan is refused whole, before the first write
        except PlanError as exc:
            fail(f"{plan_file}: not a plan for {inventory_path}: {exc}")
    if report_path:
        check_output_file(report_path)  # an unwritable report path is found before any write
    # Held from before the nodes are read until the report is written: a second apply plans only
    # after the first is done, on what the first left.
    with deployment_lock(inventory_path, wait=wait_seconds,
                         on_wait=lambda message: click.echo(f"mrakit: {message}", err=True)):
        _apply_locked(inventory, saved, yes, workers, force, report_path, certificates_dir)


def _observe_and_plan(inventory: Inventory, session: Session, workers: int | None, limit: list[str] | None,
                      certificates_dir: str | None, progress: Progress | None) -> Plan:
    inventory, observed = observe_for_plan(inventory, session, workers=workers, progress=progress,
                                           certificates_dir=certificates_dir)
    return compute_plan(inventory, observed, limit=limit)


def _apply_locked(inventory: Inventory, saved: Plan | None, yes: bool, workers: int | None, force: bool,
                  report_path: str | None, certificates_dir: str | None) -> None:
    progress = _progress()
    failed = True
    try:
        with session_for(inventory, None) as connections:
            if saved is not None:
                # A stale plan is refused before it is shown: nobody should approve what will not run.
                refuse_stale(saved, inventory, connections, workers=workers)
                the_plan = saved
            else:
                the_plan = _observe_and_plan(inventory, connections, workers, None, certificates_dir, progress)
            if progress:
                progress.close(failed=bool(blocking_hazards(the_plan, force=force)))
            echo(TextPlanRenderer(colour=colour(), verbose=False).render(the_plan))
            the_plan = raise_if_unsafe(the_plan, force=force)  # shown first, so the refusal can be reviewed
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
        return read_plan_file(plan_file)
    except MrakitError as exc:
        fail(str(exc))


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
    click.echo(result.summary() if quiet() else render_apply_result(result, colour=colour()))
    if report_path:
        write_output(report_path, json.dumps(result.to_dict(), indent=2) + "\n")
    sys.exit(EXIT_FAILED if result.failed else EXIT_OK)
