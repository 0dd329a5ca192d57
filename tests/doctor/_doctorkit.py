"""Plain helpers shared by the doctor and probe tests (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from mrakit_testkit import PASSWORDS as _SHARED_PASSWORDS
from mrakit_testkit import deep_merge

from mrakit.desired import desired_state
from mrakit.diagnosis import Report, doctor
from mrakit.findings import Finding
from mrakit.inventory.load import load_inventory
from mrakit.inventory.model import Inventory
from mrakit.lab.pki import LabAuthorities, lab_authorities
from mrakit.lab.seed import init_lab
from mrakit.lab.state import REQUEST_LOG, LabState
from mrakit.pki.ca import BOTH_EKUS, CertificateAuthority, Issued
from mrakit.pki.certview import CertView
from mrakit.pki.keys import private_key_pem, write_private_key
from mrakit.pki.load import load_certificates

REPO = Path(__file__).resolve().parents[2]
MRAKIT = REPO / ".venv" / "bin" / "mrakit"
EXAMPLE = REPO / "inventory.example.yaml"
RULE_BOOK = REPO / "docs" / "rules.md"

EXPE1, EXPE2, EXPC1, EXPC2 = "expe1.acme.com", "expe2.acme.com", "expc1.acme.local", "expc2.acme.local"
PUB, SUB = "cucm-pub.acme.local", "cucm-sub1.acme.local"
EDGE, CONTROL = (EXPE1, EXPE2), (EXPC1, EXPC2)
EXPRESSWAYS = (*EDGE, *CONTROL)
ALL_NODES = (*EXPRESSWAYS, PUB, SUB)
PUBLIC_TLS_CA = "MRA Lab Public TLS CA"
PUBLIC_ORG = "MRA Lab Public Trust"




PASSWORDS: dict[str, str] = dict(_SHARED_PASSWORDS)


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(PASSWORDS)
    env.pop("REQUESTS_CA_BUNDLE", None)
    env.pop("MRAKIT_DEBUG", None)
    env.update(extra)
    return env


# --- deployments -----------------------------------------------------------------------------------

@dataclass
class Deployment:
    """A copy of an initialised lab deployment: inventory.yaml, its pki/ files and .mrakit-lab/."""

    path: Path

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def state_dir(self) -> Path:
        return self.directory / ".mrakit-lab"

    def inventory(self) -> Inventory:
        return load_inventory(self.path)

    def data(self) -> dict[str, Any]:
        return yaml.safe_load(self.path.read_text())

    def edit(self, change: Callable[[dict[str, Any]], None]) -> None:
        """Change the inventory file (not the lab): `change` edits the parsed YAML in place."""
        data = self.data()
        change(data)
        self.path.write_text(yaml.safe_dump(data, sort_keys=False))

    def merge(self, overrides: dict[str, Any]) -> None:
        merged = deep_merge(self.data(), overrides)
        self.path.write_text(yaml.safe_dump(merged, sort_keys=False))

    def state(self) -> LabState:
        return LabState.load(self.state_dir)

    @contextlib.contextmanager
    def lab_state(self) -> Iterator[LabState]:
        """Load the lab state, let the caller change it, save it (the lab must not be running)."""
        state = LabState.load(self.state_dir)
        yield state
        state.save()

    def cas(self) -> LabAuthorities:
        return lab_authorities(self.state_dir)

    def request_log(self) -> list[dict[str, Any]]:
        path = self.state_dir / REQUEST_LOG
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def pki(self, name: str) -> Path:
        return self.directory / "pki" / name


class TemplateCache:
    """One `lab init` per (scenario, overrides); every test gets its own copy of it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: dict[str, Path] = {}

    def get(self, scenario: str, overrides: dict[str, Any] | None, applied: bool = False) -> Path:
        key = f"{scenario}|{applied}|{json.dumps(overrides or {}, sort_keys=True)}"
        if key not in self.made:
            directory = self.root / f"t{len(self.made)}-{scenario}{'-applied' if applied else ''}"
            directory.mkdir(parents=True)
            data = deep_merge(yaml.safe_load(EXAMPLE.read_text()), overrides or {})
            path = directory / "inventory.yaml"
            path.write_text(yaml.safe_dump(data, sort_keys=False))
            init_lab(path, scenario)
            if applied:
                apply_all(Deployment(path))
                (directory / ".mrakit-lab" / REQUEST_LOG).unlink(missing_ok=True)
            self.made[key] = directory
        return self.made[key]

    def copy(self, scenario: str, overrides: dict[str, Any] | None, dest: Path, applied: bool = False) -> Deployment:
        shutil.copytree(self.get(scenario, overrides, applied), dest)
        return Deployment(dest / "inventory.yaml")


def apply_all(d: Deployment) -> Any:
    """`mrakit plan` + `mrakit apply` through the library; returns the ApplyResult."""
    from mrakit.applier import apply
    from mrakit.planner import plan

    inventory = d.inventory()
    result = apply(plan(inventory, environ=PASSWORDS), inventory, environ=PASSWORDS)
    assert not any(r.status in ("failed", "skipped") for r in result.results), result.summary()
    return result


# --- doctor ----------------------------------------------------------------------------------------

def warm_listeners(lab: Any) -> None:
    """One handshake with every TLS listener of a running lab, one at a time, before doctor's
    parallel handshakes: each listener builds its SSLContext on its first connection, and two
    first connections at once can break each other (see test_lab_listener_context_is_thread_safe).
    The client's handshake completes only after the listener has built and cached its context."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    for endpoint in lab.endpoints.values():
        for port in endpoint.tls.values():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                        context.wrap_socket(raw, server_hostname="warm.up"):
                    pass
            except (OSError, ssl.SSLError):
                pass


def run_doctor(d: Deployment, **kwargs: Any) -> Report:
    """doctor() on the deployment with the lab passwords; online, on a lab whose listeners are warm."""
    inventory = d.inventory()
    if kwargs.get("offline") or "connections" in kwargs:
        return doctor(inventory, environ=PASSWORDS, **kwargs)
    from mrakit.session import connect

    with connect(inventory, environ=PASSWORDS) as connections:
        assert connections.lab is not None
        warm_listeners(connections.lab)
        return doctor(inventory, connections=connections, **kwargs)


def findings(report: Report, code: str | None = None, *, severity: str | None = None,
             node: str | None = None) -> list[Finding]:
    return [f for f in report.findings if (code is None or f.code == code)
            and (severity is None or f.severity.value == severity) and (node is None or f.node == node)]


def nodes_of(report: Report, code: str, severity: str | None = None) -> list[str | None]:
    """The node of every finding with `code` (and `severity`), sorted, duplicates kept."""
    return sorted((f.node for f in findings(report, code, severity=severity)), key=lambda n: n or "")


def code_nodes(report: Report, severity: str | None = None) -> set[tuple[str, str | None]]:
    return {(f.code, f.node) for f in report.findings if severity is None or f.severity.value == severity}


def errors(report: Report) -> list[Finding]:
    return findings(report, severity="error")


# --- certificates ----------------------------------------------------------------------------------

def required_names(d: Deployment, fqdn: str) -> tuple[str, list[str]]:
    """(CN, SANs) the desired state asks of an Expressway peer's server certificate."""
    node = desired_state(d.inventory()).node(fqdn)
    assert node.common_name is not None
    return node.common_name, [s.name for s in node.required_sans]


def issue_for(d: Deployment, fqdn: str, ca: CertificateAuthority, *, ekus: Sequence[str] = BOTH_EKUS,
              days: int = 180, not_before: dt.datetime | None = None, common_name: str | bool | None = True,
              extra_sans: Sequence[str] = (), sans: Sequence[str] | None = None, key: Any = None) -> Issued:
    """A server certificate for an Expressway peer with the names the desired state asks for.
    `common_name=True`: the required CN; None: no CN at all (MRA009); a string: that CN."""
    cn, required = required_names(d, fqdn)
    chosen_cn = cn if common_name is True else (None if common_name in (None, False) else str(common_name))
    names = list(required if sans is None else sans) + list(extra_sans)
    return ca.issue_leaf(chosen_cn, names, ekus=ekus, days=days, not_before=not_before, key=key)


def short(fqdn: str) -> str:
    return fqdn.split(".", 1)[0]


def install_server(d: Deployment, fqdn: str, issued: Issued, chain: Iterable[CertificateAuthority | CertView] = (),
                   *, in_file: bool = True, in_lab: bool = True) -> None:
    """Make `issued` the peer's server certificate: in the inventory's file (pki/<short>.pem and
    .key, for offline doctor) and in the lab state (what the node presents, for online doctor)."""
    cas = [c.cert if isinstance(c, CertificateAuthority) else c for c in chain]
    pems = [issued.cert.pem, *(c.pem for c in cas)]
    if in_file:
        path = d.pki(f"{short(fqdn)}.pem")
        path.write_text("".join(pems))
        write_private_key(path.with_suffix(".key"), issued.key)
    if in_lab:
        with d.lab_state() as state:
            node = state.expressway[fqdn]
            node.server_chain = pems
            node.server_key = private_key_pem(issued.key).decode("ascii")


def parse(pems: Iterable[str]) -> list[CertView]:
    return [c for pem in pems for c in load_certificates(pem.encode("ascii"))]


def write_pem(path: Path, certs: Iterable[CertView | CertificateAuthority]) -> Path:
    path.write_text("".join((c.cert if isinstance(c, CertificateAuthority) else c).pem for c in certs))
    return path


# --- processes -------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[Any] | None = None, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop(proc: subprocess.Popen[Any], timeout: float = 5.0) -> tuple[str, str]:
    """Terminate (then kill) a process this test started; return what it wrote."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    out, err = proc.communicate(timeout=timeout)
    return out or "", err or ""


@dataclass
class SServer:
    port: int
    proc: subprocess.Popen[str]
    out: str = ""
    err: str = ""


@contextlib.contextmanager
def s_server(*args: str, timeout: float = 10.0) -> Iterator[SServer]:
    """`openssl s_server -accept 127.0.0.1:PORT ARGS` on a free port, listening before it yields,
    stopped after (its output is then in .out / .err). Use -www so that it serves every connection."""
    port = free_port()
    proc = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    server = SServer(port, proc)
    try:
        wait_listening(port, proc, timeout)
        yield server
    finally:
        server.out, server.err = stop(proc)


@contextlib.contextmanager
def lab_serve(inventory: Path, timeout: float = 30.0) -> Iterator[dict[str, Any]]:
    """`mrakit lab serve -i INVENTORY` in a subprocess; yields the first line it prints (every node's
    API URL and TLS listener ports), stops it after."""
    import select

    proc = subprocess.Popen([str(MRAKIT), "lab", "serve", "-i", str(inventory)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        if not ready:
            raise AssertionError(f"`mrakit lab serve` printed nothing in {timeout} s")
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"`mrakit lab serve` exited: {stop(proc)[1]}")
        yield json.loads(line)
    finally:
        stop(proc)


def run_cli(args: Sequence[str], *, cwd: Path | None = None, timeout: float = 60.0,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MRAKIT), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=env or cli_env())


def doctor_schema_validator() -> Any:
    """A validator for schemas/doctor.schema.json (which refers to plan.schema.json for findings)."""
    import jsonschema
    from referencing import Registry, Resource

    resources = []
    for path in (REPO / "schemas").glob("*.schema.json"):
        schema = json.loads(path.read_text())
        resources += [(path.name, Resource.from_contents(schema)), (schema["$id"], Resource.from_contents(schema))]
    schema = json.loads((REPO / "schemas" / "doctor.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema, registry=Registry().with_resources(resources))


def rule_book_codes() -> list[str]:
    """Every MRA0xx code the rule book (docs/rules.md) lists in its table (| MRA0xx | ...)."""
    text = RULE_BOOK.read_text(encoding="utf-8")
    return sorted(set(re.findall(r"^\|\s*(MRA0\d\d)\s*\|", text, flags=re.MULTILINE)))
