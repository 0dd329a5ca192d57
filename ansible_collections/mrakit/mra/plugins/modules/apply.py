#!/usr/bin/python
"""mrakit.mra.apply: make the nodes match the inventory (phased, verified)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: apply
short_description: Apply MRA trust and certificate changes with mrakit
description:
  - Plans, then adds trust on every peer, installs certificates rolling, and verifies every trust relation.
  - Check mode changes nothing and reports C(changed) when something would change; diff mode shows the
    trust lists per node before and after.
  - Manual steps (restarts, deletes without an API) are returned in C(manual_steps).
options:
  inventory: {description: Path to the mrakit inventory YAML., type: path, required: true}
  secrets: {description: Environment variables (name to value) the inventory's credentials name., type: dict}
  workers: {description: Nodes worked on in parallel., type: int}
  force: {description: Allow removing more than max_removal_ratio of a node's trust., type: bool, default: false}
  certificates: {description: Folder of signed certificates to install (matched by public key)., type: path}
  report: {description: Write the JSON apply report here., type: path}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mrakit.mra.plugins.module_utils.mrakit_common import (
    COMMON_ARGS,
    environment,
    fail_from,
    import_mrakit,
    load,
    plan_diff,
)


def main() -> None:
    module = AnsibleModule(argument_spec={**COMMON_ARGS, "force": {"type": "bool", "default": False},
                                          "certificates": {"type": "path"}, "report": {"type": "path"}},
                           supports_check_mode=True)
    import_mrakit(module)
    try:
        import contextlib
        import json

        from mrakit.adapters.connect import connect
        from mrakit.apply import apply
        from mrakit.lock import deployment_lock
        from mrakit.observe import observe
        from mrakit.plan import compute_plan, inventory_with_certificates

        inventory = load(module)
        env = environment(module)
        # The CLI's lock: one apply at a time per inventory (a check-mode run writes nothing).
        lock = contextlib.nullcontext() if module.check_mode else deployment_lock(module.params["inventory"])
        with lock, connect(inventory, environ=env) as connections:
            observed = observe(inventory, connections.expressway, connections.cucm, workers=module.params["workers"])
            desired_inventory = inventory
            if module.params["certificates"]:
                desired_inventory = inventory_with_certificates(inventory, module.params["certificates"], observed)
            the_plan = compute_plan(desired_inventory, observed, force=module.params["force"])
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
