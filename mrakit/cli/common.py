"""Helpers shared by the command modules: exit codes, errors, colour, verbosity and JSON output."""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any, NoReturn, TypeVar

import click

from mrakit.errors import printable

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ATTENTION = 2
EXIT_USAGE = 2  # bare `mrakit`: the usage, as any Click group

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class OutputSettings:
    """How this run talks: set from the command line once per `main()` call."""

    no_colour: bool = False
    verbosity: int = 0  # -1 quiet (errors and the summary), 0 normal, 1 every request and retry
    json_errors: bool = False  # `--format json`: errors go to stdout as {"error": {...}} too


OUTPUT = OutputSettings()


def reset_output(argv: Sequence[str]) -> None:
    """Fresh settings for one run. `--format json` is read from the arguments themselves, so that an
    error raised before click has parsed that option is still reported as JSON."""
    OUTPUT.no_colour = False
    OUTPUT.verbosity = 0
    OUTPUT.json_errors = _wants_json(argv)


def _wants_json(argv: Sequence[str]) -> bool:
    args = list(argv[: argv.index("--")] if "--" in argv else argv)
    return "--format=json" in args or any(a == "--format" and b == "json" for a, b in itertools.pairwise(args))


def colour(stream: IO[str] | None = None) -> bool:
    """Colour only on a terminal, and never with --no-color or NO_COLOR (https://no-color.org)."""
    if OUTPUT.no_colour or os.environ.get("NO_COLOR"):
        return False
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def quiet() -> bool:
    return OUTPUT.verbosity < 0


def _set_no_colour(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        OUTPUT.no_colour = True


def _set_verbose(ctx: click.Context, param: click.Parameter, value: int) -> None:
    if value:
        OUTPUT.verbosity = max(OUTPUT.verbosity, 1)
        _log_requests()


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        OUTPUT.verbosity = -1


def _log_requests() -> None:
    """-v: every management API request (method, path, status, time) and every retry, on stderr."""
    logger = logging.getLogger("mrakit.http")
    if not any(getattr(h, "_mrakit", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("mrakit: %(message)s"))
        handler._mrakit = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False


def output_options(function: F) -> F:
    """--no-color, -v/--verbose and -q/--quiet, on the group and on every command."""
    options = [
        click.option("--no-color", "--no-colour", is_flag=True, expose_value=False, callback=_set_no_colour,
                     help="No colour (also when NO_COLOR is set, or the output is not a terminal)."),
        click.option("-v", "--verbose", count=True, expose_value=False, callback=_set_verbose,
                     help="Show every API request (method, path, status, time) and every retry."),
        click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_set_quiet,
                     help="Only errors and the summary."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


format_option = click.option(
    "--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="Output format.",
)


def error_json(message: str, code: int = EXIT_FAILED, **details: Any) -> str:
    return json.dumps({"error": {"message": message, "exit_code": code, **details}}, indent=2)


def fail(message: str, **details: Any) -> NoReturn:
    """The one-line error on stderr, exit 1; with --format json also {"error": {...}} on stdout. One
    line whatever the message quotes (a file's content, a node's answer)."""
    message = printable(message)
    if OUTPUT.json_errors:
        click.echo(error_json(message, **details))
    click.echo(f"mrakit: error: {message}", err=True)
    sys.exit(EXIT_FAILED)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def echo(text: str = "", *, summary: bool = False, err: bool = False) -> None:
    """Ordinary output: suppressed by -q unless it is the summary."""
    if summary or not quiet():
        click.echo(text, err=err)
