"""`mrakit discover`: walk an existing deployment and write its inventory (or refresh one's certificates)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mrakit.cli.common import EXIT_ATTENTION, EXIT_OK, echo_json, format_option, output_options, quiet
from mrakit.discover import DiscoverOptions, DiscoverResult, Login, discover
from mrakit.discover.reach import DiscoverError
from mrakit.discover.refresh import RefreshResult, refresh


def _login(username: str | None, password_env: str | None, product: str) -> Login | None:
    if not username and not password_env:
        return None
    if not username or not password_env:
        raise DiscoverError(f"--{product}-username and --{product}-password-env go together")
    return Login(username, password_env)


def render_discovery(result: DiscoverResult) -> str:
    lines = []
    for node, fingerprint in result.first_contact:
        lines.append(f"first contact: {node} presented SHA-256 {fingerprint}: confirm it before trusting "
                     "the bundle written")
    lines.append(f"Read {len(result.expressway)} Expressway node(s), {len(result.cucm)} CUCM node(s) into "
                 f"{len(result.clusters)} cluster(s): {', '.join(result.clusters) or 'none'}")
    for problem in result.problems:
        lines.append(f"not read: {problem.line()}")
    if not result.valid:
        lines.append(f"the inventory written does not validate yet: {result.invalid_reason}")
    lines.append(f"Wrote {result.inventory_path} and {result.inventory_path.parent / 'pki'}/"
                 + (f"; {len(result.problems)} thing(s) not read (left out, with a comment)" if result.problems
                    else ""))
    return "\n".join(lines)


def render_refresh(result: RefreshResult) -> str:
    lines = [f"updated {path}: {why}" for path, why in result.updated]
    lines += [f"not updated: {line}" for line in result.problems]
    lines.append(f"Refresh: {len(result.updated)} certificate file(s) updated, {result.unchanged} unchanged"
                 + (f", {len(result.problems)} problem(s)" if result.problems else ""))
    return "\n".join(lines)


@click.command("discover")
@output_options
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write DIR/inventory.yaml and DIR/pki/ here.")
@click.option("--expressway", "expressways", multiple=True, metavar="HOST[:PORT]",
              help="An Expressway to start from (repeatable); its peers, edge and CUCM servers are followed.")
@click.option("--cucm", "cucms", multiple=True, metavar="HOST[:PORT]", help="A CUCM publisher to start from.")
@click.option("--ca-bundle", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="PEM CAs of the management certificates (written as DIR/pki/mgmt-ca.pem).")
@click.option("--insecure-first-contact", is_flag=True,
              help="Read the management certificates unverified, print their fingerprints, write them as the bundle.")
@click.option("--expressway-username")
@click.option("--expressway-password-env", metavar="VAR", help="The variable holding the Expressway password.")
@click.option("--cucm-username", help="The CUCM platform (OS) administrator (also used for AXL).")
@click.option("--cucm-password-env", metavar="VAR", help="The variable holding the CUCM password.")
@click.option("--resolve", "resolves", multiple=True, metavar="NAME=ADDR:PORT",
              help="Reach NAME's management API at ADDR:PORT (as curl's --resolve; repeatable).")
@click.option("--resolve-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The JSON `mrakit lab serve` prints: every node's endpoints and the CA bundle.")
@click.option("--authority", "authorities", multiple=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="PEM CA certificates that complete chains no box shows (a public root, say; repeatable).")
@click.option("--refresh", "refresh_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              metavar="INV", help="Re-read the certificates of INV's nodes and update the files it names.")
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True)
@format_option
def discover_command(out_dir: Path | None, expressways: tuple[str, ...], cucms: tuple[str, ...],
                     ca_bundle: Path | None, insecure_first_contact: bool, expressway_username: str | None,
                     expressway_password_env: str | None, cucm_username: str | None, cucm_password_env: str | None,
                     resolves: tuple[str, ...], resolve_file: Path | None, authorities: tuple[Path, ...],
                     refresh_path: Path | None, workers: int,
                     output_format: str) -> None:
    """Walk an existing deployment from one Expressway (and optionally a CUCM publisher) and write
    DIR/inventory.yaml and DIR/pki/. Read-only on every node. Exit 0 when everything named was read,
    2 when something was left out (listed), 1 when discovery could not run."""
    if refresh_path is not None:
        refreshed = refresh(refresh_path)
        if output_format == "json":
            echo_json(refreshed.to_dict())
        else:
            click.echo(render_refresh(refreshed))
        sys.exit(EXIT_ATTENTION if refreshed.problems else EXIT_OK)
    if out_dir is None:
        raise DiscoverError("-o DIR is required (or --refresh INV)")
    options = DiscoverOptions(
        out_dir=out_dir, expressways=expressways, cucms=cucms, ca_bundle=ca_bundle,
        insecure_first_contact=insecure_first_contact,
        expressway_login=_login(expressway_username, expressway_password_env, "expressway"),
        cucm_login=_login(cucm_username, cucm_password_env, "cucm"), resolves=resolves,
        resolve_file=resolve_file, workers=workers, authorities=authorities)
    result = discover(options)
    if output_format == "json":
        echo_json(result.to_dict())
    else:
        text = render_discovery(result)
        click.echo("\n".join(line for line in text.splitlines()
                             if not quiet() or line.startswith(("not read", "first contact", "Wrote", "the inv"))))
    sys.exit(EXIT_ATTENTION if result.problems or not result.valid else EXIT_OK)
