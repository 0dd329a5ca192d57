"""The `mrakit` command: thin click commands over the library.

Exit codes for every command: 0 success and nothing needs attention; 1 mrakit could not do its job
(a one-line message on stderr, never a traceback); 2 it worked and found something that needs
attention.
"""

from __future__ import annotations

import os
import sys

import click

from mrakit.cli.cert import cert_group
from mrakit.cli.common import EXIT_FAILED, EXIT_USAGE, fail, output_options, reset_output
from mrakit.cli.discover import discover_command
from mrakit.cli.doctor import doctor_command, probe_command
from mrakit.cli.inventory import desired, validate
from mrakit.cli.lab import lab_group
from mrakit.cli.ping import ping_command
from mrakit.cli.plan import apply_command, plan_command
from mrakit.cli.renew import csr_command, renew_command, sign_command
from mrakit.cli.report import report_command
from mrakit.errors import MrakitError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             no_args_is_help=True)
@click.version_option(package_name="mrakit")
@output_options
def cli() -> None:
    """Certificate and trust configuration as code for Cisco MRA (Expressway-E, Expressway-C, CUCM).

    Shell completion: eval "$(_MRAKIT_COMPLETE=bash_source mrakit)" in ~/.bashrc (zsh_source for zsh,
    fish_source for fish)."""


cli.add_command(cert_group)
cli.add_command(validate)
cli.add_command(ping_command)
cli.add_command(discover_command)
cli.add_command(desired)
cli.add_command(lab_group)
cli.add_command(plan_command)
cli.add_command(apply_command)
cli.add_command(doctor_command)
cli.add_command(probe_command)
cli.add_command(csr_command)
cli.add_command(sign_command)
cli.add_command(report_command)
cli.add_command(renew_command)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command, map errors to exit codes, never print a traceback."""
    args = sys.argv[1:] if argv is None else list(argv)
    reset_output(args)
    try:
        rc = cli.main(args=args, prog_name="mrakit", standalone_mode=False)
    except click.exceptions.Abort:
        fail("aborted")
    except click.exceptions.NoArgsIsHelpError as exc:
        # Bare `mrakit` (or a bare group): the usage on stderr and exit 2, as any Click group does.
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
        sys.exit(EXIT_USAGE)
    except click.exceptions.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx else "mrakit"
        fail(f"{exc.format_message()} (see '{command} --help')")
    except MrakitError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted")
    except Exception as exc:  # a bug: still one line, the traceback only on request
        if os.environ.get("MRAKIT_DEBUG"):
            raise
        fail(f"internal error: {type(exc).__name__}: {exc} (set MRAKIT_DEBUG=1 for the traceback)")
    sys.exit(rc if isinstance(rc, int) else 0)


__all__ = ["EXIT_FAILED", "cli", "main"]
