"""What discovery cannot read is one located line, left out of the inventory with a comment, and
the walk carries on with the rest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mrakit.discover import DiscoverError, DiscoverOptions, discover
from mrakit.discover.assemble import assemble
from mrakit.discover.reach import Reach
from mrakit.discover.walk import TRAVERSAL_UNREADABLE, Discovery, ExpresswayFound
from mrakit.errors import MrakitError
from mrakit.inventory.load import load_inventory
from mrakit.lab.expressway import ExpresswayTwin
from mrakit.lab.model import ProductError


def _not_read(result: Any) -> dict[str, str]:
    return {p.node: p.message for p in result.problems}


def test_a_node_down_is_left_out_and_the_rest_is_read(served_lab: Callable[..., Any], tmp_path: Path) -> None:
    served = served_lab("fresh", {"lab": {"nodes": {"expc2.acme.local": {"down": True}}}})
    result = served.discover(tmp_path / "found")
    problems = _not_read(result)
    assert list(problems) == ["expc2.acme.local"]
    assert "cluster peer of expc1.acme.local" in problems["expc2.acme.local"]
    assert "\n" not in problems["expc2.acme.local"]
    assert "expe1.acme.com" in result.expressway and "cucm-sub1.acme.local" in result.cucm
    text = result.inventory_path.read_text()
    assert "# - fqdn: expc2.acme.local  not read:" in text
    peers = [p.fqdn for c in load_inventory(result.inventory_path).expressway.values() for p in c.peers]
    assert "expc2.acme.local" not in peers and "expc1.acme.local" in peers


def test_a_wrong_password_is_one_line_per_node_and_the_expressways_are_still_read(
        served_lab: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served = served_lab()
    monkeypatch.setenv("MRAKIT_CUCM_PASSWORD", "not-the-password")
    result = served.discover(tmp_path / "found")
    problems = _not_read(result)
    assert "cucm-pub.acme.local" in problems and "cucm-sub1.acme.local" not in problems  # named by its AXL
    assert all("\n" not in message for message in problems.values())
    assert problems["cucm-pub.acme.local"].startswith("authentication failed for ccmadmin@cucm-pub.acme.local")
    assert "not-the-password" not in result.inventory_path.read_text() + str(result.to_dict())
    assert len(result.expressway) == 4 and result.valid
    assert "not read: cucm-pub.acme.local" in result.inventory_path.read_text()


def test_a_node_that_is_not_an_expressway_is_said_so(served_lab: Callable[..., Any], tmp_path: Path) -> None:
    # One login for both products, so the CUCM server lets the Expressway reads in and answers them 404.
    same_login = {"username": "admin", "password_env": "MRAKIT_EXPRESSWAY_PASSWORD"}
    served = served_lab("fresh", {"defaults": {"credentials": {"cucm": same_login}}})
    result = served.discover(tmp_path / "found", expressways=("expc1.acme.local", "cucm-pub.acme.local"),
                             cucm_login=None)
    problems = _not_read(result)
    assert "does not answer as an Expressway" in problems["cucm-pub.acme.local"]
    assert "named with --expressway" in problems["cucm-pub.acme.local"]
    assert len(result.expressway) == 4


def test_an_unreadable_traversal_zone_says_to_name_the_edge(served_lab: Callable[..., Any], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def not_found(self: ExpresswayTwin, fqdn: str) -> list[dict[str, str]]:
        raise ProductError(404, "Not found")

    monkeypatch.setattr(ExpresswayTwin, "_traversal_client_zones", not_found)
    served = served_lab()
    alone = served.discover(tmp_path / "alone")
    assert _not_read(alone) == {"expc1.acme.local": TRAVERSAL_UNREADABLE}
    assert "expe1.acme.com" not in alone.expressway
    assert f"# traversal: not read: {TRAVERSAL_UNREADABLE}" in alone.inventory_path.read_text()

    named = served.discover(tmp_path / "named", expressways=("expc1.acme.local", "expe1.acme.com"))
    assert named.problems == [] and named.valid
    control = next(load_inventory(named.inventory_path).control_clusters())
    assert control.traversal is not None  # the only edge given, said so in its comment
    assert "the only edge cluster named or found" in named.inventory_path.read_text()


def _found(name: str, role: str, peers: tuple[str, ...], zone: tuple[str, ...] | None) -> ExpresswayFound:
    return ExpresswayFound(name=name, version="X15.5.1", role=role,  # type: ignore[arg-type]
                           role_from="test", system_name=name, peers=peers, domains=(), server_chain=(), trusted=(),
                           traversal_peers=zone)


def test_a_loop_in_traversal_zones_is_reported_and_not_written() -> None:
    found = Discovery(expressway={
        "c1.example.org": _found("c1.example.org", "control", ("c1.example.org",), ("c2.example.org",)),
        "c2.example.org": _found("c2.example.org", "control", ("c2.example.org",), ("c1.example.org",)),
        "c3.example.org": _found("c3.example.org", "control", ("c3.example.org",), ("c3.example.org",)),
    })
    assembled = assemble(found, Reach(), None, None)
    problems = {p.node: p.message for p in assembled.problems}
    assert "points to c2.example.org, a control, not an edge" in problems["c1.example.org"]
    assert "points to c1.example.org, a control, not an edge" in problems["c2.example.org"]
    assert "points back to its own cluster" in problems["c3.example.org"]
    clusters = assembled.body["expressway"].value
    assert all(c.value["traversal"].value is None for c in clusters.values())


def test_bad_options_are_refused_before_any_request(tmp_path: Path) -> None:
    resolve = tmp_path / "serve.json"
    resolve.write_text("not json\n")
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "name at least one node"),
        ({"expressways": ("a.example.org",)}, "no CA bundle"),
        ({"expressways": ("a.example.org",), "resolve_file": resolve}, "not the JSON `mrakit lab serve` prints"),
        ({"expressways": ("a.example.org",), "resolves": ("a.example.org",)}, "expected NAME=ADDRESS:PORT"),
        ({"expressways": ("a.example.org:99999",), "insecure_first_contact": True}, "no valid port"),
    ]
    for options, message in cases:
        with pytest.raises(DiscoverError, match=message.replace("(", r"\(").replace("`", ".")):
            discover(DiscoverOptions(out_dir=tmp_path / "out", **options))
        assert not (tmp_path / "out").exists()
    assert issubclass(DiscoverError, MrakitError)


def test_discovered_inventory_is_person_shaped(served_lab: Callable[..., Any], tmp_path: Path) -> None:
    served = served_lab()
    result = served.discover(tmp_path / "found")
    firsts = ("/sysinfo", "/identity/certificate?service=tomcat")
    reads = [e["node"] for e in served.lab.request_log if e["path"].endswith(firsts)]
    assert sorted(reads) == sorted(set(reads)) and len(reads) == 6, reads  # every node read once
    assert not served.lab.writes()
    text = result.inventory_path.read_text()
    data = yaml.safe_load(text)
    assert data["defaults"]["credentials"]["expressway"] == {"username": "admin",
                                                              "password_env": "MRAKIT_EXPRESSWAY_PASSWORD"}
    for line in text.splitlines():  # every value says where it came from (or sits in a commented block)
        if ":" in line and not line.strip().startswith("#") and not line.rstrip().endswith(":"):
            assert "  # " in line or line.startswith("version:"), line
    for secret in ("lab-exp-secret-7f3a", "lab-ccm-secret-91c2"):
        assert secret not in text
    cucm = next(iter(data["cucm"].values()))
    assert set(cucm["certificates"]) == {"tomcat", "callmanager"}  # every server presents the same pair
    pki = result.inventory_path.parent / "pki"
    assert sorted(p.name for p in pki.glob("*.acme.*.pem")) == [
        "expc1.acme.local.pem", "expc2.acme.local.pem", "expe1.acme.com.pem", "expe2.acme.com.pem"]
    roots = [load_inventory(result.inventory_path).authorities[name].certificates[-1] for name in data["authorities"]]
    assert all(root.self_signed for root in roots)
