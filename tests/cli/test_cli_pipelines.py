"""mrakit in pipelines: -v/-q, JSON errors, every validation problem, exit codes, saved plans that
find their inventory, stale or foreign plans refused before they are shown, --limit and verification,
usage, shell completion, and the smaller commands' conventions."""

from __future__ import annotations

import json
import re
import subprocess
import time

import yaml
from _clikit import MRAKIT, env, run
from mrakit_testkit import PASSWORDS, REPO

from mrakit.inventory.load import load_inventory
from mrakit.lab.seed import SCENARIOS
from mrakit.lab.state import LabState
from mrakit.pki.ca import CertificateAuthority
from mrakit.session import connect


def one_line_error(ran) -> str:  # type: ignore[no-untyped-def]
    lines = ran.err.strip().splitlines()
    assert ran.code == 1 and len(lines) == 1 and lines[0].startswith("mrakit: error: "), ran
    return lines[0]


# --- -v / -q ------------------------------------------------------------------------------------------------

def test_verbose_shows_every_request_and_retry_but_no_secret(make_deployment):
    inventory = make_deployment("fresh", {"lab": {"error_rate": 0.3, "seed": 7}}).path
    ran = run("plan", "-i", inventory, "-v")
    assert ran.code == 0, ran.err
    requests = re.findall(r"^mrakit: (\S+) (GET|POST) (/\S*) -> (\d{3}) \((\d+\.\d{3}) s\)$", ran.err, re.MULTILINE)
    assert {r[0] for r in requests} >= {"expe1.acme.com", "cucm-pub.acme.local"}
    assert any(status == "503" for *_, status, _ in requests)  # the lab's injected errors are shown
    assert re.search(r"^mrakit: \S+ GET /\S*: retry \d+ after: .*503", ran.err, re.MULTILINE), ran.err
    for secret in PASSWORDS.values():
        assert secret not in ran.err + ran.out
    quiet_run = run("plan", "-i", inventory)
    assert not re.search(r" -> \d{3} \(", quiet_run.err)  # without -v: no request lines


def test_quiet_prints_only_the_summary(make_deployment):
    inventory = make_deployment("fresh").path
    planned = run("plan", "-i", inventory, "-q")
    assert planned.code == 0 and planned.err == ""
    assert planned.out.splitlines() == ["Plan: 12 trust to add on 4 nodes"]
    applied = run("apply", "-i", inventory, "--yes", "-q")
    assert applied.code == 0 and applied.err == ""
    assert applied.out.splitlines() == ["Apply: 12 changed; 32/32 trust relations verified"]
    validated = run("-q", "validate", "-i", inventory)
    assert validated.out.strip().count("\n") == 0, validated.out


# --- errors as JSON, every problem listed ---------------------------------------------------------------------

def test_format_json_errors_are_json_on_stdout_with_the_same_exit_code(tmp_path):
    missing = tmp_path / "nope.yaml"
    for args in (["plan", "-i", missing, "--format", "json"], ["validate", "-i", missing, "--format=json"],
                 ["doctor", "-i", missing, "--format", "json"], ["cert", "show", missing, "--format", "json"]):
        ran = run(*args)
        assert ran.code == 1, (args, ran)
        error = json.loads(ran.out)["error"]
        assert error["exit_code"] == 1 and "nope.yaml" in error["message"], error
        assert one_line_error(ran).endswith(error["message"])
    text = run("plan", "-i", missing)
    assert text.code == 1 and text.out == ""  # text mode: stderr only, as before


def test_validate_lists_every_schema_problem(tmp_path):
    data = yaml.safe_load((REPO / "inventory.example.yaml").read_text())
    data["defaults"]["workerz"] = 3
    data["expressway"]["exp-e"]["rol"] = "edge"
    data["cucm"]["cucm-main"]["tls_verify"] = "sometimes"
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    ran = run("validate", "-i", path)
    assert ran.code == 1
    lines = ran.err.strip().splitlines()
    assert len(lines) >= 3 and all(line.startswith(f"mrakit: error: {path}:") for line in lines), ran.err
    text = "\n".join(lines)
    assert "workerz" in text and "rol" in text and "tls_verify" in text and "more problem" not in text
    as_json = json.loads(run("validate", "-i", path, "--format", "json").out)["error"]
    assert len(as_json["problems"]) == len(lines)
    assert {p["line"] for p in as_json["problems"]} and all(p["file"] == str(path) for p in as_json["problems"])
    # other commands keep one line, counting the rest
    planned = run("plan", "-i", path)
    assert "more problem" in one_line_error(planned)


# --- usage and completion -----------------------------------------------------------------------------------------

def test_bare_mrakit_prints_usage_and_exits_2():
    for args in ([], ["lab"], ["cert"]):
        ran = run(*args)
        assert ran.code == 2 and "Usage: mrakit" in ran.err and "Traceback" not in ran.err, (args, ran)


def test_shell_completion_works_as_the_readme_says():
    readme = (REPO / "README.md").read_text()
    assert "_MRAKIT_COMPLETE=bash_source mrakit" in readme
    script = subprocess.run([str(MRAKIT)], env=env(_MRAKIT_COMPLETE="bash_source"), capture_output=True,
                            text=True, timeout=60, check=False)
    assert script.returncode == 0 and "_mrakit_completion" in script.stdout
    words = subprocess.run([str(MRAKIT)], env=env(_MRAKIT_COMPLETE="bash_complete", COMP_WORDS="mrakit pl",
                                                  COMP_CWORD="1"), capture_output=True, text=True, timeout=60)
    assert "plain,plan" in words.stdout


# --- plan and apply in a pipeline -----------------------------------------------------------------------------------

def test_detailed_exitcode_counts_pending_manual_steps_as_changes(make_deployment):
    inventory = make_deployment("self-signed-cucm").path
    assert run("apply", "-i", inventory, "--yes", "-q").code in (0, 1)
    planned = run("plan", "-i", inventory, "--detailed-exitcode", "-q")
    assert planned.out.strip() == "Plan: 1 manual step", planned.out
    assert planned.code == 2
    assert run("plan", "-i", inventory, "-q").code == 0  # without the flag: 0


def test_saved_plan_applies_without_i_from_anywhere(make_deployment, tmp_path):
    inventory = make_deployment("fresh").path
    saved = tmp_path / "plan.json"
    planned = run("plan", "-i", inventory, "-o", saved)
    assert planned.code == 0 and f"mrakit apply {saved}" in planned.out
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    applied = run("apply", saved, "--yes", cwd=elsewhere)
    assert applied.code == 0, applied.err
    assert "32/32 trust relations verified" in applied.out


def test_a_stale_plan_is_refused_before_it_is_printed(make_deployment, tmp_path):
    inventory = make_deployment("fresh").path
    saved = tmp_path / "plan.json"
    assert run("plan", "-i", inventory, "-o", saved).code == 0
    with connect(load_inventory(inventory)) as connections:
        connections.expressway["expe1.acme.com"].add_trusted_ca(CertificateAuthority.create_root("Hand Made").cert)
    applied = run("apply", saved, "--yes")
    assert "stale" in one_line_error(applied) and "expe1.acme.com" in applied.err
    assert applied.out == "", "nothing of the refused plan is shown"


def test_a_plan_from_another_inventory_says_so(make_deployment, tmp_path):
    first = make_deployment("fresh").path
    other = make_deployment("fresh").path
    other.write_text(other.read_text() + "\n# another inventory\n")
    saved = tmp_path / "plan.json"
    assert run("plan", "-i", first, "-o", saved).code == 0
    applied = run("apply", "-i", other, saved, "--yes")
    message = one_line_error(applied)
    assert "made from another inventory" in message and str(first) in message and str(other) in message
    assert "stale" not in message


def test_plan_limit_then_apply_judges_only_the_relations_inside_the_limit(make_deployment, tmp_path):
    inventory = make_deployment("fresh").path
    saved = tmp_path / "plan.json"
    assert run("plan", "-i", inventory, "--limit", "exp-c", "-o", saved).code == 0
    assert json.loads(saved.read_text())["limit"] == ["exp-c"]
    report = tmp_path / "report.json"
    applied = run("apply", saved, "--yes", "--report", report)
    assert applied.code == 0, applied.out + applied.err
    summary = applied.out.strip().splitlines()[-1]
    assert summary == "Apply: 8 changed; 12/12 trust relations verified, 20 outside --limit not checked", summary
    counts = json.loads(report.read_text())["relations"]
    assert counts == {"expected": 12, "verified": 12, "not_verified": 0, "not_judged": 0, "out_of_scope": 20}


def test_an_unreachable_node_is_named_and_its_relations_counted_as_not_judged(make_deployment):
    inventory = make_deployment("fresh", {"lab": {"nodes": {"expe2.acme.com": {"down": True}}}}).path
    planned = run("plan", "-i", inventory, "-q")
    assert planned.code == 1
    assert "1 node could not be read (expe2.acme.com)" in planned.out
    applied = run("apply", "-i", inventory, "--yes", "-q")
    assert applied.code == 1
    summary = applied.out.strip()
    assert re.fullmatch(r"Apply: \d+ changed[^;]*; (\d+)/32 trust relations verified, (\d+) not judged "
                        r"\(nodes unreachable\); 1 node unreachable \(expe2\.acme\.com\)", summary), summary
    verified, not_judged = map(int, re.search(r"(\d+)/32 .*, (\d+) not judged", summary).groups())  # type: ignore[union-attr]
    assert verified + not_judged == 32 and not_judged > 0


# --- the smaller commands -------------------------------------------------------------------------------------

def test_cert_show_judges_ekus_for_a_version(make_deployment):
    deployment = make_deployment("fresh")
    edge_cert = deployment.directory / "pki" / "expe1.pem"
    default = run("cert", "show", edge_cert)
    assert default.code == 2 and "MRA001" in default.out  # serverAuth-only: wrong before X15.4
    x155 = run("cert", "show", edge_cert, "--version", "X15.5.1")
    assert x155.code == 0 and "MRA001" not in x155.out, x155.out
    old = run("cert", "show", edge_cert, "--version", "X15.3", "--format", "json")
    assert old.code == 2 and "X15.3" in json.dumps(json.loads(old.out))
    assert run("cert", "show", edge_cert, "--version", "X15.4", "--server-eku-upload").code == 0
    bad = run("cert", "show", edge_cert, "--version", "fifteen")
    assert "--version" in one_line_error(bad)


def test_doctor_node_counts_one_node(make_deployment):
    inventory = make_deployment("fresh").path
    ran = run("doctor", "-i", inventory, "--node", "expe1.acme.com", "--format", "json", "--offline")
    summary = json.loads(ran.out)["summary"]
    assert summary["nodes"] == 1, summary
    assert "on 1 node(s)" in run("doctor", "-i", inventory, "--node", "expe1.acme.com", "--offline").out


def test_lab_init_help_describes_every_scenario():
    ran = run("lab", "init", "--help")
    assert ran.code == 0
    flat = " ".join(ran.out.split())
    for name, description in SCENARIOS.items():
        assert f"{name} {' '.join(description.split())}" in flat, name


def test_a_scenario_that_breaks_nothing_for_the_inventory_versions_says_so(make_deployment):
    deployment = make_deployment("fresh")  # X15.5.1 edges take serverAuth-only certificates
    ran = run("lab", "init", "-i", deployment.path, "--scenario", "x15-clientauth-loss")
    assert ran.code == 0 and "breaks nothing here" in ran.out, ran.out
    data = yaml.safe_load(deployment.path.read_text())
    data["expressway"]["exp-e"]["version"] = data["expressway"]["exp-c"]["version"] = "X15.3.1"
    deployment.path.write_text(yaml.safe_dump(data, sort_keys=False))
    ran = run("lab", "init", "-i", deployment.path, "--scenario", "x15-clientauth-loss")
    assert ran.code == 0 and "breaks nothing" not in ran.out, ran.out


def test_lab_serve_takes_up_changes_other_commands_made(make_deployment):
    deployment = make_deployment("fresh")
    inventory = load_inventory(deployment.path)
    serve = subprocess.Popen([str(MRAKIT), "lab", "serve", "-i", str(deployment.path)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env(), stdin=subprocess.DEVNULL)
    try:
        described = json.loads(serve.stdout.readline())  # type: ignore[union-attr]
        endpoints = {fqdn: node["api"] for fqdn, node in described["nodes"].items()}

        def served_trust() -> int:
            with connect(inventory, lab_endpoints=endpoints) as connections:
                return len(connections.expressway["expc1.acme.local"].trusted_cas())

        before = served_trust()
        assert run("apply", "-i", deployment.path, "--yes", "-q").code == 0  # its own lab, same state folder
        on_disk = len(LabState.load(inventory.lab_state_dir).expressway["expc1.acme.local"].trust)
        assert on_disk > before
        line = serve.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("lab: changed by another command, now served: ") and "expc1.acme.local" in line
        deadline = time.monotonic() + 10
        while served_trust() != on_disk and time.monotonic() < deadline:
            time.sleep(0.2)
        assert served_trust() == on_disk
    finally:
        serve.terminate()
        serve.wait(timeout=30)


def test_output_options_are_on_every_command():
    from mrakit.cli import cli

    def commands(group, prefix=()):  # type: ignore[no-untyped-def]
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                yield from commands(command, (*prefix, name))
            else:
                yield (*prefix, name), command

    for path, command in commands(cli):
        names = {opt for param in command.params for opt in param.opts}
        assert {"--no-color", "-v", "-q"} <= names, path

