"""Real servers for the ACME tests, on loopback: BIND (`named`, TSIG-signed RFC 2136 updates) and
Pebble (Let's Encrypt's RFC 8555 test server) resolving through it, so a dns-01 challenge is really
published and really validated. Both are Debian packages that .ci/run installs."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrakit_testkit import CliResult as CliResult  # re-exported: the tests import them from here
from mrakit_testkit import run_cli as run_cli

from mrakit.pki.ca import CertificateAuthority
from mrakit.pki.certview import CertView
from mrakit.pki.keys import write_private_key

NAMED = shutil.which("named") or "/usr/sbin/named"
PEBBLE = shutil.which("pebble") or "/usr/bin/pebble"
TSIG_NAME = "mrakit"
READONLY_TSIG_NAME = "readonly"  # known to the server, but not allowed to update any zone


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (held together while chosen, so they differ)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    return free_ports(1)[0]


def _start_with_retries(start: Callable[[], None], attempts: int = 3) -> None:
    """Another process may take a port between choosing it and binding it: choose again."""
    for attempt in range(attempts):
        try:
            start()
            return
        except RuntimeError as exc:
            if "in use" not in str(exc) or attempt == attempts - 1:
                raise


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{process.args[0]} did not listen on {port}: {log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@dataclass
class Bind:
    """A BIND server authoritative for `zones`, accepting updates signed with the `mrakit` key."""

    directory: Path
    zones: Sequence[str]
    port: int = 0
    secret: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode())
    readonly_secret: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode())
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        fixed = self.port

        def once() -> None:
            self.port = fixed or free_port()
            self._start()

        _start_with_retries(once)

    def _start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        zones = []
        for zone in self.zones:
            (self.directory / f"{zone}.zone").write_text(
                f"$TTL 60\n@ IN SOA ns.{zone}. hostmaster.{zone}. 1 60 60 600 60\n@ IN NS ns.{zone}.\n"
                f"ns IN A 127.0.0.1\n")
            zones.append(f'zone "{zone}" {{ type primary; file "{self.directory}/{zone}.zone"; '
                         f'allow-update {{ key "{TSIG_NAME}"; }}; }};\n')
        conf = self.directory / "named.conf"
        conf.write_text(
            f'options {{ directory "{self.directory}"; pid-file "{self.directory}/named.pid"; '
            f'session-keyfile "{self.directory}/session.key"; listen-on port {self.port} {{ 127.0.0.1; }}; '
            'listen-on-v6 { none; }; recursion no; dnssec-validation no; allow-query { any; }; };\n'
            "controls { };\n"
            f'key "{TSIG_NAME}" {{ algorithm hmac-sha256; secret "{self.secret}"; }};\n'
            f'key "{READONLY_TSIG_NAME}" {{ algorithm hmac-sha256; secret "{self.readonly_secret}"; }};\n'
            + "".join(zones))
        log = self.directory / "named.log"
        with log.open("wb") as out:
            self.process = subprocess.Popen([NAMED, "-g", "-c", str(conf), "-n", "1"], stdout=out,
                                            stderr=subprocess.STDOUT)
        _wait_for_port(self.port, self.process, log)

    def stop(self) -> None:
        _stop(self.process)


@dataclass
class Pebble:
    """Pebble on loopback with a TLS certificate from a throw-away test CA (written to `ca_bundle`).
    Every start makes a new root and intermediate, as Pebble does."""

    directory: Path
    dns_server: str
    port: int = 0
    management_port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def directory_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    @property
    def ca_bundle(self) -> Path:
        return self.directory / "pebble-tls-ca.pem"

    def _tls(self) -> tuple[Path, Path]:
        cert_path, key_path = self.directory / "pebble-tls.pem", self.directory / "pebble-tls.key"
        if not cert_path.exists():
            ca = CertificateAuthority.create_root("Pebble TLS Test Root", organization="mrakit tests")
            issued = ca.issue_leaf("localhost", ("localhost",), ip_addresses=("127.0.0.1",))
            cert_path.write_text(issued.cert.pem)
            write_private_key(key_path, issued.key)
            self.ca_bundle.write_text(ca.cert.pem)
        return cert_path, key_path

    def start(self) -> None:
        fixed = (self.port, self.management_port)

        def once() -> None:
            ports = free_ports(4)
            self.port, self.management_port = fixed[0] or ports[0], fixed[1] or ports[1]
            self._start(ports[2], ports[3])

        _start_with_retries(once)

    def _start(self, http_port: int, tls_port: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        cert, key = self._tls()
        config = self.directory / "pebble-config.json"
        config.write_text(json.dumps({"pebble": {
            "listenAddress": f"127.0.0.1:{self.port}", "managementListenAddress": f"127.0.0.1:{self.management_port}",
            "certificate": str(cert), "privateKey": str(key), "httpPort": http_port, "tlsPort": tls_port,
            "ocspResponderURL": "", "externalAccountBindingRequired": False}}))
        env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0",
               "PEBBLE_VA_ALWAYS_VALID": "0"}
        log = self.directory / "pebble.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen([PEBBLE, "-config", str(config), "-dnsserver", self.dns_server],
                                            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.directory)
        _wait_for_port(self.port, self.process, log)
        _wait_for_port(self.management_port, self.process, log)

    def stop(self) -> None:
        _stop(self.process)

    def restart(self) -> None:
        """A new Pebble on the same ports: a new root and a new intermediate (and no orders)."""
        self.stop()
        self.start()

    def _management(self, path: str) -> str:
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        url = f"https://127.0.0.1:{self.management_port}{path}"
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            return str(response.read().decode("ascii"))

    def root_pem(self) -> str:
        return self._management("/roots/0")

    def intermediate_pem(self) -> str:
        return self._management("/intermediates/0")




# --- what the lab's nodes present and what was written to them ----------------------------------

EXPE, EXPC = ("expe1.acme.com", "expe2.acme.com"), ("expc1.acme.local", "expc2.acme.local")
TRUST_ADD, CERT_INSTALL, CSR_POST = ("/api/provisioning/certs/root", "/api/provisioning/certs/server",
                                     "/api/provisioning/certs/generate_csr")


def server_chains(inventory_path: Path, nodes: Sequence[str]) -> dict[str, tuple[CertView, ...]]:
    """The server certificate (leaf first) each Expressway of `nodes` presents, read through its API."""
    from mrakit.inventory.load import load_inventory
    from mrakit.session import connect

    with connect(load_inventory(inventory_path)) as connections:
        return {fqdn: tuple(connections.expressway[fqdn].server_certificate()) for fqdn in nodes}


def requests_to(state_dir: Path, path: str, nodes: Sequence[str] = ()) -> list[dict[str, object]]:
    from mrakit.lab.state import REQUEST_LOG

    log = state_dir / REQUEST_LOG
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
    return [e for e in entries if e["path"] == path and e["method"] == "POST" and (not nodes or e["node"] in nodes)]


def phone_roots(directory: Path, state_dir: Path, *roots_pem: str) -> Path:
    """A phone root bundle: the lab's stand-in public root plus `roots_pem` (Pebble's, standing in
    for a public ACME CA's root that phones trust)."""
    bundle = directory / "phone-roots.pem"
    bundle.write_text((state_dir / "ca" / "public_root.pem").read_text() + "".join(roots_pem))
    return bundle


def doctor_problems(inventory_path: Path, roots: Path) -> list[str]:
    """Errors, ACME001 warnings and failed handshakes the doctor finds: [] when every relation works."""
    from mrakit.diagnosis import doctor
    from mrakit.findings import Severity
    from mrakit.inventory.load import load_inventory

    report = doctor(load_inventory(inventory_path), phone_roots=roots)
    problems = [f"{f.code} {f.node}: {f.message}" for f in report.findings
                if f.severity is Severity.ERROR or f.code == "ACME001"]
    problems += [f"handshake {p.client} -> {p.server}: {p.handshake.detail}" for p in report.proofs
                 if not p.handshake.ok]
    assert report.proofs, "no handshake was tried"
    return problems


def renew_report_validator() -> Any:
    """A validator for schemas/renew-report.schema.json (which refers to apply-report.schema.json)."""
    import jsonschema
    from mrakit_testkit import REPO
    from referencing import Registry, Resource

    schemas = REPO / "schemas"
    resources = [(path.name, Resource.from_contents(json.loads(path.read_text())))
                 for path in schemas.glob("*.schema.json")]
    schema = json.loads((schemas / "renew-report.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=Registry().with_resources(resources))


def challenge_records(bind: Bind, names: Sequence[str]) -> dict[str, list[str]]:
    """The _acme-challenge TXT records BIND holds for `names` (none once a renewal cleaned up)."""
    import dns.message
    import dns.query
    import dns.rdatatype

    found: dict[str, list[str]] = {}
    for name in names:
        query = dns.message.make_query(f"_acme-challenge.{name}", dns.rdatatype.TXT)
        answer = dns.query.tcp(query, "127.0.0.1", port=bind.port, timeout=5)
        texts = [b"".join(r.strings).decode() for rrset in answer.answer for r in rrset]
        if texts:
            found[name] = texts
    return found
