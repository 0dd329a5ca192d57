"""Helpers shared by the command modules."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

from mrakit.errors import printable

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ATTENTION = 2

format_option = click.option(
    "--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="Output format.",
)


def fail(message: str) -> NoReturn:
    # One line, whatever the message quotes (a file's content, a node's answer).
    click.echo(f"mrakit: error: {printable(message)}", err=True)
    sys.exit(EXIT_FAILED)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
