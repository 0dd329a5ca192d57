"""`mrakit doctor` on the command line: --rules, JSON shape, exit codes, --node, --offline."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from _doctorkit import (
    EXPC1,
    EXPE1,
    EXPE2,
    RULE_BOOK,
    doctor_schema_validator,
    rule_book_codes,
    run_cli,
)
from mrakit_testkit import cli

from mrakit.rules.registry import RULES

FINDING_KEYS = {"code", "severity", "cluster", "node", "message", "fix", "evidence"}
SUMMARY_KEYS = {"mode", "nodes", "error", "warning", "info", "handshakes", "disagreements"}




def assert_one_line_error(err: str) -> None:
    assert err.startswith("mrakit: error: "), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


# --- --rules -----------------------------------------------------------------------------------------------

def book_codes() -> list[str]:
    codes = rule_book_codes()
    assert len(codes) >= 20, codes  # the parse found the tables
    return codes


def test_rules_text_lists_every_rule_of_the_book(capsys):
    codes = book_codes()
    rc, out, _ = cli(capsys, "doctor", "--rules")
    assert rc == 0
    lines = out.splitlines()
    registry = {r.code: r for r in RULES}
    for code in codes:
        rows = [i for i, line in enumerate(lines) if line.startswith(f"{code} ")]
        assert len(rows) == 1, f"{code} is not listed once by `doctor --rules`"
        row = lines[rows[0]]
        assert row.endswith(registry[code].title)
        mark = row[len(code):-len(registry[code].title)].strip()
        assert mark == ("checked" if registry[code].checked else "not checked"), row
        how = lines[rows[0] + 1].strip()
        assert how and how == registry[code].how  # how it is checked, or why it cannot be


def test_rules_json_lists_every_rule_of_the_book(capsys):
    codes = book_codes()
    rc, out, _ = cli(capsys, "doctor", "--rules", "--format", "json")
    assert rc == 0
    rules = json.loads(out)["rules"]
    by_code = {r["code"]: r for r in rules}
    assert set(codes) <= set(by_code)
    assert {c for c in by_code if c.startswith("MRA")} == set(codes)  # and no rule the book does not have
    for rule in rules:
        assert set(rule) == {"code", "title", "checked", "how"}
        assert isinstance(rule["checked"], bool) and rule["title"] and rule["how"]
    # guidance rules of the book that cannot be observed say so
    assert by_code["MRA024"]["checked"] is False and by_code["MRA030"]["checked"] is False
    assert all(by_code[c]["checked"] for c in codes if c not in ("MRA024", "MRA030"))


def test_rule_book_explains_every_rule_in_four_parts():
    """docs/rules.md has a section for every rule the code knows (and none it does not), each saying
    what the rule is, why, how to fix it and how mrakit checks it."""
    text = RULE_BOOK.read_text(encoding="utf-8")
    sections = re.split(r"^### ", text, flags=re.MULTILINE)[1:]
    by_code = {section.split(" ", 1)[0]: section for section in sections}
    assert set(by_code) == {r.code for r in RULES} | {"INV001"}
    for code, section in by_code.items():
        for part in ("**What**", "**Why**", "**Fix**", "**How mrakit checks**"):
            assert f"- {part}: " in section, f"{code} lacks {part}"


def test_rules_need_no_inventory(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, _ = cli(capsys, "doctor", "--rules")
    assert rc == 0 and "HS001" in out and "NET001" in out


# --- JSON shape and exit codes ------------------------------------------------------------------------------

def test_json_shape_and_exit_2_on_an_error_finding(deploy, capsys):
    d = deploy("missing-intermediate")
    rc, out, err = cli(capsys, "doctor", "-i", str(d.path), "--format", "json")
    assert rc == 2, err
    data = json.loads(out)
    assert {"findings", "summary"} <= set(data)
    doctor_schema_validator().validate(data)  # the published schema
    assert data["findings"], "missing-intermediate has findings"
    for finding in data["findings"]:
        assert set(finding) == FINDING_KEYS
        assert finding["severity"] in ("error", "warning", "info")
        assert isinstance(finding["evidence"], dict)
    summary = data["summary"]
    assert set(summary) >= SUMMARY_KEYS
    assert summary["mode"] == "online" and summary["nodes"] == 6 and summary["handshakes"] == 16
    for severity in ("error", "warning", "info"):
        assert summary[severity] == sum(1 for f in data["findings"] if f["severity"] == severity)
    errors = [(f["code"], f["node"]) for f in data["findings"] if f["severity"] == "error"]
    assert sorted(errors) == [("MRA020", EXPC1), ("MRA020", EXPC1), ("MRA020", "expc2.acme.local"),
                              ("MRA020", "expc2.acme.local")]


def test_exit_0_without_error_findings(applied, capsys):
    d = applied()
    rc, out, err = cli(capsys, "doctor", "-i", str(d.path))
    assert rc == 0, out + err
    assert "doctor (online): 0 error(s)" in out
    assert "HANDSHAKES (16)" in out


def test_exit_0_on_a_subprocess_with_json(applied):
    d = applied()
    result = run_cli(["doctor", "-i", str(d.path), "--format", "json"])
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["summary"]["error"] == 0
    assert {(f["code"], f["node"]) for f in data["findings"] if f["severity"] == "info"} == {
        ("OUT002", EXPE1), ("OUT002", EXPE2)}


@pytest.mark.parametrize("problem", ["missing", "not-yaml", "not-an-inventory", "directory"])
def test_exit_1_when_the_inventory_cannot_be_read(tmp_path, problem):
    path = tmp_path / "inventory.yaml"
    if problem == "not-yaml":
        path.write_text("version: 1\nexpressway: [unclosed\n")
    elif problem == "not-an-inventory":
        path.write_text("version: 7\n")
    elif problem == "directory":
        path.mkdir()
    result = run_cli(["doctor", "-i", str(path)])
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert_one_line_error(result.stderr)
    assert result.stdout == ""


def test_exit_1_when_the_lab_was_never_initialised(deploy, capsys):
    d = deploy()
    shutil.rmtree(d.state_dir)
    rc, _, err = cli(capsys, "doctor", "-i", str(d.path))
    assert rc == 1
    assert_one_line_error(err)
    assert "lab init" in err


def test_exit_1_on_usage_errors(capsys, tmp_path):
    rc, _, err = cli(capsys, "doctor")
    assert rc == 1 and "-i INVENTORY" in err
    assert_one_line_error(err)
    rc, _, err = cli(capsys, "doctor", "-i", str(tmp_path / "x.yaml"), "--phone-roots", str(tmp_path / "none.pem"))
    assert rc == 1
    assert_one_line_error(err)
    rc, _, err = cli(capsys, "doctor", "--rules", "--format", "xml")
    assert rc == 1
    assert_one_line_error(err)


def test_phone_roots_option(applied, capsys, tmp_path):
    d = applied()
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(d.cas().private_root.cert.pem)  # not the edge's root
    rc, out, _ = cli(capsys, "doctor", "-i", str(d.path), "--offline", "--phone-roots", str(bundle), "--format",
                     "json")
    assert rc == 2
    assert sorted(f["node"] for f in json.loads(out)["findings"] if f["code"] == "MRA005") == [EXPE1, EXPE2]


# --- --node ----------------------------------------------------------------------------------------------

def test_node_filter(deploy, capsys):
    d = deploy("missing-intermediate")
    rc, out, _ = cli(capsys, "doctor", "-i", str(d.path), "--node", "EXPC1.acme.local", "--format", "json")
    assert rc == 2
    data = json.loads(out)
    assert [f["node"] for f in data["findings"]] == [EXPC1, EXPC1]
    assert data["proofs"] and all(EXPC1 in (p["client"], p["server"]) for p in data["proofs"])
    rc, out, _ = cli(capsys, "doctor", "-i", str(d.path), "--node", EXPE1, "--format", "json")
    assert rc == 0  # the edge's own findings are not errors: the C cannot validate it, the C is at fault
    assert {f["code"] for f in json.loads(out)["findings"]} == {"OUT002"}


def test_node_filter_on_an_unknown_node_is_an_error(deploy, capsys):
    """A typo in --node must not look like a clean bill of health."""
    d = deploy("missing-intermediate")
    rc, out, err = cli(capsys, "doctor", "-i", str(d.path), "--node", "nowhere.acme.com", "--format", "json")
    assert rc == 1 and json.loads(out) == {"error": {"message": f"no node 'nowhere.acme.com' in {d.path}",
                                                     "exit_code": 1}}  # --format json: the error as JSON too
    assert err.strip() == f"mrakit: error: no node 'nowhere.acme.com' in {d.path}"


# --- --offline ---------------------------------------------------------------------------------------------

def test_offline_needs_no_lab(deploy, capsys):
    d = deploy()
    public_chain = d.directory / "pki" / "public-chain.pem"
    shutil.rmtree(d.state_dir)  # connection: lab, and no lab state at all
    rc, out, err = cli(capsys, "doctor", "-i", str(d.path), "--offline", "--phone-roots", str(public_chain),
                       "--format", "json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["summary"]["mode"] == "offline" and data["summary"]["handshakes"] == 0 and data["proofs"] == []
    assert {f["code"] for f in data["findings"]} == {"OUT002"}
    assert not d.state_dir.exists()  # nothing started, nothing written


def test_offline_leaves_the_lab_untouched(deploy, capsys):
    d = deploy("missing-intermediate")
    state = (d.state_dir / "state.json").read_bytes()
    rc, out, _ = cli(capsys, "doctor", "-i", str(d.path), "--offline")
    assert rc == 0  # offline there is no trust list to judge: the missing intermediate is not visible
    assert "doctor (offline)" in out and "HANDSHAKES" not in out
    assert d.request_log() == []
    assert (d.state_dir / "state.json").read_bytes() == state
    # online, the same deployment is read through the lab's API (and the error is found)
    rc, _, _ = cli(capsys, "doctor", "-i", str(d.path))
    assert rc == 2 and {e["node"] for e in d.request_log()} >= {EXPC1, EXPE1}
