"""`mrakit lab …`: the embedded lab."""

from __future__ import annotations

from pathlib import Path

import click

from mrakit.lab.pki import create_missing_files


@click.group("lab")
def lab_group() -> None:
    """The embedded lab: loopback twins of Expressway and CUCM for demos and tests."""


@lab_group.command("init")
@click.option("-i", "--inventory", "inventory_path", required=True, type=click.Path(dir_okay=False, exists=True))
def init(inventory_path: str) -> None:
    """Create the lab's CAs and issue every certificate file the inventory names but that does not
    exist yet (keys 0600 beside them). Existing files are left alone."""
    written = create_missing_files(Path(inventory_path))
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"lab PKI ready ({len(written)} file(s) written)")
