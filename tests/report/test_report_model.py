"""The report's model and its renderers: what each node, relation and trust entry says, the plan
overlay, determinism, collapsing for large estates, and the OpenMetrics output (parsed by
prometheus_client's parsers)."""

from __future__ import annotations

import datetime as dt
import re

from _reportkit import PASSWORDS, failing_relations, run_doctor, synthetic
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus

from mrakit.diagnosis import doctor
from mrakit.inventory.load import load_inventory
from mrakit.lab.state import LabState
from mrakit.planner import plan
from mrakit.report.html import COLLAPSE_AT, render_html
from mrakit.report.metrics import render_openmetrics
from mrakit.report.model import (
    ProofInfo,
    build_model,
    short,
)

EXPE1, EXPC1, EXPC2 = "expe1.acme.com", "expc1.acme.local", "expc2.acme.local"


def families(text: str) -> dict[str, list]:
    return {f.name: f.samples for f in parse_openmetrics(text)}


# --- built from the lab ---------------------------------------------------------------------------------------

def test_every_relation_is_an_edge_with_the_doctors_verdict_and_failing_link(make_deployment):
    d = make_deployment("temporary-certs")
    report = run_doctor(d.path)
    model = build_model(report, load_inventory(d.path))
    failing = failing_relations(report)
    assert len(model.edges) == len(report.relations) == 32  # 24 between nodes, 8 CUCM001 (each server's own chain)
    assert len(model.broken_edges) == len(failing) == 24
    assert sorted((f"{e.validator} -> {e.subject} {e.kind}", e.store) for e in model.broken_edges) == sorted(failing)
    for edge in model.broken_edges:
        # Every relation fails for a missing temporary CA or lab issuing CA: the label names it.
        assert re.fullmatch(rf"{short(edge.validator)} lacks '[^']+'", edge.failing_link), edge.failing_link
        assert edge.subject_view and edge.subject_view[0].startswith("CN=")
        assert edge.proofs and all(p.agrees for p in edge.proofs)  # every relation was shaken hands on
        assert edge.validator in {edge.proofs[0].client, edge.proofs[0].server}
    traversal = [e for e in model.edges if e.feature.startswith("traversal")]
    assert traversal and all(p.connection == "traversal zone (C→E)" for e in traversal for p in e.proofs)


def test_nodes_carry_certificates_trust_reasons_and_next_due(make_deployment):
    d = make_deployment("temporary-certs")
    report = run_doctor(d.path)
    inventory = load_inventory(d.path)
    model = build_model(report, inventory)
    assert [n.fqdn for n in model.nodes] == list(report.nodes)
    expe1 = model.node(EXPE1)
    assert expe1.reachable is True and expe1.version and expe1.role == "edge"
    (server,) = expe1.certificates
    assert server.kind == "server" and server.temporary and EXPE1 in server.sans and "serverAuth" in server.ekus
    assert server.days_left == int(report.observed.nodes[EXPE1].certificates["server"][0].days_left(report.at))
    window = dt.timedelta(days=inventory.defaults.renewal_window_days)
    leaf = report.observed.nodes[EXPE1].certificates["server"][0]
    assert expe1.next_due == (leaf.not_after - window).strftime("%Y-%m-%d")
    statuses = {t.status for t in expe1.trust}
    # Its own factory CA is not derived from any relation (stray); the C's temporary CAs are missing.
    assert statuses == {"stray", "missing"}
    for entry in expe1.trust:
        assert (entry.status == "missing") == bool(entry.reasons)
        # the factory CAs of the other side are known only from their own node's trust list (INV003)
        assert all(reason.startswith(("MRA0", "INV003")) for reason in entry.reasons)
    assert model.node("cucm-sub1.acme.local").role == "subscriber"
    assert [c.column for c in model.clusters] == ["edge", "control", "cucm"]


def test_duplicate_and_shadowed_entries_are_named(make_deployment):
    d = make_deployment("self-signed-cucm")
    state = LabState.load(d.directory / ".mrakit-lab")
    state.expressway[EXPE1].trust.append(state.expressway[EXPE1].trust[0])  # the same CA twice
    state.save()
    report = run_doctor(d.path)
    model = build_model(report, load_inventory(d.path))
    duplicates = [t for t in model.node(EXPE1).trust if t.status == "duplicate"]
    assert len(duplicates) == 1 and duplicates[0].shadowed_by == "entry 1"
    assert duplicates[0].position == len(state.expressway[EXPE1].trust)
    for control in (EXPC1, EXPC2):
        shadowed = [t for t in model.node(control).trust if t.status == "shadowed"]
        hidden = {f.evidence["hidden"] for f in report.findings if f.code == "MRA022" and f.node == control
                  and "hidden" in f.evidence}
        assert shadowed and {t.fingerprint for t in shadowed} == hidden
        assert all(re.fullmatch(r"entry \d+ \([0-9a-f]{12}…\)", t.shadowed_by) for t in shadowed)
    html = render_html(model)
    assert "st-duplicate" in html and "shadowed</td>" not in html and "shadowed by entry" in html


def test_offline_report_judges_nothing_and_shows_the_desired_trust(make_deployment):
    d = make_deployment("temporary-certs")
    inventory = load_inventory(d.path)
    model = build_model(doctor(inventory, offline=True, environ=PASSWORDS), inventory)
    assert model.mode == "offline" and model.edges
    assert {e.verdict for e in model.edges} == {"unknown"}
    assert all(n.reachable is None for n in model.nodes)
    assert {t.status for n in model.nodes for t in n.trust} <= {"needed"}
    metrics = families(render_openmetrics(model))
    assert "mrakit_relation_valid" not in metrics and "mrakit_node_up" not in metrics
    assert 'class="edge unknown"' in render_html(model) and 'class="edge broken"' not in render_html(model)


def test_the_same_input_gives_the_same_page(make_deployment):
    d = make_deployment("temporary-certs")
    inventory = load_inventory(d.path)
    at = dt.datetime(2027, 1, 15, 12, 0, tzinfo=dt.UTC)
    first = render_html(build_model(doctor(inventory, environ=PASSWORDS, at=at), inventory))
    second = render_html(build_model(doctor(inventory, environ=PASSWORDS, at=at), inventory))
    assert first == second
    assert "2027-01-15" in first


def test_plan_overlay_marks_what_will_be_added_where(make_deployment):
    d = make_deployment("temporary-certs")
    inventory = load_inventory(d.path)
    pending = plan(inventory, environ=PASSWORDS)
    model = build_model(run_doctor(d.path), inventory, pending)
    assert model.plan is not None and len(model.plan) == len(pending.actions)
    for node in model.nodes:
        assert len(node.pending) == sum(1 for a in pending.actions if a.node == node.fqdn)
    assert all(edge.planned for edge in model.broken_edges)  # every broken relation is changed by the plan
    expc1_adds = {a.summary for a in pending.actions if a.node == EXPC1 and a.kind == "trust.add"}
    for edge in model.edges:
        if edge.validator == EXPC1:
            assert expc1_adds <= set(edge.planned)
    html = render_html(model)
    assert html.count('class="edge-planned"') == sum(1 for e in model.edges if e.planned)
    assert html.count('<g class="badge">') == sum(1 for n in model.nodes if n.pending)
    assert html.count("<tr class='action'>") == len(pending.actions)
    assert "Pending plan" not in render_html(build_model(run_doctor(d.path), inventory))


# --- built by hand: large estates, disagreements, label escaping ----------------------------------------------

def test_a_large_estate_collapses_clusters_and_keeps_every_relation():
    model = synthetic(300)
    assert len(model.nodes) == 300 > COLLAPSE_AT
    html = render_html(model)
    svg = html[html.index('<svg id="trust-map"'):html.index("</svg>")]
    assert svg.count('class="cluster collapsed"') == len(model.clusters) == 30
    assert 'class="node ' not in svg and 'class="edge ' not in svg
    height = int(re.search(r'height="(\d+)"', svg).group(1))
    assert height < 1200  # ten clusters a column, one box each
    groups = re.findall(r'class="edge-group (\w+)" data-group="\d+" data-broken="(\d+)"', svg)
    assert sum(int(b) for _, b in groups) == len(model.broken_edges) == 100
    assert html.count('class="relation broken"') == 100 and html.count('class="relation ok"') == 100
    assert html.count('<details id="node-') == 300 and "<details id=\"node-n0-0-example-com\" class=\"node-detail\">" \
        in html  # closed
    assert render_html(synthetic(300)) == html


def test_a_small_estate_draws_every_node():
    model = synthetic(30)
    html = render_html(model)
    assert html.count('<g class="node ') == 30 and html.count('class="edge broken"') == len(model.broken_edges)
    assert 'class="node-detail" open' in html


def test_a_handshake_that_disagrees_is_drawn_as_such():
    model = synthetic(30)
    edge = model.edges[0]
    proof = ProofInfo("traversal zone (C→E)", edge.validator, edge.subject, False, True, "ok", False)
    disagreeing = type(edge)(**{**edge.__dict__, "proofs": (proof,)})
    model = type(model)(**{**model.__dict__, "edges": (disagreeing, *model.edges[1:])})
    html = render_html(model)
    assert html.count('class="edge broken disagree"') == 1
    assert model.to_dict()["edges"][0]["disagreement"] is True
    metrics = families(render_openmetrics(model))
    assert [s.value for s in metrics["mrakit_relation_handshake_disagreement"]] == [1.0]


def test_openmetrics_parses_and_escapes_label_values():
    model = synthetic(30)
    odd = 'CN=Odd "quoted" \\ name\nnext'
    node = model.nodes[0]
    cert = type(node.certificates[0])(**{**node.certificates[0].__dict__, "subject": odd})
    nodes = (type(node)(**{**node.__dict__, "certificates": (cert,)}), *model.nodes[1:])
    text = render_openmetrics(type(model)(**{**model.__dict__, "nodes": nodes}))
    metrics = families(text)
    assert metrics["mrakit_certificate_expiry_timestamp_seconds"][0].labels["subject"] == odd
    assert len(list(parse_prometheus(text))) == len(metrics)  # the Prometheus text format reads it too
    assert text.endswith("# EOF\n")


def test_openmetrics_on_the_lab(make_deployment):
    d = make_deployment("temporary-certs")
    report = run_doctor(d.path)
    model = build_model(report, load_inventory(d.path))
    metrics = families(render_openmetrics(model))
    expiry = metrics["mrakit_certificate_expiry_timestamp_seconds"]
    assert len(expiry) == sum(len(n.certificates) for n in model.nodes) == 8
    leaf = report.observed.nodes[EXPE1].certificates["server"][0]
    sample = next(s for s in expiry if s.labels["node"] == EXPE1)
    assert sample.labels == {"cluster": "exp-e", "node": EXPE1, "kind": "server", "subject": leaf.subject}
    assert sample.value == int(leaf.not_after.timestamp())
    valid = metrics["mrakit_relation_valid"]
    assert len(valid) == len(report.relations) and sum(1 for s in valid if s.value == 0) == len(
        failing_relations(report))
    assert {s.labels["node"] for s in metrics["mrakit_node_up"] if s.value == 1} == set(report.nodes)
    by_severity = {s.labels["severity"]: s.value for s in metrics["mrakit_findings"]}
    assert by_severity["error"] == report.summary()["error"]


def test_an_unreachable_node_is_drawn_down_and_its_trust_unjudged(make_deployment):
    d = make_deployment("temporary-certs", {"lab": {"nodes": {EXPC2: {"down": True}}}})
    report = run_doctor(d.path)
    model = build_model(report, load_inventory(d.path))
    down = model.node(EXPC2)
    assert down.reachable is False and down.error and down.trust == ()
    assert {e.verdict for e in model.edges if e.validator == EXPC2} == {"unknown"}
    assert {e.verdict for e in model.edges if e.validator == EXPC1} == {"broken"}
    html = render_html(model)
    assert f'<g class="node down" data-node="{EXPC2}">' in html
    up = {s.labels["node"]: s.value for s in families(render_openmetrics(model))["mrakit_node_up"]}
    assert up[EXPC2] == 0 and up[EXPC1] == 1
