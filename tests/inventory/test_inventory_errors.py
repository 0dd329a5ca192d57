"""Bad inventories: each one is refused with the exact place (file, line, column, dotted path) and a message
that says what is wrong. Also through the CLI: exit 1, one line on stderr, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mrakit.errors import InventoryError
from mrakit.inventory.load import load_inventory

# Line numbers of BASE, for reading the expected positions below:
#  1 version: 1
#  4     role: edge                      (expressway.exp-e starts at 4:5)
#  8       - {fqdn: expe1.acme.com}      (expressway.exp-e.peers[0])
# 10     role: control                   (expressway.exp-c starts at 10:5)
# 13     traversal: exp-e                (value at 13:16)
# 15       - fqdn: expc1.acme.local      (expressway.exp-c.peers[0].fqdn value at 15:15)
# 16       - fqdn: expc2.acme.local      (expressway.exp-c.peers[1].fqdn value at 16:15)
BASE = """\
version: 1
expressway:
  exp-e:
    role: edge
    version: X15.5.1
    cluster_fqdn: mra.acme.com
    peers:
      - {fqdn: expe1.acme.com}
  exp-c:
    role: control
    version: X15.5.1
    cluster_fqdn: expc.acme.local
    traversal: exp-e
    peers:
      - fqdn: expc1.acme.local
      - fqdn: expc2.acme.local
"""

CUCM = """\
cucm:
  cucm-main:
    version: "15"
    publisher: {fqdn: cucm-pub.acme.local}
"""


def edited(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def refusal(inventory, text: str) -> tuple[InventoryError, Path]:
    ws = inventory(text=text)
    with pytest.raises(InventoryError) as excinfo:
        load_inventory(ws.path)
    return excinfo.value, ws.path


def test_base_inventory_is_valid(inventory):
    loaded = load_inventory(inventory(text=BASE).path)
    assert [p.fqdn for c in loaded.expressway.values() for p in c.peers] == [
        "expe1.acme.com", "expc1.acme.local", "expc2.acme.local"]


CASES = [
    pytest.param(
        BASE + "inventory_name: acme\n", 17, 1, "inventory_name",
        "unknown key 'inventory_name' (expected one of: authorities, cucm, defaults, endpoints, expressway, lab, "
        "version)", id="unknown-top-level-key"),
    pytest.param(
        edited("      - fqdn: expc2.acme.local\n", "      - fqdn: expc2.acme.local\n        adress: 192.0.2.22\n"),
        17, 9, "expressway.exp-c.peers[1].adress", "unknown key 'adress' (did you mean 'address'? "
        "expected one of: address, api_port, certificate, ",
        id="unknown-peer-key"),
    pytest.param(
        edited("    cluster_fqdn: mra.acme.com\n", "    cluster_fqdn: mra.acme.com\n    traversal: exp-c\n"),
        7, 5, "expressway.exp-e.traversal", "unknown key 'traversal' (expected one of: cluster_fqdn, domains, peers",
        id="traversal-on-an-edge"),
    pytest.param(
        BASE + "defaults: {workers: eight}\n", 17, 21, "defaults.workers", "expected integer, got str 'eight'",
        id="wrong-type-workers"),
    pytest.param(
        BASE + CUCM.replace('"15"', "15.0"), 19, 14, "cucm.cucm-main.version", "expected string, got float 15.0",
        id="wrong-type-unquoted-cucm-version"),
    pytest.param(
        edited("version: X15.5.1\n    cluster_fqdn: mra", "version: 15.4\n    cluster_fqdn: mra"), 5, 14,
        "expressway.exp-e.version", "expected string, got float 15.4", id="wrong-type-expressway-version"),
    pytest.param(
        edited("role: edge", "role: expressway-e"), 4, 11, "expressway.exp-e.role",
        "expected one of 'edge', 'control'; got 'expressway-e'", id="wrong-role"),
    pytest.param(
        edited("traversal: exp-e", "traversal: exp-x"), 13, 16, "expressway.exp-c.traversal",
        "'exp-x' names no edge cluster (edge clusters: exp-e)", id="traversal-names-no-edge-cluster"),
    pytest.param(
        edited("traversal: exp-e", "traversal: exp-c"), 13, 16, "expressway.exp-c.traversal",
        "'exp-c' is a control cluster; a traversal zone pairs a control cluster with an edge cluster",
        id="traversal-names-a-control-cluster"),
    pytest.param(
        edited("    traversal: exp-e\n", ""), 10, 5, "expressway.exp-c", "missing required key 'traversal'",
        id="control-without-traversal"),
    pytest.param(
        edited("fqdn: expc2.acme.local", "fqdn: EXPC1.Acme.Local"), 16, 15, "expressway.exp-c.peers[1].fqdn",
        "duplicate FQDN 'expc1.acme.local': already used at expressway.exp-c.peers[0].fqdn",
        id="duplicate-fqdn-case-insensitive"),
    pytest.param(
        edited("fqdn: expc2.acme.local", "fqdn: expe1.acme.com"), 16, 15, "expressway.exp-c.peers[1].fqdn",
        "duplicate FQDN 'expe1.acme.com': already used at expressway.exp-e.peers[0].fqdn",
        id="duplicate-fqdn-across-clusters"),
    pytest.param(
        BASE + CUCM.replace("cucm-pub.acme.local", "expc2.acme.local"), 16, 15, "expressway.exp-c.peers[1].fqdn",
        "duplicate FQDN 'expc2.acme.local': already used at cucm.cucm-main.publisher.fqdn",
        id="duplicate-fqdn-cucm-and-expressway"),
    pytest.param(
        edited("fqdn: expc2.acme.local", "fqdn: expc_2.acme.local"), 16, 15, "expressway.exp-c.peers[1].fqdn",
        "'expc_2.acme.local' is not a valid fqdn", id="fqdn-with-underscore"),
    pytest.param(
        edited("fqdn: expc2.acme.local", "fqdn: expc2-.acme.local"), 16, 15, "expressway.exp-c.peers[1].fqdn",
        "'expc2-.acme.local' is not a valid fqdn", id="fqdn-label-ends-with-hyphen"),
    pytest.param(
        edited("fqdn: expc2.acme.local", "fqdn: expc2"), 16, 15, "expressway.exp-c.peers[1].fqdn",
        "'expc2' is not a valid fqdn", id="fqdn-single-label"),
    pytest.param(
        edited("cluster_fqdn: mra.acme.com", "cluster_fqdn: '*.acme.com'"), 6, 19, "expressway.exp-e.cluster_fqdn",
        "'*.acme.com' is a wildcard; wildcard names are not supported on Expressway (MRA004)", id="wildcard-fqdn"),
    pytest.param(
        BASE + CUCM.replace("cucm-pub.acme.local", "192.0.2.31"), 20, 23, "cucm.cucm-main.publisher.fqdn",
        "'192.0.2.31' is an IP address; name the node by its FQDN (MRA034", id="cucm-publisher-by-ipv4"),
    pytest.param(
        BASE + CUCM + "    subscribers: [{fqdn: '2001:db8::32'}]\n", 21, 26, "cucm.cucm-main.subscribers[0].fqdn",
        "'2001:db8::32' is an IP address; name the node by its FQDN (MRA034", id="cucm-subscriber-by-ipv6"),
    pytest.param(
        edited("    cluster_fqdn: expc.acme.local\n",
               "    cluster_fqdn: expc.acme.local\n    cluster_fqdn: expc2.acme.local\n"),
        13, 5, "expressway.exp-c.cluster_fqdn", "duplicate key 'cluster_fqdn'", id="duplicate-yaml-key"),
    pytest.param(
        BASE + "defaults:\n  credentials:\n    cucm: {username: ccm, password_env: CUCM_PW, password_file: pw.txt}\n",
        19, 27, "defaults.credentials.cucm.password_env",
        "give either password_env or password_file, not both", id="password-env-and-file"),
    pytest.param(
        edited("      - {fqdn: expe1.acme.com}", "      - {fqdn: expe1.acme.com, client_certificate: pki/c.pem}"),
        8, 52, "expressway.exp-e.peers[0].client_certificate",
        "a separate client certificate exists only on control clusters from X15.5 (this is edge X15.5.1)",
        id="client-certificate-on-an-edge"),
    pytest.param(
        edited("      - fqdn: expc2.acme.local\n",
               "      - fqdn: expc2.acme.local\n        client_certificate: c.pem\n",
               BASE.replace("X15.5.1", "X15.4")),
        17, 29, "expressway.exp-c.peers[1].client_certificate",
        "a separate client certificate exists only on control clusters from X15.5 (this is control X15.4.0)",
        id="client-certificate-before-x15-5"),
    pytest.param(
        edited("    traversal: exp-e\n", "    traversal: exp-e\n    trust: [acme-root]\n"), 14, 13,
        "expressway.exp-c.trust[0]", "'acme-root' names no authority (authorities: none defined)",
        id="trust-names-no-authority"),
    pytest.param(
        edited("    traversal: exp-e\n", "    traversal: exp-e\n    cucm: [cucm-main, cucm-b]\n") + CUCM, 14, 23,
        "expressway.exp-c.cucm[1]", "'cucm-b' names no CUCM cluster (CUCM clusters: cucm-main)",
        id="cucm-names-no-cucm-cluster"),
    pytest.param(
        BASE + "lab:\n  nodes:\n    expe9.acme.com: {down: true}\n", 19, 5, "lab.nodes.expe9.acme.com",
        "'expe9.acme.com' is not a node of this inventory", id="lab-node-unknown"),
    pytest.param(
        "version: 2\n", 1, 10, "version", "must be 1; got 2", id="version-2"),
]


@pytest.mark.parametrize(("text", "line", "column", "path", "message"), CASES)
def test_bad_inventory_names_file_line_column_and_path(inventory, text, line, column, path, message):
    error, file = refusal(inventory, text)
    assert (error.file, error.line, error.column, error.path) == (str(file), line, column, path)
    assert error.message.startswith(message), error.message
    assert str(error) == f"{file}:{line}:{column}: {path}: {error.message}"


def test_missing_version_points_at_the_top_of_the_file(inventory):
    error, file = refusal(inventory, "defaults: {}\n")
    assert (error.line, error.column, error.path, error.message) == (1, 1, None, "missing required key 'version'")
    assert str(error) == f"{file}:1:1: missing required key 'version'"


def test_literal_password_is_refused_without_echoing_it(inventory):
    secret = "Hunter2-not-a-real-password"
    text = BASE + f"defaults:\n  credentials:\n    expressway:\n      username: admin\n      password: {secret}\n"
    error, _file = refusal(inventory, text)
    assert (error.line, error.column, error.path) == (21, 7, "defaults.credentials.expressway.password")
    assert error.message.startswith("a literal password is not allowed in the inventory; use password_env")
    assert secret not in str(error)
    assert secret not in repr(error.args)


def test_unsafe_yaml_tag_is_refused_and_never_executed(inventory, tmp_path):
    marker = tmp_path / "pwned"
    error, _file = refusal(inventory, BASE + f"lab: !!python/object/apply:os.system ['touch {marker}']\n")
    assert (error.line, error.column) == (17, 6)
    assert "unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'" in error.message
    assert not marker.exists()


def test_yaml_merge_keys_are_refused(inventory):
    error, _file = refusal(inventory, BASE + "x: &anchor {a: 1}\ny:\n  <<: *anchor\n")
    assert (error.line, error.column) == (19, 3)
    assert "merge keys" in error.message


@pytest.mark.parametrize(("name", "content", "found"), [
    ("expe1.key", None, "found a private key"),
    ("empty.pem", "", "found an empty file"),
    ("notes.pem", "just some text\n", "found text without any PEM block"),
])
def test_certificate_file_without_a_certificate(inventory, pki, name, content, found):
    ws = inventory(text=edited("{fqdn: expe1.acme.com}", f"{{fqdn: expe1.acme.com, certificate: pki/{name}}}"))
    target = ws.dir / "pki" / name
    if content is None:
        ws.leaf("pki/expe1.pem", pki.chain("Acme").leaf("expe1.acme.com"))  # writes pki/expe1.key beside it
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    assert target.exists()
    with pytest.raises(InventoryError) as excinfo:
        load_inventory(ws.path)
    error = excinfo.value
    assert (error.line, error.column, error.path) == (8, 45, "expressway.exp-e.peers[0].certificate")
    assert error.message == f"pki/{name}: no certificate found; {found}"


def test_missing_certificate_file(inventory):
    ws = inventory(text=edited("{fqdn: expe1.acme.com}", "{fqdn: expe1.acme.com, certificate: pki/expe1.pem}"))
    with pytest.raises(InventoryError) as excinfo:
        ws.load(check_files=False)
    error = excinfo.value
    assert (error.file, error.line, error.column, error.path) == (
        str(ws.path), 8, 45, "expressway.exp-e.peers[0].certificate")
    assert error.message == "file not found: pki/expe1.pem"
    # lab init loads with require_files=False: a missing certificate is not an error there.
    loaded = load_inventory(ws.path, require_files=False)
    assert loaded.expressway["exp-e"].peers[0].certificate is None


def test_missing_cucm_certificate_file(inventory):
    ws = inventory(text=BASE + CUCM + "    certificates: {tomcat: pki/t.pem, callmanager: pki/cm.pem}\n")
    with pytest.raises(InventoryError) as excinfo:
        ws.load(check_files=False)
    assert (excinfo.value.line, excinfo.value.column, excinfo.value.path) == (
        21, 28, "cucm.cucm-main.certificates.tomcat")
    assert excinfo.value.message == "file not found: pki/t.pem"


def test_authority_file_holding_a_leaf_is_refused(inventory, pki):
    ws = inventory(text="version: 1\nauthorities:\n  acme: {file: pki/acme.pem}\n")
    ws.leaf("pki/acme.pem", pki.chain("Acme").leaf("expe1.acme.com"))
    with pytest.raises(InventoryError) as excinfo:
        ws.load()
    assert (excinfo.value.line, excinfo.value.column, excinfo.value.path) == (3, 16, "authorities.acme.file")
    assert "holds 'expe1.acme.com', which is not a CA certificate" in excinfo.value.message


SPLIT_CONTROL = """\
version: 1
expressway:
  exp-e:
    role: edge
    version: X15.5.1
    cluster_fqdn: mra.acme.com
    peers: [{fqdn: expe1.acme.com}]
  exp-c:
    role: control
    version: X15.5.1
    cluster_fqdn: expc1.acme.local
    traversal: exp-e
    peers:
      - {fqdn: expc1.acme.local, certificate: pki/expc1.pem, client_certificate: pki/c.pem, client_key: pki/typo.key}
"""


@pytest.mark.parametrize(("text", "line", "column", "path", "named"), [
    (edited("{fqdn: expe1.acme.com}", "{fqdn: expe1.acme.com, certificate: pki/expc1.pem, key: pki/typo.key}"),
     8, 65, "expressway.exp-e.peers[0].key", "pki/typo.key"),
    (SPLIT_CONTROL, 14, 105, "expressway.exp-c.peers[0].client_key", "pki/typo.key"),
], ids=["key", "client_key"])
def test_explicit_key_file_that_does_not_exist_is_an_error(inventory, pki, text, line, column, path, named):
    """A named key that does not exist is an error, like a named certificate (it used to be dropped
    silently, which skipped the MRA008 check)."""
    ws = inventory(text=text)
    acme = pki.chain("Acme")
    ws.leaf("pki/expc1.pem", acme.leaf("expc1.acme.local"))
    if "client_certificate" in text:
        ws.leaf("pki/c.pem", acme.leaf("expc1.acme.local"))
    with pytest.raises(InventoryError) as excinfo:
        ws.load()
    assert (excinfo.value.line, excinfo.value.column, excinfo.value.path) == (line, column, path)
    assert excinfo.value.message == f"file not found: {named}"
    # lab init (require_files=False) does not insist on it.
    assert load_inventory(ws.path, require_files=False).expressway


def test_default_key_beside_the_certificate_is_optional(inventory, pki):
    """No `key:` and no .key beside the certificate: nothing to check MRA008 against, and that is fine."""
    ws = inventory(text=edited("{fqdn: expe1.acme.com}", "{fqdn: expe1.acme.com, certificate: pki/expe1.pem}"))
    ws.certs("pki/expe1.pem", [pki.chain("Acme").leaf("expe1.acme.com").cert])
    assert ws.load().expressway["exp-e"].peers[0].certificate.key_path is None


# ------------------------------------------------------------------------------------------------ secrets
CREDENTIALS = """\
defaults:
  credentials:
    expressway: {username: admin, password_env: MRAKIT_TEST_EXPRESSWAY_PW_UNSET}
    cucm: {username: ccmadmin, password_file: secrets/cucm.pw}
"""


def test_password_env_unset_fails_only_when_resolved(inventory, monkeypatch):
    monkeypatch.delenv("MRAKIT_TEST_EXPRESSWAY_PW_UNSET", raising=False)
    ws = inventory(text=BASE + CREDENTIALS)
    loaded = ws.load()  # loading never reads a secret: neither the variable nor the file exists
    credential = loaded.defaults.credentials["expressway"]
    assert credential.password_env == "MRAKIT_TEST_EXPRESSWAY_PW_UNSET"

    secret = "pw-7f3a-do-not-print"
    for environ in ({}, {"MRAKIT_TEST_EXPRESSWAY_PW_UNSET": ""}, {"SOME_OTHER_VARIABLE": secret}):
        with pytest.raises(InventoryError) as excinfo:
            credential.password(environ=environ)
        assert "MRAKIT_TEST_EXPRESSWAY_PW_UNSET" in str(excinfo.value)
        assert excinfo.value.path == "defaults.credentials.expressway"
        assert secret not in str(excinfo.value)
    assert credential.password(environ={"MRAKIT_TEST_EXPRESSWAY_PW_UNSET": secret}) == secret
    assert secret not in repr(credential)


def test_password_file_is_read_only_when_resolved(inventory):
    ws = inventory(text=BASE + CREDENTIALS)
    credential = ws.load().defaults.credentials["cucm"]
    assert credential.password_file == ws.dir / "secrets" / "cucm.pw"
    with pytest.raises(InventoryError) as excinfo:
        credential.password(environ={})
    assert "secrets/cucm.pw" in str(excinfo.value) and excinfo.value.path == "defaults.credentials.cucm"
    secret_file = ws.dir / "secrets" / "cucm.pw"
    secret_file.parent.mkdir()
    fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"file-secret-91\r\n")
    os.close(fd)
    assert credential.password(environ={}) == "file-secret-91"


def test_validate_does_not_need_the_password_variable(inventory, run_mrakit):
    ws = inventory(text=BASE + CREDENTIALS)
    env = {k: v for k, v in os.environ.items() if k != "MRAKIT_TEST_EXPRESSWAY_PW_UNSET"}
    assert "MRAKIT_TEST_EXPRESSWAY_PW_UNSET" not in env
    proc = run_mrakit("validate", "-i", ws.path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "3 nodes" in proc.stdout


# -------------------------------------------------------------------------------------------------- CLI
@pytest.mark.parametrize(("command", "text", "where"), [
    ("validate", BASE + "inventory_name: acme\n", ":17:1: inventory_name: unknown key 'inventory_name'"),
    ("desired", edited("traversal: exp-e", "traversal: exp-x"),
     ":13:16: expressway.exp-c.traversal: 'exp-x' names no edge cluster"),
    ("validate", BASE + "lab: !!python/object/apply:os.system ['true']\n", ":17:6: unsupported YAML tag"),
    ("desired", edited("{fqdn: expe1.acme.com}", "{fqdn: expe1.acme.com, certificate: pki/expe1.pem}"),
     ":8:45: expressway.exp-e.peers[0].certificate: file not found: pki/expe1.pem"),
    ("validate", "version: 1\nexpressway: [\n", ":3:1: not valid YAML"),
])
def test_cli_bad_input_exits_1_with_one_line(inventory, run_mrakit, command, text, where):
    ws = inventory(text=text)
    proc = run_mrakit(command, "-i", ws.path)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"mrakit: error: {ws.path}{where}"), lines[0]
    assert "Traceback" not in proc.stderr


def test_cli_inventory_file_not_found(run_mrakit, tmp_path):
    missing = tmp_path / "nope.yaml"
    proc = run_mrakit("validate", "-i", missing)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [f"mrakit: error: {missing}: inventory file not found"]


def test_cli_desired_unknown_node_exits_1(inventory, run_mrakit):
    ws = inventory(text=BASE)
    proc = run_mrakit("desired", "-i", ws.path, "--node", "expe9.acme.com")
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [f"mrakit: error: no node 'expe9.acme.com' in {ws.path}"]
