"""What mrakit reads from the products and uses: phone security profiles through AXL (MRA012 and the
required SANs when the inventory names none), and the topology each product reports, compared with
the inventory (INV002)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from _productkit import EXPC1, EXPC2, EXPE1, PUB, SUB

from mrakit.diagnosis import doctor
from mrakit.inventory.load import load_inventory
from mrakit.lab.state import LabState
from mrakit.planner import plan
from mrakit.renew import request_csrs
from mrakit.session import connect

PROFILE = "secure-dx80.acme.local"


def without_inventory_profiles(make_deployment: Callable[..., Any]) -> Path:
    """The example, whose inventory names no phone security profiles; CUCM has a secure one in FQDN
    form that the Expressway-C certificates (issued at lab init) do not carry."""
    path = make_deployment().path
    data = yaml.safe_load(path.read_text())
    del data["cucm"]["cucm-main"]["phone_security_profiles"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    state = LabState.load(load_inventory(path).lab_state_dir)
    state.cucm[PUB].profiles.append({"name": PROFILE, "phoneType": "Cisco DX80", "deviceSecurityMode": "Encrypted"})
    state.save()
    return path


def test_mra012_is_found_through_axl_when_the_inventory_names_no_profiles(
        make_deployment: Callable[..., Any]) -> None:
    path = without_inventory_profiles(make_deployment)
    inventory = load_inventory(path)
    report = doctor(inventory, handshakes=False)
    mra012 = [f for f in report.findings if f.code == "MRA012"]
    assert sorted(f.node for f in mra012) == [EXPC1, EXPC2]
    assert all(f.severity.value == "error" and PROFILE in f.message and "read through AXL" in f.message
               for f in mra012)
    # the profile the inventory named at lab init (secure-8865) is still on CUCM and in the certificates:
    # not reported; Cisco's own secure profiles (names with spaces) are not names a certificate can carry
    assert not [f for f in report.findings if f.code == "MRA012" and "secure-8865" in f.message]


def test_csrs_carry_the_profiles_read_through_axl(make_deployment: Callable[..., Any], tmp_path: Path) -> None:
    inventory = load_inventory(without_inventory_profiles(make_deployment))
    requests = request_csrs(inventory, tmp_path / "csr", clusters=["exp-c"], local_key=True)
    assert all(PROFILE in r.sans and "secure-8865.acme.local" in r.sans for r in requests)
    assert not any("Standard SIP Secure Profile" in " ".join(r.sans) for r in requests)


def test_plan_and_doctor_report_drift_between_the_inventory_and_the_products(
        make_deployment: Callable[..., Any]) -> None:
    path = make_deployment().path
    state = LabState.load(load_inventory(path).lab_state_dir)
    for fqdn in (EXPC1, EXPC2):  # one more domain and one CUCM server more on the boxes
        state.expressway[fqdn].domains.append("acme.net")
        state.expressway[fqdn].cucm_publishers.append("cucm-pub.beta.local")
    for fqdn in ("expe1.acme.com", "expe2.acme.com"):  # a third edge peer the inventory does not know
        state.expressway[fqdn].cluster_peers.append("expe3.acme.com")
    state.save()
    data = yaml.safe_load(path.read_text())
    data["cucm"]["cucm-main"]["subscribers"] = []  # the inventory forgot the subscriber
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    inventory = load_inventory(path)
    with connect(inventory) as connections:
        the_plan = plan(inventory, connections=connections)
        report = doctor(inventory, connections=connections, handshakes=False)
    for findings in (the_plan.findings, report.findings):
        drift = sorted((f.cluster, f.evidence.get("on_box_only") or f.evidence.get("inventory_only"),
                        f.evidence["source"]) for f in findings if f.code == "INV002")
        assert drift == [
            ("cucm-main", SUB, "AXL listProcessNode, call-processing nodes"),
            ("exp-c", "acme.net", "common/domain"),
            ("exp-c", "cucm-pub.beta.local", "controller/server/cucm"),
            ("exp-e", "expe3.acme.com", "cluster/peers"),
        ], drift
    # the IM and Presence server the lab lists as a process node is not a CUCM server: never drift
    assert not [f for f in report.findings if f.code == "INV002" and "imp-" in f.message]
    assert any(f.node == EXPE1 and "does not name" in f.message for f in report.findings if f.code == "INV002")


def test_no_drift_on_a_deployment_that_matches(make_deployment: Callable[..., Any]) -> None:
    inventory = load_inventory(make_deployment().path)
    with connect(inventory) as connections:
        assert not [f for f in plan(inventory, connections=connections).findings if f.code == "INV002"]
