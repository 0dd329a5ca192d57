"""`mrakit csr` and `mrakit sign`: the renewal loop; `mrakit renew`: the same loop through an ACME CA."""

from __future__ import annotations

import sys

import click

from mrakit.cli.common import EXIT_FAILED, EXIT_OK, echo_json, output_options
from mrakit.inventory.load import load_inventory
from mrakit.renew import CUCM_SERVICES, request_csrs, sign_csrs


@click.command("csr")
@click.option("-i", "--inventory", "inventory_path", required=True, type=click.Path(dir_okay=False))
@click.option("--cluster", "clusters", multiple=True, help="Only these clusters (repeatable).")
@click.option("--peer", "peers", multiple=True, help="Only these peers, by FQDN (repeatable).")
@click.option("--cucm", "cucm_services", multiple=True, type=click.Choice(list(CUCM_SERVICES)),
              help="Also a CSR for this CUCM certificate on each selected CUCM publisher (repeatable).")
@click.option("--client", is_flag=True, help="X15.5+ control clusters: the separate client certificate.")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the CSRs and manifest.json.")
@click.option("--on-box/--local-key", "on_box", default=True, show_default=True,
              help="Generate the key on the node (it never leaves it) or here (written 0600).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text")
@output_options
def csr_command(inventory_path: str, clusters: tuple[str, ...], peers: tuple[str, ...],
                cucm_services: tuple[str, ...], client: bool, out_dir: str, on_box: bool, output_format: str) -> None:
    """Build one CSR per selected peer with every SAN mrakit requires (MRA010–MRA015); refuses
    past the 999-character SAN limit (MRA006). Writes <fqdn>.csr and a manifest of the requests."""
    inventory = load_inventory(inventory_path)
    if clusters:
        unknown = [c for c in clusters if c not in inventory.expressway and c not in inventory.cucm]
        if unknown:
            raise click.UsageError(f"no cluster named {', '.join(unknown)}")
    requests = request_csrs(inventory, out_dir, clusters=clusters or None, peers=peers or None,
                            cucm_services=cucm_services, client=client, local_key=not on_box)
    if output_format == "json":
        echo_json({"requests": [r.to_dict() for r in requests]})
        return
    for request in requests:
        click.echo(f"{request.csr_file}: {request.kind} CSR for {request.node} ({request.method}), CN "
                   f"{request.common_name}, {len(request.sans)} SAN(s): {', '.join(request.sans)}")
    click.echo(f"{len(requests)} CSR(s) written; manifest in {out_dir}/manifest.json. Have them signed, then: "
               f"mrakit apply -i {inventory_path} --certificates DIR")


@click.command("sign")
@click.option("-i", "--inventory", "inventory_path", required=True, type=click.Path(dir_okay=False))
@click.option("--csr-dir", required=True, type=click.Path(file_okay=False, exists=True),
              help="The folder `mrakit csr` wrote.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), help="Where to write (default: --csr-dir).")
@click.option("--ca-cert", type=click.Path(dir_okay=False, exists=True), help="A private TEST CA's certificate.")
@click.option("--ca-key", type=click.Path(dir_okay=False, exists=True), help="Its private key.")
@click.option("--ca-key-passphrase-env", help="Environment variable holding the CA key's passphrase.")
@click.option("--days", type=click.IntRange(1, 825), default=90, show_default=True)
@output_options
def sign_command(inventory_path: str, csr_dir: str, out_dir: str | None, ca_cert: str | None, ca_key: str | None,
                 ca_key_passphrase_env: str | None, days: int) -> None:
    """Sign the CSRs of a `mrakit csr` folder — for the lab and private test CAs ONLY. Without
    --ca-key it uses the lab's CAs and refuses any inventory whose connection is not `lab`."""
    inventory = load_inventory(inventory_path)
    written = sign_csrs(inventory, csr_dir, out_dir, ca_cert=ca_cert, ca_key=ca_key,
                        ca_key_passphrase_env=ca_key_passphrase_env, days=days)
    for path in written:
        click.echo(f"signed {path}")


@click.command("renew")
@output_options
@click.option("-i", "--inventory", "inventory_path", required=True, type=click.Path(dir_okay=False))
@click.option("--cluster", "clusters", multiple=True, help="Only these clusters (repeatable).")
@click.option("--peer", "peers", multiple=True, help="Only these nodes, by FQDN (repeatable).")
@click.option("--due-within", type=click.IntRange(0, 3650), default=None,
              help="Renew what expires within this many days (default: defaults.renewal_window_days).")
@click.option("--dry-run", is_flag=True, help="Only show what is due; no CSR, no order, no change.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def renew_command(inventory_path: str, clusters: tuple[str, ...], peers: tuple[str, ...], due_within: int | None,
                  dry_run: bool, output_format: str) -> None:
    """Renew every due certificate of the clusters with an `acme` section: CSR on the box, ACME
    order (dns-01 by TSIG-signed RFC 2136 update), then trust first, rolling install and verify as
    `apply --certificates` does. A failure leaves the old certificate in place; run it again to
    resume. Exit 0 when everything due was renewed (or nothing was due), 1 otherwise."""
    # Here, not at the top: the ACME client (acme, josepy) takes a while to load and only renew needs it.
    from mrakit.acmerenew.flow import renew

    inventory = load_inventory(inventory_path)
    unknown = [c for c in clusters if c not in inventory.expressway and c not in inventory.cucm]
    if unknown:
        raise click.UsageError(f"no cluster named {', '.join(unknown)}")
    report = renew(inventory, clusters=clusters or None, peers=peers or None, due_within=due_within,
                   dry_run=dry_run)
    if output_format == "json":
        echo_json(report.to_dict())
    else:
        if not report.due:
            click.echo("renew: nothing is due")
        for target in report.due:
            click.echo(f"due: {target.label} [{target.cluster}]: {target.why}")
        if report.plan is not None:
            click.echo(report.plan.summary())
        if report.apply is not None:
            click.echo(report.apply.summary())
        for outcome in report.outcomes:
            if outcome.status == "would-renew":
                click.echo(f"would renew {outcome.target.label} ({', '.join(outcome.target.sans)})")
            elif outcome.status == "installed":
                click.echo(outcome.message)
        for outcome in report.outcomes:
            if outcome.status == "failed":
                click.echo(f"mrakit: renew: {outcome.message}; the old certificate stays in place; run "
                           "`mrakit renew` again to resume", err=True)
        if report.apply is not None and report.apply.failed:
            click.echo(f"mrakit: renew: {report.apply.summary()} (see `mrakit doctor`)", err=True)
    sys.exit(EXIT_FAILED if report.failed else EXIT_OK)
