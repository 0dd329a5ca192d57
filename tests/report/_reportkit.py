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

from mrakit.doctor import Report, doctor
from mrakit.inventory.load import load_inventory

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package, installed by .ci/run
# Without these, Chromium on a machine with no network makes many refused connections of its own.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def run_doctor(inventory_path: Path) -> Report:
    """doctor() online on a lab deployment whose listeners are warm (see warm_listeners)."""
    from mrakit.adapters.connect import connect

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
