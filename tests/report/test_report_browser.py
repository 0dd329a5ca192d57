"""The HTML report in a real headless Chromium (Debian's package): it renders, with no console error
and no network request, and shows exactly as many broken edges as the doctor has failing relations,
on the `temporary-certs` lab before and after `apply`."""

from __future__ import annotations

import struct

import pytest
from _reportkit import PASSWORDS, failing_relations, open_in_chromium, run_doctor

from mrakit.apply import apply
from mrakit.inventory.load import load_inventory
from mrakit.plan import plan
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
        assert edges.count() == len(report.relations) > 0
        assert broken.count() == len(failing)
        assert page.locator("#trust-map .edge.ok").count() == len(report.relations) - len(failing)
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
