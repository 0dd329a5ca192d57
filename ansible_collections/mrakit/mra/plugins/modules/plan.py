#!/usr/bin/python
"""mrakit.mra.plan: what would change, where and why (read-only)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: plan
short_description: Plan MRA trust and certificate changes with mrakit
version_added: "0.1.0"
author: mrakit contributors
description:
  - Reads every node of the mrakit inventory in parallel and returns the plan, the actions (add trust,
    install certificates, prune, manual steps) in phases, each with the rule that asks for it.
  - Read-only; never reports C(changed). C(pending) says whether applying would change something.
  - With O(save) the plan is written as JSON, so that M(mrakit.mra.apply) can apply exactly that plan
    (and refuse it when a node or the inventory changed since).
requirements:
  - the mrakit Python library on the controller (C(pip install 'mrakit[ansible]'))
extends_documentation_fragment: [mrakit.mra.common]
options:
  limit:
    description:
      - Only plan changes for these clusters (names from the inventory).
      - M(mrakit.mra.apply) then verifies only the trust relations whose validator is in one of them.
    type: list
    elements: str
  certificates:
    description: Folder of signed certificates to install, matched to their nodes by public key.
    type: path
  save:
    description: Write the plan as JSON to this file (not in check mode).
    type: path
notes:
  - "Runs on the controller (C(connection: local)); the nodes are reached through their management APIs."
seealso:
  - module: mrakit.mra.apply
  - module: mrakit.mra.doctor
"""

EXAMPLES = r"""
- name: Plan, and keep the plan for review and apply
  mrakit.mra.plan:
    inventory: inventory.yaml
    secrets:
      MRAKIT_EXPRESSWAY_PASSWORD: "{{ vault_expressway_password }}"
      MRAKIT_CUCM_PASSWORD: "{{ vault_cucm_password }}"
    save: "{{ playbook_dir }}/plan.json"
  register: plan

- name: Only the edge cluster
  mrakit.mra.plan:
    inventory: inventory.yaml
    limit: [exp-e]
"""

RETURN = r"""
pending:
  description: True when applying the plan would write something or leaves manual steps to do.
  returned: success
  type: bool
  sample: true
summary:
  description: The plan's one-line summary.
  returned: success
  type: str
  sample: "Plan: 16 trust to add on 5 nodes, 4 certificates to install, 4 manual steps"
plan:
  description: The plan as C(mrakit plan --format json) writes it, without the certificates' PEM text.
  returned: success
  type: dict
  contains:
    actions:
      description: Every action with its phase, node, summary, reasons and dependencies.
      type: list
      elements: dict
    unreachable:
      description: Nodes that could not be read, with the error.
      type: dict
    findings:
      description: Findings the plan alone does not fix.
      type: list
      elements: dict
saved:
  description: The file the plan was written to (with O(save), not in check mode).
  returned: when O(save) is set and not in check mode
  type: str
  sample: /srv/mra/plan.json
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

        from mrakit.planner import plan

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
    saved = {"saved": module.params["save"]} if module.params["save"] and not module.check_mode else {}
    pending = result.has_changes or any(a.kind == "manual" for a in result.actions)
    module.exit_json(changed=False, pending=pending, summary=result.summary(), plan=data, **saved)


if __name__ == "__main__":
    main()
