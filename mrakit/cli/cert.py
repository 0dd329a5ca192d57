"""`mrakit cert show` and `mrakit cert verify`: offline certificate inspection."""

from __future__ import annotations

import datetime as dt
import sys

import click

from mrakit.cli.common import EXIT_ATTENTION, EXIT_OK, echo_json, format_option, output_options
from mrakit.findings import has_errors
from mrakit.inventory.eku import needed_server_ekus
from mrakit.inventory.versions import ExpresswayVersion
from mrakit.pki.certview import CLIENT_AUTH
from mrakit.pki.chain import Purpose, Semantics, verify_chain
from mrakit.pki.load import load_certificates_file
from mrakit.render.certs import render_certificate, render_chain_result
from mrakit.rules.certificate import DEFAULT_WINDOW_DAYS, single_certificate_findings


@click.group("cert")
def cert_group() -> None:
    """Inspect certificates and verify chains offline."""


@cert_group.command("show")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@format_option
@click.option("--window-days", type=click.IntRange(min=0), default=DEFAULT_WINDOW_DAYS, show_default=True,
              help="Warn about certificates that expire within this many days (MRA007).")
@click.option("--version", "version_text", metavar="VERSION",
              help="Judge the EKUs (MRA001) for this Expressway version, e.g. X15.5.1 (default: as before X15.4, "
              "both serverAuth and clientAuth).")
@click.option("--role", type=click.Choice(["edge", "control"]), default="edge", show_default=True,
              help="With --version: the Expressway's role.")
@click.option("--kind", "cert_kind", type=click.Choice(["server", "client"]), default="server", show_default=True,
              help="With --version: a server certificate, or the X15.5+ separate client certificate.")
@click.option("--server-eku-upload", is_flag=True, help="With --version X15.4 on an edge: EnableServerEkuUpload is on.")
@output_options
def show(files: tuple[str, ...], output_format: str, window_days: int, version_text: str | None, role: str,
         cert_kind: str, server_eku_upload: bool) -> None:
    """Show every certificate in FILES (PEM, DER, PKCS#7) with the single-certificate findings
    (MRA001, MRA004, MRA006, MRA007, MRA009). Exit 2 when any finding is an error."""
    needed = _needed_ekus(version_text, role, cert_kind, server_eku_upload) if version_text else None
    now = dt.datetime.now(dt.UTC)
    records = []
    all_findings = []
    blocks = []
    for path in files:
        certs = load_certificates_file(path)
        for index, cert in enumerate(certs, start=1):
            findings = single_certificate_findings(cert, now, window_days, needed)
            all_findings += findings
            record = {"file": path, **cert.to_dict(), "findings": [
                {"code": f.code, "severity": f.severity.value, "message": f.message} for f in findings]}
            records.append(record)
            title = f"{path} [{index}/{len(certs)}]" if len(certs) > 1 else path
            blocks.append(render_certificate(cert, findings, now, title))
    if output_format == "json":
        echo_json(records)
    else:
        click.echo("\n\n".join(blocks))
    sys.exit(EXIT_ATTENTION if has_errors(all_findings) else EXIT_OK)


def _needed_ekus(version_text: str, role: str, kind: str, server_eku_upload: bool) -> tuple[tuple[str, ...], str]:
    try:
        version = ExpresswayVersion.parse(version_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--version") from None
    if kind == "client":
        if not version.at_least("X15.5"):
            raise click.BadParameter(f"{version} has no separate client certificate (X15.5 and later)",
                                     param_hint="--kind")
        return (CLIENT_AUTH,), f"the client certificate of {version} needs"
    needed = needed_server_ekus(version, role, server_eku_upload=server_eku_upload,
                                has_client_certificate=version.at_least("X15.5"))
    return needed, f"the server certificate of an {version} {role} needs"


@cert_group.command("verify")
@click.argument("leaf", type=click.Path(dir_okay=False))
@click.option("--trust", "trust_files", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="Trusted CA list, in order (repeatable; files are read in the order given).")
@click.option("--untrusted", "untrusted_files", multiple=True, type=click.Path(dir_okay=False),
              help="Intermediates the peer presents, not trusted by themselves (repeatable).")
@click.option("--purpose", type=click.Choice([p.value for p in Purpose]), default="both", show_default=True)
@click.option("--semantics", type=click.Choice([s.value for s in Semantics]), default="expressway",
              show_default=True, help="expressway: first same-subject trust entry wins (MRA022); "
              "openssl: standard path building.")
@format_option
@output_options
def verify(leaf: str, trust_files: tuple[str, ...], untrusted_files: tuple[str, ...], purpose: str,
           semantics: str, output_format: str) -> None:
    """Verify the first certificate in LEAF against an ordered trust list. Other certificates in
    LEAF count as presented intermediates. Exit 2 when the chain is invalid."""
    presented = load_certificates_file(leaf)
    trust = [c for f in trust_files for c in load_certificates_file(f)]
    untrusted = [*presented[1:], *(c for f in untrusted_files for c in load_certificates_file(f))]
    result = verify_chain(presented[0], trust, untrusted, purpose=purpose, semantics=semantics)
    if output_format == "json":
        echo_json({k: v for k, v in result.to_dict().items() if k in ("valid", "path", "reason", "detail", "rule")})
    else:
        click.echo(render_chain_result(result))
    sys.exit(EXIT_OK if result.valid else EXIT_ATTENTION)
