"""The HTML report in a real headless Chromium (Debian's package): it renders, with no console error
and no network request, and shows exactly as many broken edges as the doctor has failing relations,
on the `temporary-certs` lab before and after `apply`."""

from __future__ import annotations

import struct

import pytest
from _reportkit import PASSWORDS, failing_relations, open_in_chromium, run_doctor, synthetic

from mrakit.applier import apply
from mrakit.inventory.load import load_inventory
from mrakit.planner import plan
from mrakit.report.html import render_html
from mrakit.report.model import build_model


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "the screenshot is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("stage", ["before-apply", "after-apply"])
def test_report_renders_the_doctors_verdicts_in_chromium(make_deployment, tmp_path, stage):
    deployment = make_deployment("temporary-certs")
    inventory = load_inventory(deployment.path)
    if stage == "after-apply":
        result = apply(plan(inventory, environ=PASSWORDS), inventory, environ=PASSWORDS)
        assert not result.failed
    report = run_doctor(deployment.path)
    failing = failing_relations(report)
    assert (len(failing) > 0) == (stage == "before-apply")  # the scenario is what this test expects
    html_file = tmp_path / "report.html"
    html_file.write_text(render_html(build_model(report, inventory)), encoding="utf-8")

    with open_in_chromium(html_file, tmp_path / "profile", tmp_path / f"{stage}.png") as (page, visit):
        nodes = page.locator("#trust-map .node")
        edges = page.locator("#trust-map .edge")
        broken = page.locator("#trust-map .edge.broken")
        # Something was drawn: every node of the inventory, with a real size on the screen.
        assert nodes.count() == len(report.nodes) == 6
        assert page.locator("#trust-map").bounding_box()["height"] > 150
        for index in range(nodes.count()):
            box = nodes.nth(index).bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 30
        # the map draws every relation between nodes; a CUCM server's own identity chain (CUCM001) is in the
        # tables only
        drawn = [r for r, _ in report.relations if "CUCM001" not in r.codes]
        assert edges.count() == len(drawn) > 0
        assert broken.count() == len(failing)
        assert page.locator("#trust-map .edge.ok").count() == len(drawn) - len(failing)
        assert page.locator("tr.relation.broken").count() == len(failing)
        # Each broken edge carries its failing link as a visible label.
        labelled = " ".join(page.locator("#trust-map .edge-label").evaluate_all(
            "labels => labels.map(l => l.getAttribute('data-relations'))"))
        for index in range(broken.count()):
            assert broken.nth(index).get_attribute("data-relation") in labelled.split()
        drawn = page.evaluate("() => [...document.querySelectorAll('#trust-map .edge path')]"
                              ".filter(p => p.getTotalLength() > 50).length")
        assert drawn == edges.count()
    assert visit.page_errors == []
    assert [m for m in visit.console if m[0] in ("error", "warning")] == []
    assert visit.requests == [visit.url]  # the page itself, and nothing else
    width, height = png_size(visit.screenshot)
    assert width >= 1000 and height > 900


def test_clicking_a_broken_edge_shows_its_row_and_a_large_estate_renders(make_deployment, tmp_path):
    deployment = make_deployment("temporary-certs")
    report = run_doctor(deployment.path)
    html_file = tmp_path / "report.html"
    html_file.write_text(render_html(build_model(report, load_inventory(deployment.path))), encoding="utf-8")
    with open_in_chromium(html_file, tmp_path / "profile", tmp_path / "small.png") as (page, visit):
        edge = page.locator("#trust-map .edge.broken").first
        relation = edge.get_attribute("data-relation")
        assert "lacks" in edge.locator("title").text_content()  # the hover text names the failing link
        # A quarter along the curve: the middle is under the edge labels (links too, to the same rows).
        point = edge.locator("path").evaluate(
            "p => { const q = p.getPointAtLength(p.getTotalLength() / 4), m = p.getScreenCTM();"
            " return {x: q.x * m.a + m.e, y: q.y * m.d + m.f}; }")
        page.mouse.click(point["x"], point["y"])
        assert page.evaluate("() => location.hash") == f"#{relation}"
        assert page.locator(f"tr#{relation}").is_visible()
    assert visit.console == [] and visit.page_errors == []

    big = tmp_path / "big.html"
    big.write_text(render_html(synthetic(300)), encoding="utf-8")
    with open_in_chromium(big, tmp_path / "profile-big", tmp_path / "big.png") as (page, visit):
        clusters = page.locator("#trust-map .cluster.collapsed")
        assert clusters.count() == 30 and page.locator("#trust-map .node").count() == 0
        assert all(clusters.nth(i).bounding_box()["width"] > 100 for i in range(clusters.count()))
        assert page.locator("#trust-map .edge-group.broken").count() == 10
        assert page.locator("tr.relation.broken").count() == 100
    assert visit.console == [] and visit.page_errors == [] and visit.requests == [visit.url]
