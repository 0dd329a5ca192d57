"""A session connects: connection kinds are registered by name (`rest` built in, `lab` found through
its entry point), an unknown kind is one clear line, a kind of one's own is used by plan(), and
neither the session module nor the adapters load the lab."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mrakit_testkit import REPO, run_cli

from mrakit.errors import MrakitError
from mrakit.inventory.load import load_inventory
from mrakit.inventory.model import Inventory
from mrakit.lab.connection import LabSession
from mrakit.lab.memory import MemoryCucm, MemoryExpressway
from mrakit.lab.state import LabState
from mrakit.ping import ping
from mrakit.planner import plan
from mrakit.session import OpenRequest, Session, connect, register_connection_kind, session_for


def with_kind(inventory: Inventory, kind: str) -> Inventory:
    # The inventory schema names the built-in kinds only: a library user sets another kind in code.
    return dataclasses.replace(inventory, defaults=dataclasses.replace(inventory.defaults, connection=kind))  # type: ignore[arg-type]


def test_an_unknown_connection_kind_is_one_clear_line(make_deployment: Callable[..., Any]) -> None:
    inventory = with_kind(load_inventory(make_deployment().path), "telnet")
    with pytest.raises(MrakitError) as raised:
        connect(inventory)
    message = str(raised.value)
    assert message == (f"{inventory.path}: defaults.connection: unknown connection kind 'telnet' "
                       "(known: lab, rest)")
    assert "\n" not in message
    with pytest.raises(MrakitError, match="unknown connection kind 'telnet'"):
        plan(inventory)


def test_the_lab_kind_comes_from_its_entry_point(make_deployment: Callable[..., Any]) -> None:
    inventory = load_inventory(make_deployment().path)
    with connect(inventory) as session:
        assert isinstance(session, LabSession) and session.lab is not None
        assert session.expressway["expc1.acme.local"].version() == "X15.5.1"
    assert session.lab is None  # closed: the lab it started is stopped


def test_the_lab_kind_works_without_packaging_metadata(make_deployment: Callable[..., Any],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A source checkout, or an install made before the kind existed, has no entry points: the kinds
    that ship with mrakit are still found, by the same name pyproject.toml gives them."""
    import tomllib

    import mrakit.session as session_module

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    assert declared[session_module.ENTRY_POINT_GROUP] == session_module._SHIPPED_KINDS
    monkeypatch.setattr(session_module, "entry_points", lambda group: [])
    monkeypatch.delitem(session_module._KINDS, "lab", raising=False)
    with connect(load_inventory(make_deployment().path)) as session:
        assert isinstance(session, LabSession) and session.lab is not None


def test_the_cli_plans_and_applies_on_one_session(make_deployment: Callable[..., Any],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import mrakit.session as session_module

    opened: list[str] = []
    real_connect = session_module.connect

    def counting_connect(inventory: Inventory, **kwargs: Any) -> Session:
        opened.append(str(inventory.path))
        return real_connect(inventory, **kwargs)

    monkeypatch.setattr(session_module, "connect", counting_connect)
    path = make_deployment("missing-intermediate").path
    result = run_cli("apply", "-i", path, "--yes")
    assert result.code == 0, result.err
    assert "relations verified" in result.out
    assert opened == [str(path)]  # observed, planned, applied and verified over the same connections


ADAPTERS = ["mrakit.adapters", "mrakit.adapters.base", "mrakit.adapters.rest", "mrakit.adapters.axl",
            "mrakit.adapters.cucm_rest", "mrakit.adapters.expressway_rest"]
CORE = ["mrakit.session", "mrakit.planner", "mrakit.applier", "mrakit.diagnosis", "mrakit.renew", "mrakit.ping",
        "mrakit.acmerenew.flow", "mrakit.discover", "mrakit.discover.refresh"]


def loaded_modules(module: str) -> set[str]:
    """The mrakit modules a fresh interpreter has loaded after importing `module`."""
    code = "import sys, importlib; importlib.import_module(sys.argv[1]); print(' '.join(sys.modules))"
    run = subprocess.run([sys.executable, "-c", code, module], capture_output=True, text=True, check=True)
    return {name for name in run.stdout.split() if name.startswith("mrakit")}


@pytest.mark.parametrize("module", ADAPTERS + CORE)
def test_the_core_does_not_load_the_lab(module: str) -> None:
    lab = sorted(m for m in loaded_modules(module) if m == "mrakit.lab" or m.startswith("mrakit.lab."))
    assert lab == [], f"importing {module} loads {lab}"


def imported_names(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of the file (TYPE_CHECKING blocks included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


FORBIDDEN_TO_ADAPTERS = ("mrakit.lab", "mrakit.session")


def test_the_adapters_import_neither_the_lab_nor_the_session() -> None:
    # Importing any mrakit module runs mrakit/__init__, which loads the session: read the sources instead.
    for path in sorted((REPO / "mrakit" / "adapters").glob("*.py")):
        above = sorted(n for n in imported_names(path) if ".".join(n.split(".")[:2]) in FORBIDDEN_TO_ADAPTERS)
        assert above == [], f"{path.name} imports {above}"


class MemoryKind:
    """A connection kind of one's own: memory adapters over the lab's saved state, no HTTP."""

    def __init__(self) -> None:
        self.opened: list[OpenRequest] = []
        self.closed = 0

    def __call__(self, request: OpenRequest) -> Session:
        self.opened.append(request)
        state = LabState.load(request.inventory.lab_state_dir)
        session = Session()
        session.expressway.update({fqdn: MemoryExpressway(node) for fqdn, node in state.expressway.items()})
        for cluster in request.inventory.cucm.values():
            subscribers = [state.cucm[n.fqdn] for n in cluster.subscribers]
            session.cucm[cluster.publisher.fqdn] = MemoryCucm(state.cucm[cluster.publisher.fqdn], subscribers)
            session.cucm.update({n.fqdn: MemoryCucm(state.cucm[n.fqdn]) for n in cluster.subscribers})
        session.on_close(self.close)
        return session

    def close(self) -> None:
        self.closed += 1


def test_a_registered_connection_kind_is_used(make_deployment: Callable[..., Any],
                                              lab_connections: Callable[..., Session]) -> None:
    path = make_deployment("fresh").path
    kind = MemoryKind()
    register_connection_kind("memory-for-tests", kind)
    inventory = with_kind(load_inventory(path), "memory-for-tests")

    in_memory = plan(inventory, environ={"MRAKIT_EXPRESSWAY_PASSWORD": "x", "MRAKIT_CUCM_PASSWORD": "y"})
    assert len(kind.opened) == 1 and kind.closed == 1  # opened for the plan, closed after it
    assert kind.opened[0].credentials.login("expc1.acme.local", "expressway") == ("admin", "x")
    over_the_lab = plan(load_inventory(path), connections=lab_connections(path))
    assert in_memory.actions and [a.id for a in in_memory.actions] == [a.id for a in over_the_lab.actions]

    with pytest.raises(MrakitError, match="ping checks REST management APIs; the connection kind "
                                          "'memory-for-tests' gives MemoryExpressway adapters"):
        ping(inventory, environ={"MRAKIT_EXPRESSWAY_PASSWORD": "x", "MRAKIT_CUCM_PASSWORD": "y"})


def test_a_given_session_is_left_open() -> None:
    closed: list[str] = []
    given = Session()
    given.on_close(lambda: closed.append("given"))
    with session_for(None, given) as session:  # type: ignore[arg-type]  # a given session needs no inventory
        assert session is given
    assert closed == []
    given.close()
    assert closed == ["given"]
