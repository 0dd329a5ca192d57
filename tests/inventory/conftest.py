"""Fixtures for the inventory and desired-state tests (mrakit.inventory, mrakit.desired, `mrakit validate`,
`mrakit desired`).

Scenario inventories live as YAML files in `scenarios/`. A test asks the `inventory` fixture for one (or
gives inline YAML), the fixture copies it into `tmp_path`, and the test then writes every certificate the
YAML references, issued at test time by `CertificateAuthority` objects that the test also uses to compute
the expected trust lists. `Workspace.load()` refuses to load until every certificate file the YAML names
has been written, so a scenario and its test cannot drift apart silently.

Helpers are exposed as fixtures (not importable functions) so this directory needs no __init__.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from mrakit.desired import DesiredState, NodeDesired, desired_state
from mrakit.inventory.load import load_inventory
from mrakit.inventory.model import Inventory
from mrakit.pki import BOTH_EKUS, CertificateAuthority, CertView, Issued, PrivateKey, write_private_key
from mrakit.rules.registry import Judgement, judge_desired

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
REPO_ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------------------------- PKI
@dataclass(frozen=True)
class CaChain:
    """A private or public CA as most deployments have it: a self-signed root and one issuing CA."""

    root: CertificateAuthority
    issuing: CertificateAuthority

    @property
    def certs(self) -> tuple[CertView, CertView]:
        """The CA certificates a validator must trust (MRA020/MRA021): intermediate, then root."""
        return (self.issuing.cert, self.root.cert)

    def leaf(
        self, common_name: str | None, sans: Sequence[str] = (), *, ekus: Sequence[str] = BOTH_EKUS,
        key: PrivateKey | None = None, **kw: Any,
    ) -> Issued:
        return self.issuing.issue_leaf(common_name, list(sans), ekus=ekus, key=key, **kw)


class Pki:
    """Session-wide CAs by name, created once: `pki.chain("Acme")` → root "Acme Root CA" and issuing
    CA "Acme Issuing CA" (organization "Acme"). Distinct names keep MRA022/MRA025 out of the way."""

    def __init__(self) -> None:
        self._chains: dict[str, CaChain] = {}

    def chain(self, name: str) -> CaChain:
        if name not in self._chains:
            root = CertificateAuthority.create_root(f"{name} Root CA", organization=name)
            issuing = root.issue_intermediate(f"{name} Issuing CA", organization=name)
            self._chains[name] = CaChain(root, issuing)
        return self._chains[name]


@pytest.fixture(scope="session")
def pki() -> Pki:
    return Pki()


# ------------------------------------------------------------------------------------ workspace
def _referenced_certificate_files(data: Any) -> set[str]:
    """Every certificate file an inventory names (authorities, peers, CUCM identities)."""
    if not isinstance(data, dict):
        return set()
    files: set[str] = set()
    for authority in (data.get("authorities") or {}).values():
        files.add(authority["file"])
    for cluster in (data.get("expressway") or {}).values():
        for peer in cluster.get("peers") or []:
            for key in ("certificate", "client_certificate"):
                if peer.get(key):
                    files.add(peer[key])
    for cucm in (data.get("cucm") or {}).values():
        files.update((cucm.get("certificates") or {}).values())
    return files


@dataclass
class Workspace:
    """An inventory copied into a temporary directory, plus the certificate files written for it."""

    dir: Path
    path: Path
    written: set[str] = field(default_factory=set)

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    def edit(self, old: str, new: str, count: int = 1) -> None:
        """Replace `old` by `new` in the copied inventory; `old` must occur exactly `count` times."""
        text = self.text
        assert text.count(old) == count, f"{old!r} occurs {text.count(old)} times in {self.path.name}"
        self.path.write_text(text.replace(old, new), encoding="utf-8")

    def certs(self, relative: str, certs: Iterable[CertView]) -> Path:
        """Write CA certificates (an authority file, or any PEM bundle) to `relative`."""
        target = self.dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(c.pem for c in certs), encoding="ascii")
        self.written.add(relative)
        return target

    def leaf(
        self, relative: str, issued: Issued, chain: Iterable[CertView] = (), *, key: PrivateKey | None = None
    ) -> Path:
        """Write a node certificate (leaf first, then `chain`) and its private key beside it as .key
        (`key` overrides the key written, to make a certificate and key that do not match)."""
        target = self.certs(relative, [issued.cert, *chain])
        write_private_key(target.with_suffix(".key"), key if key is not None else issued.key)
        return target

    def missing_files(self) -> set[str]:
        data = yaml.safe_load(self.text)
        return _referenced_certificate_files(data) - self.written

    def load(self, *, check_files: bool = True) -> Inventory:
        if check_files:
            missing = self.missing_files()
            assert not missing, f"the test did not write these files the inventory names: {sorted(missing)}"
        return load_inventory(self.path)

    def desired(self, **kw: Any) -> DesiredState:
        return desired_state(self.load(), **kw)

    def judged(self, state: DesiredState) -> Judgement:
        """The offline findings on `state`, derived from this workspace's inventory."""
        return judge_desired(self.load(), state)


@pytest.fixture()
def inventory(tmp_path: Path) -> Callable[..., Workspace]:
    """`inventory("same-ca-for-c-and-e")` copies scenarios/same-ca-for-c-and-e.yaml to tmp_path;
    `inventory(text=...)` writes inline YAML instead. Returns the Workspace."""

    def make(name: str | None = None, *, text: str | None = None, filename: str = "inventory.yaml") -> Workspace:
        assert (name is None) != (text is None), "give a scenario name or inline text"
        source = (SCENARIOS / f"{name}.yaml").read_text(encoding="utf-8") if name else text
        assert source is not None
        path = tmp_path / filename
        path.write_text(source, encoding="utf-8")
        return Workspace(tmp_path, path)

    return make


# ----------------------------------------------------------------------------------- assertions
Entry = tuple[str, str, str]  # (store, subject, fingerprint)


def _trust_entries(node: NodeDesired) -> list[Entry]:
    return sorted((t.store, t.subject, t.fingerprint) for t in node.trust)


def _expected_entries(*groups: tuple[str, Iterable[CertView]]) -> list[Entry]:
    """[(store, certs), …] → the sorted, de-duplicated entries expected. `trust_entries` keeps duplicates,
    so a derived list holding one certificate twice in a store does not compare equal to this."""
    seen: dict[tuple[str, str], Entry] = {}
    for store, certs in groups:
        for cert in certs:
            seen[(store, cert.fingerprint_sha256)] = (store, cert.subject, cert.fingerprint_sha256)
    return sorted(seen.values())


@pytest.fixture(scope="session")
def trust_entries() -> Callable[[NodeDesired], list[Entry]]:
    """A node's desired trust as a sorted list of (store, subject, fingerprint), duplicates kept."""
    return _trust_entries


@pytest.fixture(scope="session")
def expected_entries() -> Callable[..., list[Entry]]:
    """expected_entries(("trusted_ca", chain.certs), ("tomcat-trust", [...])) → sorted entries."""
    return _expected_entries


@pytest.fixture(scope="session")
def sans_of() -> Callable[[NodeDesired], list[tuple[str, str]]]:
    """A node's required SANs as an ordered list of (name, code)."""

    def sans(node: NodeDesired) -> list[tuple[str, str]]:
        return [(s.name, s.code) for s in node.required_sans]

    return sans
