"""Helpers for the report tests: doctor on a lab deployment, and a real headless Chromium."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "doctor"))  # the doctor tests' lab helpers

from _doctorkit import PASSWORDS, warm_listeners

from mrakit.desired import short_name as short
from mrakit.diagnosis import Report, doctor
from mrakit.inventory.load import load_inventory
from mrakit.report.model import CertificateInfo, ClusterInfo, EdgeInfo, NodeInfo, ReportModel

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package, installed by .ci/run
# Without these, Chromium on a machine with no network makes many refused connections of its own.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def run_doctor(inventory_path: Path) -> Report:
    """doctor() online on a lab deployment whose listeners are warm (see warm_listeners)."""
    from mrakit.session import connect

    inventory = load_inventory(inventory_path)
    with connect(inventory, environ=PASSWORDS) as connections:
        warm_listeners(connections.lab)
        return doctor(inventory, connections=connections)


def failing_relations(report: Report) -> list[tuple[str, str]]:
    """The doctor's failing relations, read from its findings (not from the report's own data)."""
    return [(f.evidence["relation"], f.evidence["store"]) for f in report.findings if "relation" in f.evidence]


@dataclass
class PageVisit:
    url: str
    screenshot: Path
    requests: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


@contextmanager
def open_in_chromium(html_file: Path, profile: Path, screenshot: Path) -> Iterator[tuple[Any, PageVisit]]:
    """Open `html_file` in a headless Chromium with a fresh profile; every request the page makes and
    every console message is recorded; a full-page screenshot is taken once the page has loaded."""
    from playwright.sync_api import sync_playwright

    url = html_file.resolve().as_uri()
    visit = PageVisit(url, screenshot)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 900})
        try:
            page = context.new_page()
            page.on("request", lambda request: visit.requests.append(request.url))
            page.on("console", lambda message: visit.console.append((message.type, message.text)))
            page.on("pageerror", lambda error: visit.page_errors.append(str(error)))
            page.goto(url, wait_until="load")
            page.screenshot(path=str(screenshot), full_page=True)
            yield page, visit
        finally:
            context.close()


def synthetic(node_count: int) -> ReportModel:
    """An estate of `node_count` nodes: edges, controls and CUCM clusters of 10, every C relation broken."""
    clusters, nodes, edges = [], [], []
    per = 10
    for index in range(node_count // per):
        column = ("edge", "control", "cucm")[index % 3]
        members = tuple(f"n{index}-{k}.example.com" for k in range(per))
        clusters.append(ClusterInfo(f"c{index}", column, "X15.5", members))
        for k, fqdn in enumerate(members):
            cert = CertificateInfo(fqdn, "server", f"CN={fqdn}", "CN=CA", (fqdn,), ("serverAuth",), "2026-01-01",
                                   "2027-01-01", 1798761600, 30 + k, f"{index:02d}{k:062d}", False, False)
            role = "cucm" if column == "cucm" else column
            nodes.append(NodeInfo(fqdn, f"c{index}", "expressway", "subscriber" if k and role == "cucm" else role,
                                  "X15.5", True, "", (cert,), (), "2026-12-01"))
    by_column: dict[str, list[NodeInfo]] = {}
    for node in nodes:
        by_column.setdefault(next(c.column for c in clusters if c.name == node.cluster), []).append(node)
    for k, (c, e) in enumerate(zip(by_column["control"], by_column["edge"], strict=False)):
        edges.append(EdgeInfo(f"rel{2 * k + 1}", c.fqdn, c.cluster, e.fqdn, e.cluster, "server", "trusted_ca",
                              "traversal zone (C validates E)", "broken", "missing_issuer",
                              f"{short(c.fqdn)} lacks 'CA'", "", (), (e.certificates[0].subject,), ()))
        edges.append(EdgeInfo(f"rel{2 * k + 2}", e.fqdn, e.cluster, c.fqdn, c.cluster, "server", "trusted_ca",
                              "traversal zone (E validates C)", "ok", "", "", "", (), (), ()))
    return ReportModel("2026-06-01T00:00:00+00:00", "online", "big.yaml", tuple(clusters), tuple(nodes),
                       tuple(edges), (), (), {"nodes": len(nodes)})
