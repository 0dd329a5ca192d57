"""`mrakit report`: the deployment as one self-contained HTML page (or its data as JSON)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import click

from mrakit.cli.common import EXIT_ATTENTION, EXIT_OK, fail, output_options
from mrakit.diagnosis import Report, doctor
from mrakit.inventory.load import load_inventory
from mrakit.inventory.model import Inventory
from mrakit.planner import Plan
from mrakit.report.html import render_html
from mrakit.report.metrics import render_openmetrics
from mrakit.report.model import ReportModel, build_model


def render_json(model: ReportModel) -> str:
    return json.dumps(model.to_dict(), indent=2) + "\n"


RENDERERS: dict[str, Callable[[ReportModel], str]] = {"html": render_html, "openmetrics": render_openmetrics,
                                                      "json": render_json}


def render_report(report: Report, inventory: Inventory, output_format: str, plan: Plan | None = None) -> str:
    return RENDERERS[output_format](build_model(report, inventory, plan))


def load_plan(path: str) -> Plan:
    try:
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict):
            raise TypeError(f"a JSON {type(data).__name__}, not an object")
        return Plan.from_dict(data)
    except OSError as exc:
        fail(f"{path}: cannot read the plan ({exc.strerror or exc})")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        fail(f"{path}: not a mrakit plan ({exc})")


@click.command("report")
@output_options
@click.option("-i", "--inventory", "inventory_path", required=True, type=click.Path(dir_okay=False),
              help="The inventory YAML file.")
@click.option("-o", "--out", "out_path", type=click.Path(dir_okay=False),
              help="Write the report here (default: standard output).")
@click.option("--offline", is_flag=True, help="Only the inventory and its files: no node is contacted.")
@click.option("--plan", "plan_path", type=click.Path(dir_okay=False, exists=True),
              help="A saved plan (mrakit plan -o) to overlay on the map: what will be added where.")
@click.option("--format", "output_format", type=click.Choice(["html", "json"]), default="html", show_default=True)
def report_command(inventory_path: str, out_path: str | None, offline: bool, plan_path: str | None,
                   output_format: str) -> None:
    """The trust map, per-node certificates and trust lists, the renewal timeline and the findings, as
    one HTML file that needs no network to view. Exit 0 when no finding is an error, 2 when one is,
    1 when it could not run."""
    inventory = load_inventory(inventory_path)
    the_plan = load_plan(plan_path) if plan_path else None
    report = doctor(inventory, offline=offline)
    text = render_report(report, inventory, output_format, the_plan)
    if out_path:
        try:
            Path(out_path).write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"{out_path}: cannot write the report ({exc.strerror or exc})")
        click.echo(f"wrote {out_path}: {len(report.findings)} finding(s), "
                   f"{sum(1 for _, v in report.relations if v is not None and not v.valid)} broken relation(s)",
                   err=True)
    else:
        click.echo(text, nl=False)
    sys.exit(EXIT_ATTENTION if report.has_errors else EXIT_OK)
