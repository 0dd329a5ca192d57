"""Discovery against a served lab: the lab runs in-process and its endpoints are written as the
JSON `mrakit lab serve` prints, which discovery takes with --resolve-file."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mrakit.discover import DiscoverOptions, DiscoverResult, Login, discover
from mrakit.inventory.credentials import resolve_credentials
from mrakit.inventory.load import load_inventory
from mrakit.lab.server import Lab, started_lab

EXPRESSWAY_LOGIN = Login("admin", "MRAKIT_EXPRESSWAY_PASSWORD")
CUCM_LOGIN = Login("ccmadmin", "MRAKIT_CUCM_PASSWORD")


@dataclass
class ServedLab:
    inventory_path: Path
    lab: Lab
    resolve_file: Path

    def discover(self, out: Path, **options: Any) -> DiscoverResult:
        settings: dict[str, Any] = {
            "expressways": ("expc1.acme.local",), "resolve_file": self.resolve_file,
            "expressway_login": EXPRESSWAY_LOGIN, "cucm_login": CUCM_LOGIN,
            # The lab's public root is on no box (the edge sends leaf and intermediate): the user has it.
            "authorities": (self.inventory_path.parent / "pki" / "public-chain.pem",), **options}
        return discover(DiscoverOptions(out_dir=out, **settings))


@pytest.fixture
def served_lab(make_deployment: Callable[..., Any],
               environ_without_proxies: None) -> Iterator[Callable[..., ServedLab]]:
    """served_lab(scenario, overrides) -> a running lab and its `lab serve` JSON; stopped after the test."""
    labs: list[Lab] = []

    def serve(scenario: str = "fresh", overrides: dict[str, Any] | None = None) -> ServedLab:
        deployment = make_deployment(scenario, overrides)
        inventory = load_inventory(deployment.path)
        lab = started_lab(inventory, resolve_credentials(inventory))
        labs.append(lab)
        resolve_file = deployment.directory / "serve.json"
        resolve_file.write_text(json.dumps(lab.describe()) + "\n")
        return ServedLab(deployment.path, lab, resolve_file)

    yield serve
    for lab in labs:
        lab.stop()
