"""The JSON that plan, apply --report and doctor write matches the schemas published in schemas/."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource

from mrakit.applier import apply
from mrakit.diagnosis import doctor
from mrakit.inventory.load import load_inventory
from mrakit.planner import Plan, plan
from mrakit.session import connect

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def _validator(name: str) -> jsonschema.Draft202012Validator:
    resources = []
    for path in SCHEMAS.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        resources.append((path.name, Resource.from_contents(schema)))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    registry = Registry().with_resources(resources)
    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=registry)


@pytest.fixture
def broken(make_deployment):  # type: ignore[no-untyped-def]
    return make_deployment("temporary-certs")


def test_plan_apply_and_doctor_json_match_their_schemas(broken) -> None:  # type: ignore[no-untyped-def]
    inventory = load_inventory(broken.path)
    with connect(inventory) as connections:
        the_plan = plan(inventory, connections=connections)
        plan_json = json.loads(json.dumps(the_plan.to_dict()))
        _validator("plan.schema.json").validate(plan_json)
        assert the_plan.has_changes and {a["kind"] for a in plan_json["actions"]} >= {"trust.add", "cert.install",
                                                                                         "manual"}
        # A plan survives the round trip through its JSON unchanged.
        assert Plan.from_dict(plan_json).to_dict() == plan_json
        result = apply(the_plan, inventory, connections=connections, check_stale=False)
        _validator("apply-report.schema.json").validate(json.loads(json.dumps(result.to_dict())))
        report = doctor(inventory, connections=connections)
        _validator("doctor.schema.json").validate(json.loads(json.dumps(report.to_dict())))
    assert not result.failed


def test_plan_schema_rejects_a_private_key_in_a_pem_field(broken) -> None:  # type: ignore[no-untyped-def]
    inventory = load_inventory(broken.path)
    plan_json = json.loads(json.dumps(plan(inventory).to_dict()))
    plan_json["actions"][0]["pem"] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    with pytest.raises(jsonschema.ValidationError):
        _validator("plan.schema.json").validate(plan_json)
