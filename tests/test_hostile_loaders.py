"""Property test: every loader of a file mrakit reads (inventory, certificates in PEM/DER/PKCS#7, keys,
CSRs, saved plans, CSR manifests) answers random bytes and random YAML/JSON structures either with a
result or with a MrakitError subclass (one line) — never any other exception."""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mrakit_testkit import EXAMPLE

from mrakit.errors import MrakitError
from mrakit.inventory.load import load_inventory
from mrakit.pki.load import load_certificates_file, load_csr_file, load_private_key_file
from mrakit.planner import Plan
from mrakit.renew import MANIFEST, read_manifest

# Random examples on a developer's machine (new ones every run); the same examples in CI (CI=true), so
# that what CI judges is reproducible.
PROPERTY = settings(max_examples=120, deadline=None, database=None, derandomize=bool(os.environ.get("CI")),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["", "lab", "rest", "edge", "control", "X15.5.1", "15.0.1", "expe1.acme.com", "pki/x.pem",
                     "acme-root", "exp-e", "cucm-main", "MRAKIT_CUCM_PASSWORD"]),
)
structures = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=12) | st.sampled_from(
                                ["version", "defaults", "expressway", "cucm", "peers", "fqdn", "role", "lab",
                                 "timeouts", "connect", "credentials", "nodes", "trust"]), inner, max_size=4)),
    max_leaves=25,
)


def _only_mrakit_errors(call: Any, *args: Any, **kwargs: Any) -> None:
    try:
        call(*args, **kwargs)
    except MrakitError as exc:
        assert "\n" not in str(exc), str(exc)


def _yaml(value: Any) -> str:
    return yaml.safe_dump(value, allow_unicode=True)


# --- inventory ----------------------------------------------------------------------------------------

@PROPERTY
@given(st.binary(max_size=2048))
def test_inventory_from_random_bytes(tmp_path_factory: Any, data: bytes) -> None:
    path = tmp_path_factory.mktemp("inv") / "inventory.yaml"
    path.write_bytes(data)
    _only_mrakit_errors(load_inventory, path, require_files=False)


@PROPERTY
@given(structures)
def test_inventory_from_random_yaml_structures(value: Any) -> None:
    _only_mrakit_errors(load_inventory, "random.yaml", require_files=False, text=_yaml(value))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


EXAMPLE_DATA = yaml.safe_load(EXAMPLE.read_text())
EXAMPLE_PATHS = _paths(EXAMPLE_DATA)[1:]


@PROPERTY
@given(st.lists(st.tuples(st.sampled_from(EXAMPLE_PATHS), structures), min_size=1, max_size=3))
def test_the_example_inventory_with_random_values_spliced_in(edits: list[tuple[tuple[Any, ...], Any]]) -> None:
    """Close to a real inventory, so the damage reaches the builder, not only the schema."""
    data = copy.deepcopy(EXAMPLE_DATA)
    for path, value in edits:
        target = data
        try:
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    _only_mrakit_errors(load_inventory, EXAMPLE, require_files=False, text=_yaml(data))


# --- certificates, keys, CSRs read from files ------------------------------------------------------------

@PROPERTY
@given(st.binary(max_size=4096))
def test_certificate_key_and_csr_files_from_random_bytes(tmp_path_factory: Any, data: bytes) -> None:
    path = tmp_path_factory.mktemp("pki") / "file.pem"
    path.write_bytes(data)
    for loader in (load_certificates_file, load_private_key_file, load_csr_file):
        _only_mrakit_errors(loader, path)


# --- saved plans ----------------------------------------------------------------------------------------

def _a_plan() -> dict[str, Any]:
    from mrakit.desired import Reason
    from mrakit.pki import CertificateAuthority
    from mrakit.planner import Action

    root = CertificateAuthority.create_root("Property Root")
    action = Action(id="1-trust.add-expe1.acme.com-0", phase=1, kind="trust.add", cluster="exp-e",
                    node="expe1.acme.com", product="expressway", store="trusted_ca", subject=root.cert.subject,
                    fingerprint=root.cert.fingerprint_sha256, pem=root.cert.pem, summary="add",
                    reasons=(Reason("MRA020", "why"),))
    return Plan("/i.yaml", "0" * 64, "2026-01-01T00:00:00+00:00", {"expe1.acme.com": "f" * 64},
                (action,)).to_dict()


A_PLAN = _a_plan()
PLAN_PATHS = _paths(A_PLAN)[1:]


def _read_plan(text: str | bytes, tmp: Path) -> None:
    from mrakit.cli.plan import read_plan_file

    path = tmp / "plan.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    read_plan_file(str(path))


@PROPERTY
@given(st.binary(max_size=2048))
def test_plan_file_from_random_bytes(tmp_path_factory: Any, data: bytes) -> None:
    _only_mrakit_errors(_read_plan, data, tmp_path_factory.mktemp("plan"))


@PROPERTY
@given(structures)
def test_plan_from_random_json_structures(value: Any) -> None:
    _only_mrakit_errors(Plan.from_dict, value)


def _json_safe(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


@PROPERTY
@given(st.lists(st.tuples(st.sampled_from(PLAN_PATHS), structures), min_size=1, max_size=3))
def test_a_valid_plan_with_random_values_spliced_in(edits: list[tuple[tuple[Any, ...], Any]]) -> None:
    from mrakit.planner.document import check_plan_against

    data = copy.deepcopy(A_PLAN)
    for path, value in edits:
        target = data
        try:
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    inventory = load_inventory(EXAMPLE, require_files=False)

    def read_and_check() -> None:
        check_plan_against(Plan.from_dict(json.loads(json.dumps(data, default=str))), inventory)

    _only_mrakit_errors(read_and_check)


# --- CSR manifests --------------------------------------------------------------------------------------

@PROPERTY
@given(st.one_of(st.binary(max_size=1024).map(lambda b: ("bytes", b)), structures.map(lambda v: ("json", v))))
def test_manifest_from_random_bytes_and_json(tmp_path_factory: Any, drawn: tuple[str, Any]) -> None:
    kind, value = drawn
    directory = tmp_path_factory.mktemp("csr")
    if kind == "bytes":
        (directory / MANIFEST).write_bytes(value)
    else:
        (directory / MANIFEST).write_text(json.dumps({"format_version": 1, "requests": value}, default=str))
    _only_mrakit_errors(read_manifest, directory)
