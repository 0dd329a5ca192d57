"""Helpers shared by the command modules."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ATTENTION = 2

format_option = click.option(
    "--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="Output format.",
)


def fail(message: str) -> NoReturn:
    click.echo(f"mrakit: error: {message}", err=True)
    sys.exit(EXIT_FAILED)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
