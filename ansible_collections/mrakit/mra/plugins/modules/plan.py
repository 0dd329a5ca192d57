#!/usr/bin/python
"""mrakit.mra.plan: what would change, where and why (read-only)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: plan
short_description: Plan MRA trust and certificate changes with mrakit
description:
  - Observes every node of the mrakit inventory in parallel and returns the plan (actions with reasons).
  - Read-only; never reports C(changed). C(pending) says whether applying would change something.
options:
  inventory: {description: Path to the mrakit inventory YAML., type: path, required: true}
  secrets: {description: Environment variables (name to value) the inventory's credentials name., type: dict}
  workers: {description: Nodes read in parallel., type: int}
  limit: {description: Only these clusters., type: list, elements: str}
  certificates: {description: Folder of signed certificates to install (matched by public key)., type: path}
  save: {description: Write the plan as JSON to this file., type: path}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mrakit.mra.plugins.module_utils.mrakit_common import (
    COMMON_ARGS,
    environment,
    fail_from,
    import_mrakit,
    load,
)


def main() -> None:
    module = AnsibleModule(argument_spec={**COMMON_ARGS, "limit": {"type": "list", "elements": "str"},
                                          "certificates": {"type": "path"}, "save": {"type": "path"}},
                           supports_check_mode=True)
    import_mrakit(module)
    try:
        import json

        from mrakit.plan import plan

        inventory = load(module)
        result = plan(inventory, workers=module.params["workers"], limit=module.params["limit"],
                      environ=environment(module), certificates_dir=module.params["certificates"])
        if module.params["save"] and not module.check_mode:
            with open(module.params["save"], "w", encoding="utf-8") as handle:
                json.dump(result.to_dict(), handle, indent=2)
    except Exception as exc:  # reported through fail_json, never a traceback on the console
        fail_from(module, exc)
        return
    data = result.to_dict()
    for action in data["actions"]:
        action.pop("pem", None)
    module.exit_json(changed=False, pending=result.has_changes, summary=result.summary(), plan=data)


if __name__ == "__main__":
    main()
