"""`mrakit doctor` and `mrakit probe`."""

from __future__ import annotations

import datetime as dt
import sys

import click

from mrakit.cli.common import EXIT_ATTENTION, EXIT_OK, colour, echo_json, fail, output_options, quiet
from mrakit.cli.report import render_report
from mrakit.diagnosis import doctor
from mrakit.findings import Severity
from mrakit.handshake import probe
from mrakit.inventory.load import load_inventory
from mrakit.observe import observe
from mrakit.pki.chain import verify_chain
from mrakit.pki.keys import private_key_pem
from mrakit.pki.load import load_certificate_file, load_private_key_file
from mrakit.render.certs import render_certificate, render_chain_result
from mrakit.rules.registry import RULES
from mrakit.session import connect


@click.command("doctor")
@click.option("-i", "--inventory", "inventory_path", type=click.Path(dir_okay=False),
              help="The inventory YAML file (not needed with --rules).")
@click.option("--offline", is_flag=True, help="Only the inventory and its files: no node is contacted.")
@click.option("--node", help="Only findings about this node (FQDN).")
@click.option("--format", "output_format", type=click.Choice(["text", "json", "html", "openmetrics"]), default="text",
              show_default=True, help="html: the same page as `mrakit report`; openmetrics: metrics for Prometheus.")
@click.option("--phone-roots", type=click.Path(dir_okay=False, exists=True),
              help="The phones' public root bundle (default: Mozilla's, from certifi).")
@click.option("--rules", "list_rules", is_flag=True, help="List every rule, whether it is checked, and how.")
@output_options
def doctor_command(inventory_path: str | None, offline: bool, node: str | None, output_format: str,
                   phone_roots: str | None, list_rules: bool) -> None:
    """Check the deployment against every rule of the rule book and prove trust with real
    handshakes. Exit 0 when no finding is an error, 2 when one is, 1 when it could not run."""
    if list_rules:
        if output_format == "json":
            echo_json({"rules": [r.to_dict() for r in RULES]})
        else:
            for rule in RULES:
                mark = "checked    " if rule.checked else "not checked"
                click.echo(f"{rule.code}  {mark}  {rule.title}\n{'':21}{rule.how}")
        sys.exit(EXIT_OK)
    if not inventory_path:
        fail("doctor needs -i INVENTORY (or --rules)")
    inventory = load_inventory(inventory_path)
    known = {p.fqdn for c in inventory.expressway.values() for p in c.peers} | {
        n.fqdn for c in inventory.cucm.values() for n in c.nodes}
    if node and node.lower() not in known:
        fail(f"no node {node!r} in {inventory_path}")
    report = doctor(inventory, offline=offline, node=node.lower() if node else None, phone_roots=phone_roots)
    if output_format == "json":
        echo_json(report.to_dict())
    elif output_format in ("html", "openmetrics"):
        click.echo(render_report(report, inventory, output_format), nl=False)
    else:
        click.echo(_render(report, colour=colour(), summary_only=quiet()))
    sys.exit(EXIT_ATTENTION if report.has_errors else EXIT_OK)


_SEVERITY_COLOUR = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def _render(report, *, colour: bool = False, summary_only: bool = False) -> str:  # type: ignore[no-untyped-def]
    def style(text: str, fg: str, bold: bool = False) -> str:
        return click.style(text, fg=fg, bold=bold) if colour else text

    lines: list[str] = []
    for severity in Severity:
        items = [f for f in report.findings if f.severity is severity]
        if not items or summary_only:
            continue
        lines.append(style(f"{severity.value.upper()} ({len(items)})", _SEVERITY_COLOUR[severity], bold=True))
        by_node: dict[str, list] = {}  # type: ignore[type-arg]
        for finding in items:
            by_node.setdefault(finding.node or finding.cluster or "inventory", []).append(finding)
        for where, findings in by_node.items():
            lines.append(f"  {where}")
            for finding in findings:
                lines.append(f"    {style(finding.code, _SEVERITY_COLOUR[severity])}  {finding.message}")
                if finding.fix:
                    lines.append(f"            fix: {finding.fix}")
        lines.append("")
    if report.proofs and not summary_only:
        lines.append(style(f"HANDSHAKES ({len(report.proofs)})", "cyan", bold=True))
        for proof in report.proofs:
            verdict = style("ok  ", "green") if proof.handshake.ok else style("FAIL", "red", bold=True)
            chain = "chain ok" if proof.chain_valid else "chain invalid"
            flag = "" if proof.agrees else "  <- disagrees with the chain verdict"
            lines.append(f"  {verdict} {proof.connection}: {proof.client} → {proof.server} [{chain}]{flag}")
            if not proof.handshake.ok:
                lines.append(f"       {proof.handshake.detail}")
        lines.append("")
    summary = report.summary()
    lines.append(f"doctor ({summary['mode']}): {summary['error']} error(s), {summary['warning']} warning(s), "
                 f"{summary['info']} info on {summary['nodes']} node(s); {summary['handshakes']} handshake(s), "
                 f"{summary['disagreements']} disagreement(s)")
    return "\n".join(lines)


@click.command("probe")
@click.argument("target")
@click.option("--servername", help="SNI name to send (default: the host).")
@click.option("--trust-of", "trust_of", help="Judge the chain with this node's observed trust list.")
@click.option("-i", "--inventory", "inventory_path", type=click.Path(dir_okay=False),
              help="The inventory (needed with --trust-of).")
@click.option("--client-cert", type=click.Path(dir_okay=False, exists=True), help="Present this certificate.")
@click.option("--client-key", type=click.Path(dir_okay=False, exists=True), help="Its private key.")
@click.option("--purpose", type=click.Choice(["server", "client", "both"]), default="server", show_default=True)
@output_options
def probe_command(target: str, servername: str | None, trust_of: str | None, inventory_path: str | None,
                  client_cert: str | None, client_key: str | None, purpose: str) -> None:
    """Connect to HOST:PORT, show the chain the peer presents, and with --trust-of say whether that
    node's trust list validates it (Expressway semantics). Exit 2 when it does not."""
    host, _, port_text = target.rpartition(":")
    if not host or not port_text.isdigit():
        fail(f"{target!r} is not HOST:PORT")
    if bool(client_cert) != bool(client_key):
        fail("--client-cert and --client-key go together")
    certificate = load_certificate_file(client_cert) if client_cert else None
    key_pem = None
    if client_key:
        key_pem = private_key_pem(load_private_key_file(client_key)).decode("ascii")
    result = probe(host.strip("[]"), int(port_text), server_name=servername, client_certificate=certificate,
                   client_key_pem=key_pem)
    now = dt.datetime.now(dt.UTC)
    click.echo(f"{target}: {result.detail}; {len(result.presented)} certificate(s) presented")
    for index, cert in enumerate(result.presented):
        click.echo(render_certificate(cert, (), now, f"[{index}]"))
    if not trust_of:
        sys.exit(EXIT_OK)
    if not inventory_path:
        fail("--trust-of needs -i INVENTORY")
    if not result.presented:
        fail(f"{target} presented no certificate")
    inventory = load_inventory(inventory_path)
    with connect(inventory) as connections:
        observed = observe(inventory, connections.expressway, connections.cucm, only=[trust_of.lower()])
    obs = observed.nodes.get(trust_of.lower())
    if obs is None:
        fail(f"no node {trust_of!r} in {inventory_path}")
    if not obs.ok:
        fail(f"could not read {trust_of}: {obs.error}")
    store = "trusted_ca" if obs.product == "expressway" else "CallManager-trust"
    verdict = verify_chain(result.presented[0], obs.trust.get(store, ()), result.presented[1:], purpose=purpose,
                           semantics="expressway")
    click.echo(f"\nwith the trust list of {trust_of} ({store}):")
    click.echo(render_chain_result(verdict))
    sys.exit(EXIT_OK if verdict.valid else EXIT_ATTENTION)
