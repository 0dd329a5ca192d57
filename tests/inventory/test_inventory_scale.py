"""A large generated inventory (100 clusters, from benchmarks/inventory_scale.py's generator) loads and
derives correctly. Counts and contents, not time: the timing is the benchmark's job."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from mrakit.desired import desired_state
from mrakit.inventory.load import load_inventory
from mrakit.rules.registry import judge_desired

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "inventory_scale.py"
PAIRS = 40  # 40 edge + 40 control + 20 CUCM = 100 clusters


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mrakit_bench_inventory_scale", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated(bench, tmp_path_factory):
    return bench.generate_inventory(tmp_path_factory.mktemp("scale"), PAIRS)


def test_hundred_clusters_load_and_derive(generated):
    assert generated.clusters == 100
    inventory = load_inventory(generated.path)
    assert len(inventory.expressway) == 2 * PAIRS
    assert len(inventory.cucm) == PAIRS // 2
    assert len(list(inventory.edge_clusters())) == PAIRS
    assert sum(len(c.peers) for c in inventory.expressway.values()) == 4 * PAIRS

    state = desired_state(inventory)
    assert len(state.nodes) == 4 * PAIRS + PAIRS // 2
    assert judge_desired(inventory, state).all() == []
    # Edge peers: 2 (the control's private chain). Control peers: 2 (public) + 2 (their CUCM's private chain,
    # the same CA as their own) when fronting a CUCM. Publishers: the private chain in two stores.
    assert sum(len(n.trust) for n in state.nodes) == 2 * 2 * PAIRS + (4 * PAIRS // 2 + 2 * PAIRS // 2) * 2 + (
        4 * (PAIRS // 2))

    public = set(generated.public.fingerprints)
    for pair in range(PAIRS):
        private = set(generated.private_for(pair).fingerprints)
        domain = f"tenant{pair}.com"
        xmpp = generated.has_xmpp(pair)
        for peer in (1, 2):
            edge = state.node(f"expe{peer}.{domain}")
            assert edge.cluster == f"edge-{pair}"
            assert {(t.store, t.fingerprint) for t in edge.trust} == {("trusted_ca", f) for f in private}
            assert [(s.name, s.code) for s in edge.required_sans] == [
                (f"mra.{domain}", "MRA015"), (f"expe{peer}.{domain}", "MRA015"), (domain, "MRA013"),
                *([(f"chat.{domain}", "MRA014"), (f"im.{domain}", "MRA014")] if xmpp else [])]

            control = state.node(f"expc{peer}.tenant{pair}.local")
            expected = public | (private if generated.has_cucm(pair) else set())
            assert {(t.store, t.fingerprint) for t in control.trust} == {("trusted_ca", f) for f in expected}
            assert len(control.trust) == len(expected)
            assert [(s.name, s.code) for s in control.required_sans] == [
                (f"expc.tenant{pair}.local", "MRA015"), (f"expc{peer}.tenant{pair}.local", "MRA015"),
                (domain, "MRA010"), *([(f"chat.{domain}", "MRA011")] if xmpp else [])]
        if generated.has_cucm(pair):
            publisher = state.node(f"cucm-pub.tenant{pair}.local")
            assert {(t.store, t.fingerprint) for t in publisher.trust} == {
                (store, f) for store in ("tomcat-trust", "CallManager-trust") for f in private}


def test_generator_versions_cover_every_eku_rule(generated):
    inventory = load_inventory(generated.path)
    versions = {(c.role, str(c.version), c.server_eku_upload) for c in inventory.expressway.values()}
    assert versions == {
        ("edge", "X15.5.1", False), ("control", "X15.5.1", False),
        ("edge", "X15.4.0", True), ("control", "X15.4.0", False),
        ("edge", "X14.3.0", False), ("control", "X14.3.0", False),
    }
