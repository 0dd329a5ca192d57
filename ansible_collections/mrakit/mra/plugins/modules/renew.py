#!/usr/bin/python
"""mrakit.mra.renew: renew due certificates through an ACME CA (dns-01), then install them safely."""

from __future__ import annotations

DOCUMENTATION = r"""
module: renew
short_description: Renew due MRA certificates through an ACME CA with mrakit
author: mrakit contributors
description:
  - For every cluster with an C(acme) section in the inventory, picks the certificates that are due,
    generates a CSR on the box with the SANs mrakit requires, orders the certificate from the ACME CA
    (dns-01 published by a TSIG-signed RFC 2136 update), then adds the trust the new chain needs on
    every validating peer, installs it one peer at a time and verifies, as C(apply) does.
  - A failure leaves the node's old certificate in place and says the step it stopped at
    (C(failed_nodes)); running the task again resumes from there (orders are reused).
  - Check mode only reports what is due (C(changed) when something is).
extends_documentation_fragment: [mrakit.mra.common]
options:
  clusters: {description: Only these clusters., type: list, elements: str}
  peers: {description: Only these nodes (FQDNs)., type: list, elements: str}
  due_within:
    description: Renew what expires within this many days (default the inventory's renewal_window_days).
    type: int
"""

EXAMPLES = r"""
- name: Renew what is due in the edge cluster (a cron or systemd timer runs this daily)
  mrakit.mra.renew:
    inventory: /etc/mrakit/inventory.yaml
    clusters: [exp-e]
    secrets:
      MRAKIT_EXPRESSWAY_PASSWORD: "{{ vault_expressway_password }}"
      MRAKIT_TSIG_SECRET: "{{ vault_tsig_secret }}"

- name: Only report what would be renewed in the next 45 days
  mrakit.mra.renew:
    inventory: /etc/mrakit/inventory.yaml
    due_within: 45
  check_mode: true
"""

RETURN = r"""
due:
  description: The certificates that were due (node, with the CUCM identity in brackets).
  type: list
  elements: str
  returned: always
renewed:
  description: The certificates issued and installed in this run.
  type: list
  elements: str
  returned: always
failed_nodes:
  description: Certificate label to the step the renewal stopped at and why; the old certificate stays in place.
  type: dict
  returned: always
manual_steps:
  description: Steps only a person can do (restarts, the X15.5 client store), with their instructions.
  type: list
  elements: dict
  returned: always
report:
  description: The whole renewal report (the JSON of `mrakit renew --format json`).
  type: dict
  returned: always
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
    module = AnsibleModule(argument_spec={**COMMON_ARGS, "clusters": {"type": "list", "elements": "str"},
                                          "peers": {"type": "list", "elements": "str"},
                                          "due_within": {"type": "int"}},
                           supports_check_mode=True)
    import_mrakit(module)
    try:
        from mrakit.acmerenew.flow import renew

        report = renew(load(module), clusters=module.params["clusters"], peers=module.params["peers"],
                       due_within=module.params["due_within"], dry_run=module.check_mode,
                       environ=environment(module), workers=module.params["workers"])
    except Exception as exc:
        fail_from(module, exc)
        return
    due = [t.label for t in report.due]
    renewed = [o.target.label for o in report.outcomes if o.status == "installed"]
    failed = {o.target.label: o.message for o in report.outcomes if o.status == "failed"}
    manual = ([{"node": a.node, "summary": a.summary, "instructions": a.instructions}
               for a in report.plan.actions if a.kind == "manual"] if report.plan is not None else [])
    changed = bool(due) if module.check_mode else bool(report.apply is not None and report.apply.changed)
    result = {"changed": changed, "due": due, "renewed": renewed, "failed_nodes": failed, "manual_steps": manual,
              "report": report.to_dict()}
    if failed:
        module.fail_json(msg=f"renewal stopped on {', '.join(sorted(failed))}: the old certificates stay in place; "
                             "run again to resume", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
