"""`mrakit report` and `mrakit doctor --format html|openmetrics` on the command line."""

from __future__ import annotations

import json
import re

import pytest
from mrakit_testkit import REPO, cli
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from mrakit.lab.state import REQUEST_LOG


def assert_one_line_error(err: str, *needles: str) -> None:
    assert err.startswith("mrakit: error: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and all(n in err for n in needles), err


@pytest.fixture
def broken(make_deployment):
    return make_deployment("temporary-certs")


def test_report_writes_one_self_contained_page(broken, capsys, tmp_path):
    out = tmp_path / "report.html"
    rc, stdout, err = cli(capsys, "report", "-i", str(broken.path), "-o", str(out))
    assert rc == 2, err  # error findings: needs attention
    assert stdout == "" and f"wrote {out}" in err and "24 broken relation(s)" in err
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count('class="edge broken') == 24
    # Nothing to fetch at view time: no script, no external reference of any kind.
    assert "<script" not in html and not [u for u in re.findall(r'(?:src|href)="([^"#][^"]*)"', html)]
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html


def test_report_json_is_the_model(broken, capsys):
    rc, out, _ = cli(capsys, "report", "-i", str(broken.path), "--format", "json")
    assert rc == 2
    data = json.loads(out)
    assert {"clusters", "nodes", "edges", "findings", "milestones", "summary", "plan"} <= set(data)
    assert sum(1 for e in data["edges"] if e["verdict"] == "broken") == 24 and data["plan"] is None
    assert {m["date"] for m in data["milestones"]} >= {"2026-03-15", "2027-03-15", "2029-03-15"}


def test_report_with_a_saved_plan(broken, capsys, tmp_path):
    plan_file = tmp_path / "plan.json"
    assert cli(capsys, "plan", "-i", str(broken.path), "-o", str(plan_file))[0] in (0, 2)
    rc, out, _ = cli(capsys, "report", "-i", str(broken.path), "--plan", str(plan_file), "--format", "json")
    assert rc == 2
    data = json.loads(out)
    assert len(data["plan"]) == len(json.loads(plan_file.read_text())["actions"]) > 0
    assert all(e["planned"] for e in data["edges"] if e["verdict"] == "broken")


def test_report_offline_contacts_no_node(broken, capsys):
    log = broken.directory / ".mrakit-lab" / REQUEST_LOG
    before = log.read_text() if log.exists() else ""
    rc, out, err = cli(capsys, "report", "-i", str(broken.path), "--offline", "--format", "json")
    assert rc == 0 and err == ""  # offline, the inventory's own certificate files are judged: they are fine
    data = json.loads(out)
    assert data["mode"] == "offline" and {e["verdict"] for e in data["edges"]} == {"unknown"}
    assert (log.read_text() if log.exists() else "") == before


def test_bad_plan_and_unwritable_output_are_one_line_errors(broken, capsys, tmp_path):
    not_a_plan = tmp_path / "plan.json"
    not_a_plan.write_text("[1, 2]")
    rc, _, err = cli(capsys, "report", "-i", str(broken.path), "--plan", str(not_a_plan))
    assert rc == 1
    assert_one_line_error(err, str(not_a_plan), "not a mrakit plan")
    rc, _, err = cli(capsys, "report", "-i", str(broken.path), "--offline", "-o", str(tmp_path / "no" / "r.html"))
    assert rc == 1
    assert_one_line_error(err, "cannot write the report")


def test_doctor_format_html_is_the_report(broken, capsys):
    rc, out, _ = cli(capsys, "doctor", "-i", str(broken.path), "--format", "html")
    assert rc == 2
    assert out.startswith("<!DOCTYPE html>") and out.count('class="edge broken') == 24


def test_doctor_format_openmetrics(broken, capsys):
    rc, out, _ = cli(capsys, "doctor", "-i", str(broken.path), "--format", "openmetrics")
    assert rc == 2
    metrics = {f.name: f.samples for f in parse_openmetrics(out)}
    assert sum(1 for s in metrics["mrakit_relation_valid"] if s.value == 0) == 24
    assert len(metrics["mrakit_certificate_days_left"]) == 8


def report_schema_validator():
    import jsonschema
    from referencing import Registry, Resource

    schemas = REPO / "schemas"
    resources = []
    for path in schemas.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        resources += [(path.name, Resource.from_contents(schema)), (schema["$id"], Resource.from_contents(schema))]
    schema = json.loads((schemas / "report.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=Registry().with_resources(resources))


def test_report_json_matches_its_published_schema(broken, capsys, tmp_path):
    validator = report_schema_validator()
    plan_file = tmp_path / "plan.json"
    cli(capsys, "plan", "-i", str(broken.path), "-o", str(plan_file))
    for extra in (["--plan", str(plan_file)], ["--offline"]):
        _, out, _ = cli(capsys, "report", "-i", str(broken.path), "--format", "json", *extra)
        validator.validate(json.loads(out))
    with pytest.raises(Exception, match="is not one of"):
        data = json.loads(out)
        data["edges"][0]["verdict"] = "fine"
        validator.validate(data)
