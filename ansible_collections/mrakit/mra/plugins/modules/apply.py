#!/usr/bin/python
"""mrakit.mra.apply: make the nodes match the inventory (phased, verified)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: apply
short_description: Apply MRA trust and certificate changes with mrakit
version_added: "0.1.0"
author: mrakit contributors
description:
  - Makes the nodes match the inventory in phases, adding trust on every peer first, then installing
    certificates one peer at a time, then pruning, and verifies every trust relation at the end.
  - With O(plan), applies exactly the plan that M(mrakit.mra.plan) saved, and refuses it when the inventory
    or any node changed since it was made; without it, plans again.
  - Check mode changes nothing and reports C(changed) when something would change. Diff mode shows, per node,
    the trust lists before and after, and each certificate install, old to new (subject, serial, not-after,
    fingerprint).
  - Manual steps (restarts, deletes without an API) are returned in RV(manual_steps).
requirements:
  - the mrakit Python library on the controller (C(pip install 'mrakit[ansible]'))
extends_documentation_fragment: [mrakit.mra.common]
options:
  plan:
    description: A plan saved by M(mrakit.mra.plan) (O(mrakit.mra.plan#module:save)) to apply as it is.
    type: path
  force:
    description: Allow removing more than C(max_removal_ratio) of a node's trust. Not with O(plan).
    type: bool
    default: false
  certificates:
    description: Folder of signed certificates to install, matched to their nodes by public key. Not with O(plan).
    type: path
  report:
    description: Write the JSON apply report here.
    type: path
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - "Runs on the controller (C(connection: local))."
  - A second run after a successful one reports C(ok).
seealso:
  - module: mrakit.mra.plan
  - module: mrakit.mra.doctor
"""

EXAMPLES = r"""
- name: Apply exactly the reviewed plan
  mrakit.mra.apply:
    inventory: inventory.yaml
    plan: "{{ playbook_dir }}/plan.json"
  register: applied

- name: Install renewed certificates (trust for the new chain first)
  mrakit.mra.apply:
    inventory: inventory.yaml
    certificates: renewal/signed
    report: apply-report.json

- name: What would change, with the certificate and trust differences
  mrakit.mra.apply:
    inventory: inventory.yaml
  check_mode: true
  diff: true
"""

RETURN = r"""
summary:
  description: One line saying what changed, how many trust relations verified, and what was not judged.
  returned: always
  type: str
  sample: "Apply: 12 changed, 4 manual; 24/24 trust relations verified"
manual_steps:
  description: Steps left to do by hand.
  returned: success
  type: list
  elements: dict
  contains:
    node:
      description: The node's FQDN.
      type: str
    summary:
      description: What to do.
      type: str
    instructions:
      description: How, on the product.
      type: str
report:
  description: The apply report (as C(mrakit apply --report) writes it); not in check mode.
  returned: when something was applied
  type: dict
  contains:
    failed:
      description: Whether anything failed, was skipped, was unreachable or did not verify.
      type: bool
    relations:
      description: Counts of trust relations expected, verified, not verified, not judged and out of scope.
      type: dict
    verification:
      description: Every trust relation checked after the changes.
      type: list
      elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mrakit.mra.plugins.module_utils.mrakit_common import (
    COMMON_ARGS,
    environment,
    fail_from,
    import_mrakit,
    load,
    plan_diff,
    read_plan,
)


def main() -> None:
    module = AnsibleModule(argument_spec={**COMMON_ARGS, "force": {"type": "bool", "default": False},
                                          "certificates": {"type": "path"}, "report": {"type": "path"},
                                          "plan": {"type": "path"}},
                           mutually_exclusive=[("plan", "certificates"), ("plan", "force")],
                           supports_check_mode=True)
    import_mrakit(module)
    try:
        import contextlib
        import json

        from mrakit.applier import apply, refuse_other_inventory, refuse_stale
        from mrakit.lock import deployment_lock
        from mrakit.planner import compute_plan, observe_for_plan, raise_if_unsafe
        from mrakit.session import connect

        inventory = load(module)
        env = environment(module)
        saved = read_plan(module.params["plan"]) if module.params["plan"] else None
        if saved is not None:
            refuse_other_inventory(saved, inventory)
        # The CLI's lock: one apply at a time per inventory (a check-mode run writes nothing).
        lock = contextlib.nullcontext() if module.check_mode else deployment_lock(module.params["inventory"])
        with lock, connect(inventory, environ=env) as connections:
            desired_inventory = inventory
            if saved is not None:
                # Exactly the reviewed plan, or nothing: refused when the inventory or a node changed since.
                observed = refuse_stale(saved, inventory, connections, workers=module.params["workers"])
                the_plan = saved
            else:
                desired_inventory, observed = observe_for_plan(inventory, connections,
                                                               workers=module.params["workers"],
                                                               certificates_dir=module.params["certificates"])
                the_plan = raise_if_unsafe(compute_plan(desired_inventory, observed), force=module.params["force"])
            manual = [{"node": a.node, "summary": a.summary, "instructions": a.instructions}
                      for a in the_plan.actions if a.kind == "manual"]
            diff = plan_diff(the_plan, observed) if module._diff else None
            if module.check_mode or not the_plan.has_changes:
                kwargs = {"diff": diff} if diff else {}
                if the_plan.unreachable:
                    module.fail_json(msg=f"could not read: {', '.join(sorted(the_plan.unreachable))}",
                                     unreachable=dict(the_plan.unreachable))
                module.exit_json(changed=the_plan.has_changes, summary=the_plan.summary(), manual_steps=manual,
                                 **kwargs)
            result = apply(the_plan, desired_inventory, connections=connections, check_stale=False,
                           workers=module.params["workers"])
        report = result.to_dict()
        if module.params["report"]:
            with open(module.params["report"], "w", encoding="utf-8") as handle:
                json.dump(report, handle, indent=2)
    except Exception as exc:
        fail_from(module, exc)
        return
    kwargs = {"diff": diff} if diff else {}
    if result.failed:
        module.fail_json(msg=result.summary(), changed=result.changed, report=report, manual_steps=manual, **kwargs)
    module.exit_json(changed=result.changed, summary=result.summary(), report=report, manual_steps=manual, **kwargs)


if __name__ == "__main__":
    main()
