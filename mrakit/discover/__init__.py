"""`mrakit discover`: an existing deployment into an inventory (DIR/inventory.yaml and DIR/pki/)."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrakit.adapters import axl
from mrakit.adapters.cucm_rest import CucmRest
from mrakit.adapters.expressway_rest import ExpresswayRest
from mrakit.adapters.rest import rest_settings
from mrakit.discover.assemble import Login, assemble
from mrakit.discover.reach import CUCM_PORT, EXPRESSWAY_PORT, DiscoverError, Endpoint, Reach, split_host_port
from mrakit.discover.tree import Doc, render
from mrakit.discover.walk import Discovery, Problem, walk
from mrakit.errors import InventoryError, MrakitError
from mrakit.inventory.load import load_inventory
from mrakit.pki.certview import CertView
from mrakit.pki.load import certificates_to_pem, load_certificates, load_certificates_file

__all__ = ["DiscoverError", "DiscoverOptions", "DiscoverResult", "Login", "discover"]


@dataclass(frozen=True)
class DiscoverOptions:
    out_dir: Path
    expressways: tuple[str, ...] = ()
    cucms: tuple[str, ...] = ()
    ca_bundle: Path | None = None
    insecure_first_contact: bool = False
    expressway_login: Login | None = None
    cucm_login: Login | None = None
    resolves: tuple[str, ...] = ()
    resolve_file: Path | None = None
    workers: int = 8
    authorities: tuple[Path, ...] = ()  # CA files to complete chains no box shows (a public root, say)


@dataclass
class DiscoverResult:
    inventory_path: Path
    expressway: list[str]
    cucm: list[str]
    clusters: dict[str, str]
    problems: list[Problem]
    first_contact: list[tuple[str, str]] = field(default_factory=list)  # (node, SHA-256 of what was written)
    valid: bool = True
    invalid_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"inventory": str(self.inventory_path), "valid": self.valid, "invalid_reason": self.invalid_reason,
                "expressway": self.expressway, "cucm": self.cucm, "clusters": self.clusters,
                "first_contact": [{"node": n, "sha256": f} for n, f in self.first_contact],
                "not_read": [{"node": p.node, "problem": p.message} for p in self.problems]}


def _password(login: Login | None, environ: Mapping[str, str], option: str) -> str:
    if login is None:
        return ""
    value = environ.get(login.password_env)
    if not value:
        raise DiscoverError(f"{option}: environment variable {login.password_env} is not set")
    return value


def _presented(endpoint: Endpoint, server_name: str, timeout: float = 5.0) -> CertView:
    """The certificate a management API presents, read without verifying it (first contact only)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout) as sock, \
            context.wrap_socket(sock, server_hostname=server_name) as tls:
        der = tls.getpeercert(binary_form=True)
    if der is None:
        raise DiscoverError(f"{server_name}: presented no certificate")
    return load_certificates(ssl.DER_cert_to_PEM_cert(der).encode("ascii"), source=server_name)[0]


def discover(options: DiscoverOptions, environ: Mapping[str, str] | None = None) -> DiscoverResult:
    env = os.environ if environ is None else environ
    if not options.expressways and not options.cucms:
        raise DiscoverError("name at least one node with --expressway (or --cucm)")
    reach = Reach()
    if options.resolve_file is not None:
        reach.add_resolve_file(options.resolve_file)
    for text in options.resolves:
        reach.add_resolve(text)
    seeds: dict[str, list[str]] = {"expressway": [], "cucm": []}
    for product, texts, port in (("expressway", options.expressways, EXPRESSWAY_PORT), ("cucm", options.cucms,
                                                                                         CUCM_PORT)):
        for text in texts:
            host, port_given = split_host_port(text, port, f"--{product} {text!r}")
            if host not in reach.endpoints and port_given != port:
                reach.endpoints[host] = Endpoint(host, port_given, via="")
            seeds[product].append(host)
    bundle = options.ca_bundle or reach.ca_bundle
    if options.insecure_first_contact and options.ca_bundle is not None:
        raise DiscoverError("--ca-bundle and --insecure-first-contact exclude each other")
    if bundle is None and not options.insecure_first_contact:
        raise DiscoverError("no CA bundle for the management certificates: pass --ca-bundle FILE, or "
                            "--insecure-first-contact to read them unverified and confirm their fingerprints")
    if bundle is not None and not bundle.is_file():
        raise DiscoverError(f"--ca-bundle {bundle}: no such file")
    exp_password = _password(options.expressway_login, env, "--expressway-password-env")
    cucm_password = _password(options.cucm_login, env, "--cucm-password-env")
    if options.expressways and options.expressway_login is None:
        raise DiscoverError("--expressway-username and --expressway-password-env are required")
    verify: bool | str = False if options.insecure_first_contact else str(bundle)
    exp_user = options.expressway_login.username if options.expressway_login else ""
    cucm_user = options.cucm_login.username if options.cucm_login else ""

    def settings(name: str, port: int | None = None) -> Any:
        endpoint = reach.endpoint(name, 443)
        named = endpoint.host != name
        user, password = (cucm_user, cucm_password) if port else (exp_user, exp_password)
        return rest_settings(endpoint.url(port), user, password, verify=verify,
                             tls_server_name=name if named and verify else None)

    def open_expressway(name: str) -> ExpresswayRest:
        return ExpresswayRest(name, settings(name))

    def open_cucm(name: str) -> CucmRest:
        if options.cucm_login is None:
            raise DiscoverError("not read: pass --cucm-username and --cucm-password-env to read CUCM")
        endpoint = reach.endpoint(name, 443)
        return CucmRest(name, settings(name, endpoint.port), settings(name, endpoint.axl_port),
                        axl_version=axl.AXL_VERSION)

    found = walk(seeds["expressway"], seeds["cucm"], open_expressway, open_cucm, workers=options.workers)
    out = options.out_dir
    (out / "pki").mkdir(parents=True, exist_ok=True)
    first_contact = _write_bundle(options, found, reach, bundle, out / "pki" / "mgmt-ca.pem")
    given = tuple(c for ca_file in options.authorities for c in load_certificates_file(ca_file))
    assembled = assemble(found, reach, options.expressway_login, options.cucm_login, given)
    for relative, certs in assembled.files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(certificates_to_pem(certs), encoding="utf-8")
    doc = Doc(header=["mrakit inventory written by `mrakit discover`: each value says where it was read.",
                      "Values that could not be read are left out, as comments saying why.",
                      "Review it, then: mrakit validate -i inventory.yaml && mrakit plan -i inventory.yaml"],
              body=assembled.body)
    inventory_path = out / "inventory.yaml"
    inventory_path.write_text(render(doc), encoding="utf-8")
    result = DiscoverResult(inventory_path, sorted(found.expressway), sorted(found.cucm), assembled.clusters,
                            assembled.problems, first_contact)
    try:
        load_inventory(inventory_path)
    except InventoryError as exc:
        result.valid, result.invalid_reason = False, exc.one_line()
    return result


def _write_bundle(options: DiscoverOptions, found: Discovery, reach: Reach, bundle: Path | None,
                  target: Path) -> list[tuple[str, str]]:
    """The management CA bundle later runs verify against: the one given (copied), or on first contact
    what each node presented, with its fingerprint for the user to confirm."""
    if not options.insecure_first_contact:
        if bundle is not None and bundle.resolve() != target.resolve():
            shutil.copyfile(bundle, target)
        return []
    seen: dict[str, CertView] = {}
    for name in [*found.expressway, *found.cucm]:
        try:
            seen[name] = _presented(reach.endpoint(name, 443), name)
        except (OSError, MrakitError) as exc:
            found.problems.append(Problem(name, f"management certificate not read on first contact: {exc}"))
    unique = list(dict.fromkeys(seen.values()))
    target.write_text(certificates_to_pem(tuple(unique)), encoding="utf-8")
    for name, cert in seen.items():
        if not cert.self_signed:
            found.problems.append(Problem(name, f"its management certificate is issued by {cert.issuer!r}: the "
                                                "bundle written holds only the leaf; pass that CA with --ca-bundle"))
    return [(name, cert.fingerprint_sha256) for name, cert in seen.items()]
