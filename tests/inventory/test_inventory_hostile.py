"""Hostile and careless inventories: non-finite numbers, huge files, deep nesting, recursive aliases,
symbolic link loops and loose password files are refused with one located line, never a traceback."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from test_inventory_errors import BASE, refusal

from mrakit.errors import InventoryError
from mrakit.files import MAX_INVENTORY_BYTES
from mrakit.inventory.load import load_inventory


@pytest.mark.parametrize(("snippet", "field", "column"), [
    ("defaults: {max_removal_ratio: .nan}\n", "defaults.max_removal_ratio", 31),
    ("defaults: {timeouts: {connect: .nan}}\n", "defaults.timeouts.connect", 32),
    ("defaults: {timeouts: {read: .inf}}\n", "defaults.timeouts.read", 29),
    ("defaults: {max_removal_ratio: -.Inf}\n", "defaults.max_removal_ratio", 31),
    ("defaults: {timeouts: {connect: 1.0e+999}}\n", "defaults.timeouts.connect", 32),
])
def test_non_finite_numbers_are_refused_where_they_are(inventory, snippet: str, field: str, column: int) -> None:
    error, _ = refusal(inventory, BASE + snippet)
    assert error.path == field
    assert (error.line, error.column) == (17, column)
    assert "must be finite" in error.message


def test_an_inventory_larger_than_the_limit_is_refused_at_once(inventory) -> None:
    ws = inventory(text=BASE)
    with ws.path.open("a") as handle:
        handle.write("# " + "x" * (MAX_INVENTORY_BYTES + 10) + "\n")
    started = time.monotonic()
    with pytest.raises(InventoryError) as excinfo:
        load_inventory(ws.path)
    assert time.monotonic() - started < 5
    assert "larger than 2 MiB, the size limit for an inventory" in str(excinfo.value)


def test_dev_zero_is_refused_by_size_not_by_the_kernel(run_mrakit) -> None:
    completed = run_mrakit("validate", "-i", "/dev/zero")
    assert completed.returncode == 1
    assert completed.stderr.strip() == "mrakit: error: /dev/zero: larger than 2 MiB, the size limit for an inventory"
    assert len(completed.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("depth", [70, 5000])
def test_deep_nesting_is_a_located_error(inventory, depth: int) -> None:
    error, _ = refusal(inventory, BASE + "lab: {nodes: " + "[" * depth + "]" * depth + "}\n")
    assert "nested more than 64 levels deep" in error.message
    assert error.line == 17 and error.column is not None


@pytest.mark.parametrize("text", [
    "version: 1\nexpressway: &loop {x: *loop}\n",
    "version: 1\nlab: {nodes: &l [*l]}\n",
])
def test_a_recursive_alias_is_a_located_error(inventory, text: str) -> None:
    error, _ = refusal(inventory, text)
    assert "recursive alias" in error.message and error.line == 2


def test_a_symlink_loop_says_so(tmp_path: Path, run_mrakit) -> None:
    loop = tmp_path / "inventory.yaml"
    os.symlink(loop, loop)
    completed = run_mrakit("validate", "-i", loop)
    assert completed.returncode == 1
    [line] = completed.stderr.strip().splitlines()
    assert "symbolic link loop" in line and "internal error" not in line


def test_a_certificate_path_that_is_a_symlink_loop_says_so(inventory) -> None:
    ws = inventory(text=BASE.replace("{fqdn: expe1.acme.com}", "{fqdn: expe1.acme.com, certificate: loop.pem}"))
    os.symlink(ws.dir / "loop.pem", ws.dir / "loop.pem")
    with pytest.raises(InventoryError) as excinfo:
        load_inventory(ws.path)
    assert "symbolic link loop" in excinfo.value.message
    assert excinfo.value.path == "expressway.exp-e.peers[0].certificate"


# --- password files --------------------------------------------------------------------------------
PASSWORD_FILE = BASE + "defaults:\n  credentials:\n    cucm: {username: ccmadmin, password_file: cucm.pw}\n"


def _credential(inventory, content: bytes, mode: int):  # type: ignore[no-untyped-def]
    ws = inventory(text=PASSWORD_FILE)
    secret = ws.dir / "cucm.pw"
    secret.write_bytes(content)
    secret.chmod(mode)
    return ws.load().defaults.credentials["cucm"], secret


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_password_file_others_can_read_is_refused(inventory, mode: int) -> None:
    credential, secret = _credential(inventory, b"file-secret-91\n", mode)
    with pytest.raises(InventoryError) as excinfo:
        credential.password(environ={})
    message = str(excinfo.value)
    assert "readable by others" in message and f"chmod 600 {secret}" in message
    assert "file-secret-91" not in message
    assert excinfo.value.path == "defaults.credentials.cucm"


@pytest.mark.parametrize("content", [b"", b"\n", b"\r\n"])
def test_an_empty_password_file_is_refused_like_an_empty_variable(inventory, content: bytes) -> None:
    credential, _ = _credential(inventory, content, 0o600)
    with pytest.raises(InventoryError, match="is empty"):
        credential.password(environ={})


def test_a_private_password_file_still_works(inventory) -> None:
    credential, _ = _credential(inventory, b"file-secret-91\n", 0o400)
    assert credential.password(environ={}) == "file-secret-91"


# --- peer keys ---------------------------------------------------------------------------------------
def _key_inventory(inventory, pki, key_line: str):  # type: ignore[no-untyped-def]
    text = BASE.replace("{fqdn: expe1.acme.com}", "{fqdn: expe1.acme.com, certificate: pki/expe1.pem" + key_line + "}")
    ws = inventory(text=text)
    ws.certs("pki/expe1.pem", [pki.chain("Acme").leaf("expe1.acme.com", ["expe1.acme.com"]).cert])
    return ws


def _unusable_key(ws, how: str) -> Path:  # type: ignore[no-untyped-def]
    from mrakit.pki.keys import generate_private_key, write_private_key

    target = ws.dir / "pki" / "expe1.key"
    if how == "directory":
        target.mkdir()
    elif how == "empty":
        target.write_bytes(b"")
    elif how == "garbage":
        target.write_bytes(os.urandom(300))
    else:
        write_private_key(target, generate_private_key("p256"), passphrase=b"not-given")
    return target


@pytest.mark.parametrize(("how", "needle"), [("encrypted", "encrypted and no passphrase"),
                                             ("directory", "is a directory"), ("empty", "an empty file"),
                                             ("garbage", "no private key found")])
def test_an_explicit_peer_key_that_cannot_be_used_is_a_located_error(inventory, pki, how: str, needle: str) -> None:
    ws = _key_inventory(inventory, pki, ", key: pki/expe1.key")
    _unusable_key(ws, how)
    with pytest.raises(InventoryError) as excinfo:
        load_inventory(ws.path)
    assert excinfo.value.path == "expressway.exp-e.peers[0].key"
    assert needle in excinfo.value.message and "pki/expe1.key" in excinfo.value.message


@pytest.mark.parametrize("how", ["encrypted", "directory", "empty", "garbage"])
def test_a_key_beside_the_certificate_that_cannot_be_used_is_an_error_finding(inventory, pki, how: str) -> None:
    from mrakit.desired import desired_state
    from mrakit.findings import Severity
    from mrakit.rules.registry import judge_desired

    ws = _key_inventory(inventory, pki, "")
    _unusable_key(ws, how)
    loaded = load_inventory(ws.path)
    findings = [f for f in judge_desired(loaded, desired_state(loaded)).all()
                if f.code == "MRA008"]
    assert [f.severity for f in findings] == [Severity.ERROR]
    assert "cannot use the server key" in findings[0].message
